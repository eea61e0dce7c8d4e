"""The search layer reaches spaces only through the protocol, and no module imports another package's private
names: a scan of every import statement (so a new strategy that breaks the layering fails here)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("generators", "ops", "wiring", "spaces")
PROTOCOL = {"spaces", "spaces.base", "spaces.errors", "spaces.constraint", "spaces.hparams"}
"""The modules of ``spaces`` that define the protocol rather than a concrete space."""


def modules(package):
    for path in sorted((ROOT / package).rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        yield name.removesuffix(".__init__"), path, path.name == "__init__.py"


def imports(name, path, is_package):
    """``(module, imported name or None)`` of every import in the file, relative imports resolved."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from ((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = name.split(".")[: len(name.split(".")) - node.level + is_package]
                base = ".".join([*parts, *([base] if base else [])])
            yield from ((base, alias.name) for alias in node.names)


SEARCH = [m for m in modules("wiring") if m[0].startswith("wiring.search")]
ALL = [m for package in PACKAGES for m in modules(package)]
CONCRETE = {p.stem if p.suffix else p.name for p in (ROOT / "spaces").iterdir()
            if not p.name.startswith("_")} - {m.split(".")[-1] for m in PROTOCOL}


@pytest.mark.parametrize("name, path, is_package", SEARCH, ids=[m[0] for m in SEARCH])
def test_search_modules_import_no_concrete_space(name, path, is_package):
    for module, imported in imports(name, path, is_package):
        if module.split(".")[0] != "spaces":
            continue
        concrete = imported in CONCRETE if module == "spaces" else module not in PROTOCOL
        assert not concrete, f"{name} imports a concrete space: {module}{'.' + imported if imported else ''}"


@pytest.mark.parametrize("name, path, is_package", ALL, ids=[m[0] for m in ALL])
def test_no_private_name_from_another_package(name, path, is_package):
    for module, imported in imports(name, path, is_package):
        top = module.split(".")[0]
        if top in PACKAGES and top != name.split(".")[0] and imported and imported.startswith("_") \
                and not imported.startswith("__"):
            pytest.fail(f"{name} imports the private {module}.{imported}")


def test_the_scan_sees_a_concrete_import(tmp_path):
    """The scan itself: a module importing spaces.darts is caught."""
    path = tmp_path / "bad.py"
    path.write_text("from spaces.darts import OPS\nfrom spaces import base, nasnet\nfrom ops.relax import _device\n")
    found = list(imports("wiring.search.bad", path, False))
    assert ("spaces.darts", "OPS") in found and ("spaces", "nasnet") in found and ("ops.relax", "_device") in found
    assert "darts" in CONCRETE and "nasnet" in CONCRETE and "base" not in CONCRETE
