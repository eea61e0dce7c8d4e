"""What the command line's help imports (issue 11 §11): ``wiring --help`` and ``wiring COMMAND --help`` import no
torch, torch-geometric, matplotlib or scipy, and only the CLI's light modules of ours; ``import generators`` imports
no torch; ``wiring`` exports its names lazily yet exactly; and the names the help reads from
:mod:`wiring.cli.catalog` are the ones of the modules they stand for."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import spaces
import wiring
from spaces import randwire
from wiring import search as search_package
from wiring.cli import catalog, oneshot
from wiring.data import DATASETS
from wiring.search.oneshot import missing
from wiring.train import OPTIMIZERS

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "torch_geometric", "matplotlib", "scipy")
"""Modules no help may import."""
HELP_MODULES = ["wiring", "wiring.cli", "wiring.cli.args", "wiring.cli.catalog", "wiring.cli.search"]
"""Every module of ours the help imports."""
OURS = ("generators", "ops", "spaces", "wiring")

HELP = """
import json, sys
from wiring.cli import build_parser, main
parser = build_parser()
(commands,) = [a.choices for a in parser._actions if a.dest == "command"]
codes = {}
for argv in ([], *([c] for c in commands)):
    try:
        main([*argv, "--help"])
    except SystemExit as exit:
        codes[" ".join(argv)] = exit.code
print(json.dumps({"codes": codes, "modules": sorted(sys.modules)}))
"""


def python(code: str) -> dict:
    """The JSON that ``code``, run by a fresh interpreter in the repository root, prints."""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def ours(modules: list[str]) -> list[str]:
    return [m for m in modules if m.split(".")[0] in OURS]


def test_help_of_every_command_imports_no_heavy_module():
    found = python(HELP)
    assert found["codes"] == dict.fromkeys(["", "compare", "generate", "draw", "info", "train", "search", "report"], 0)
    assert [m for m in found["modules"] if m.split(".")[0] in HEAVY] == []
    assert ours(found["modules"]) == HELP_MODULES


def test_import_generators_imports_no_torch():
    modules = python("import generators, json, sys; print(json.dumps(sorted(sys.modules)))")
    assert "generators" in modules
    assert [m for m in modules if m.split(".")[0] in (*HEAVY, "ops", "spaces", "wiring")] == []


def test_a_command_still_imports_what_it_runs():
    """The deferred imports happen: ``wiring info`` on a missing file loads its command module, and fails as before."""
    found = python("import json, sys\nfrom wiring.cli import main\ncode = main(['info', 'missing.json'])\n"
                   "print(json.dumps({'code': code, 'modules': sorted(sys.modules)}))")
    assert found["code"] == 2
    assert "wiring.cli.commands" in found["modules"] and "torch" in found["modules"]


# -- the lazy package ---------------------------------------------------------


def test_every_public_name_is_its_module_s():
    assert set(wiring.__all__) == set(wiring._EXPORTS) | set(wiring._SUBMODULES)
    assert set(wiring.__all__) <= set(dir(wiring))
    for name, module in wiring._EXPORTS.items():
        assert getattr(wiring, name) is getattr(importlib.import_module(module), name), name
    assert wiring.search is search_package and wiring.limits is importlib.import_module("wiring.limits")
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        wiring.nonexistent  # noqa: B018


def test_functions_keep_their_names_when_their_modules_are_imported():
    """``wiring.cost`` is the function even after ``import wiring.cost`` binds the module (a fresh process)."""
    code = ("import json, wiring, wiring.cost, wiring.draw, wiring.train, wiring.validate\n"
            "from wiring import validate, GraphError, limits\n"
            "print(json.dumps([type(f).__name__ for f in (wiring.cost, wiring.draw, wiring.train, wiring.validate,"
            " validate)] + [issubclass(GraphError, wiring.WiringError), limits.__name__]))")
    assert python(code) == ["function"] * 5 + [True, "wiring.limits"]


# -- the catalog is what it names ---------------------------------------------


def test_catalog_names_are_the_modules_names():
    assert catalog.SPACES == spaces.SPACES
    assert catalog.GENERATORS == tuple(sorted(randwire.GENERATORS))
    assert catalog.DATASETS == tuple(sorted(DATASETS))
    assert catalog.OPTIMIZERS == OPTIMIZERS
    assert catalog.BLACK_BOX == tuple(search_package.STRATEGIES)
    assert all(callable(getattr(randwire, name)) for name in catalog.NETWORKS)


def test_catalog_spaces_are_what_the_spaces_offer():
    assert catalog.IMAGE_SPACES == tuple(s for s in spaces.SPACES if oneshot._small(s).data_kind == "image")
    assert set(catalog.OFFERS) == set(spaces.SPACES)
    for space in spaces.SPACES:
        assert catalog.OFFERS[space] == oneshot.offered(space), space


@pytest.mark.parametrize("name", list(catalog.STRATEGIES))
def test_catalog_strategies_are_the_classes(name):
    entry = catalog.STRATEGIES[name]
    cls = oneshot.strategy_class(name)
    assert (cls.__name__, entry.needs) == (entry.name, cls.needs)
    assert entry.spaces == tuple(s for s in catalog.IMAGE_SPACES if not missing(cls.needs, oneshot._small(s)))
