"""What a new user hit first (issue 13), each fixed and kept fixed.

- ``--param`` sets any strategy's own settings, black-box ones included, and a population (or initial design,
  or controller batch) at least the budget is one warning line on stderr, since it makes the run a random search.
- ``wiring train`` takes what ``wiring generate`` writes: the images fitted to the graph's input, and a classifier
  head added to a graph that ends in a feature map.
- A black-box storage given to a one-shot search, or a one-shot checkpoint given to a black-box search, is named
  for what it is (not called corrupt, never to be deleted), and is left untouched.
- ``wiring.testing`` works after a plain install: hypothesis is a core dependency.
- Absurd numbers (``--epochs 0``) are argparse usage errors, before anything loads.
"""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import pytest
import test_cli as cli
import torch

import spaces
import wiring
from wiring.cli import main
from spaces import randwire
from wiring.cli.params import parameters
from wiring.cli.run_search import RANDOM_START, random_start_warning
from wiring.search import STRATEGIES, RegularizedEvolution, SearchError, load_result, run
from wiring.search.evaluators import TabularEvaluator
from wiring.search.oneshot import checkpoint
from wiring.search.storage import Storage, is_search_storage

ROOT = Path(__file__).resolve().parents[2]
TABLE = ["search", "--space", "nasbench_graph", "--quiet"]


def graph_space():
    return spaces.nasbench_graph.space(**spaces.nasbench_graph.SMALL)


# -- 1. --param for black-box strategies, and the random-start warning ----------------------------------------


def test_param_reaches_a_black_box_strategy(capsys, tmp_path):
    """The CLI's trajectory with --param population=3 --param sample=2 is the library's with those settings."""
    storage = tmp_path / "cli.db"
    code, _, err = cli.run(capsys, *TABLE, "--budget", 8, "--storage", storage,
                           "--param", "population=3", "--param", "sample=2")
    assert code == 0, err
    assert err == ""  # population 3 < budget 8: no warning
    space = graph_space()
    expected = run(RegularizedEvolution(space, seed=0, population=3, sample=2), TabularEvaluator(space), budget=8,
                   progress=False)
    assert [t.encoding for t in load_result(storage).trials] == [t.encoding for t in expected.trials]


@pytest.mark.parametrize("param, mentions", [
    ("pop=5", ["--param pop", "'regularizedevolution'", "valid names: max_tries, population, sample, unique"]),
    ("seed=3", ["--param seed", "--seed"]),
    ("space=x", ["--param space", "--space"]),
    ("population=many", ["--param population takes int", "'many'"]),
    ("unique=1", ["--param unique takes bool"]),
    ("population=5", ["sample must not exceed population", "sample=25", "population=5"]),
])
def test_bad_black_box_param_is_one_line(capsys, param, mentions):
    cli.fails(capsys, *TABLE, "--budget", 2, "--param", param, mentions=tuple(mentions))


def test_param_of_another_strategy_names_its_settings(capsys):
    line = cli.fails(capsys, *TABLE, "--strategy", "nsga2", "--budget", 2, "--param", "sample=2")
    assert "'nsga2'" in line and "offspring" in line and "population" in line and "crossover_prob" in line


def test_degenerate_population_warns_once_on_stderr(capsys):
    code, out, err = cli.run(capsys, *TABLE, "--budget", 5)
    assert code == 0
    (line,) = err.splitlines()
    assert line.startswith("wiring search: warning: regularizedevolution's population 100 >= --budget 5")
    assert "random search" in line and "--param population=2" in line and "--param sample=1" in line
    assert "5 trials: 5 complete" in out


def test_a_refused_search_is_not_warned_about(capsys):
    """Several objectives for a single-objective strategy: the refusal alone, in one line."""
    cli.fails(capsys, *TABLE, "--budget", 5, "--objectives", "accuracy:max,params:min",
              mentions=("optimises one score",))


@pytest.mark.parametrize("name", sorted(RANDOM_START))
def test_every_random_start_setting_is_checked(name):
    """At a budget of the setting's size the warning names it, its suggestion silences it; one trial more, none."""
    setting, attribute, companion, _ = RANDOM_START[name]
    strategy = STRATEGIES[name](graph_space(), seed=0, **{setting: 10}, **({companion: 3} if companion else {}))
    size = getattr(strategy, attribute)
    assert size == 10
    line = random_start_warning(strategy, name.lower(), size)
    assert line is not None and f"{setting} {size} >= --budget {size}" in line
    suggested = line.rsplit("e.g. ", 1)[1]
    given = dict(item.split("=") for item in suggested.replace("--param ", "").split())
    smaller = STRATEGIES[name](graph_space(), seed=0, **{k: int(v) for k, v in given.items()})
    assert random_start_warning(smaller, name.lower(), size) is None  # the suggestion silences it
    assert random_start_warning(strategy, name.lower(), size + 1) is None


def test_every_strategy_with_a_population_is_in_the_table():
    """A new strategy with a population or an initial design cannot land without the warning."""
    for name, cls in STRATEGIES.items():
        if {"population", "initial", "batch"} & set(parameters(cls)):
            assert name in RANDOM_START, name
    assert set(RANDOM_START) <= set(STRATEGIES)


# -- 2. wiring train on what wiring generate writes -------------------------------------------------------------


def test_train_a_generated_stage(capsys, tmp_path):
    stage = tmp_path / "stage.json"
    code, _, _ = cli.run(capsys, "generate", "ws", "--nodes", 5, "--channels", 4, "--size", 16, "-o", stage)
    assert code == 0
    saved = tmp_path / "stage.pt"
    code, out, err = cli.run(capsys, "train", stage, "--epochs", 1, "--quiet", "--save", saved)
    assert code == 0, err
    assert err == ""
    assert "digits images (1, 8, 8) fitted to the graph's input (3, 16, 16)" in out
    assert "added node 'head'" in out and "linear to 10 classes" in out
    assert cli.ACCURACY.search(out), out
    G, model = wiring.load(saved)
    assert G.nodes["head"] == {"op": "head", "params": {"num_classes": 10}}
    assert list(G.successors("head")) == ["output"]
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 16, 16)).shape == (2, 10)


def test_train_leaves_a_classifier_alone(capsys, tmp_path):
    net = cli.write(tmp_path / "net.json", randwire.cifar(channels=4, nodes=5, seed=0, in_channels=1, image_size=8))
    code, out, err = cli.run(capsys, "train", net, "--epochs", 1, "--quiet")
    assert code == 0, err
    assert "fitted" not in out and "head" not in out


def test_train_refuses_logits_of_another_size_and_flat_inputs(capsys, tmp_path):
    five = cli.write(tmp_path / "five.json", randwire.cifar(channels=4, nodes=5, seed=0, in_channels=1,
                                                            image_size=8, num_classes=5))
    cli.fails(capsys, "train", five, "--epochs", 1, "--quiet",
              mentions=("five.json", "output has shape (5,)", "(10,)", "'head'"))
    flat = nx.DiGraph(schema=1)
    flat.add_node("x", op="input", params={"channels": 16, "size": []})
    flat.add_node("fc", op="linear", params={"features": 10})
    flat.add_node("out", op="output")
    nx.add_path(flat, ["x", "fc", "out"])
    cli.fails(capsys, "train", cli.write(tmp_path / "flat.json", flat), "--epochs", 1, "--quiet",
              mentions=("cannot fit digits images (1, 8, 8)", "(16,)"))


# -- 3. a storage of the other family ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A black-box storage and a one-shot checkpoint, each written by the CLI."""
    folder = tmp_path_factory.mktemp("storages")
    db, ckpt = folder / "search.db", folder / "darts.ckpt"
    assert main([*TABLE, "--budget", "2", "--storage", str(db)]) == 0
    assert main(["search", "--strategy", "darts", "--space", "nasbench201", "--option", "channels=4",
                            "--epochs", "1", "--data-fraction", "0.05", "--quiet", "--storage", str(ckpt)]) == 0
    return db, ckpt


def test_one_shot_search_names_a_black_box_storage(capsys, files):
    db, _ = files
    before = db.read_bytes()
    line = cli.fails(capsys, "search", "--strategy", "darts", "--space", "nasbench201", "--option", "channels=4",
                     "--epochs", 1, "--quiet", "--storage", db,
                     mentions=("search.db", "is a black-box search storage", "another checkpoint path"))
    assert "corrupt" not in line and "delete" not in line
    assert db.read_bytes() == before
    with pytest.raises(SearchError, match="black-box search storage"):
        checkpoint.read(db)


def test_black_box_search_names_a_one_shot_checkpoint(capsys, files):
    _, ckpt = files
    before = ckpt.read_bytes()
    line = cli.fails(capsys, *TABLE, "--budget", 3, "--storage", ckpt,
                     mentions=("darts.ckpt", "is a one-shot search checkpoint", "another storage path"))
    assert "delete" not in line
    assert ckpt.read_bytes() == before
    with pytest.raises(SearchError, match="one-shot search checkpoint"):
        Storage(ckpt)


def test_recognition_is_exact(files, tmp_path):
    db, ckpt = files
    assert is_search_storage(db) and not is_search_storage(ckpt) and not is_search_storage(tmp_path / "none")
    assert checkpoint.is_checkpoint(ckpt) and not checkpoint.is_checkpoint(db)
    other = tmp_path / "model.pt"
    torch.save({"weights": torch.zeros(2)}, other)  # a torch file, not a checkpoint
    assert not checkpoint.is_checkpoint(other)
    with pytest.raises(SearchError, match="not a search storage"):
        Storage(other)


# -- 4. hypothesis is a core dependency -------------------------------------------------------------------------


def test_hypothesis_is_a_core_dependency():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = [d for d in project["dependencies"] if d.split(">")[0].split("=")[0].strip() == "hypothesis"]
    assert len(core) == 1, project["dependencies"]
    extra = [d for d in project["optional-dependencies"]["test"] if d.startswith("hypothesis")]
    assert extra in ([], core)  # the test extra, if it names it, pins the same


def test_wiring_testing_strategies_draw():
    from hypothesis import find

    from wiring.testing import dags, typed_graphs

    G = find(dags(min_nodes=3, max_nodes=5), lambda G: G.number_of_edges() > 0)
    assert all(u < v for u, v in G.edges)
    wiring.validate(find(typed_graphs(max_nodes=4), lambda G: True))


# -- 6. absurd numbers are refused by argparse ------------------------------------------------------------------


@pytest.mark.parametrize("argv, flag", [
    (["train", "--randwire", "cifar", "--epochs", "0"], "--epochs"),
    (["train", "--randwire", "cifar", "--batch-size", "0"], "--batch-size"),
    (["train", "--randwire", "cifar", "--lr", "0"], "--lr"),
    (["train", "--randwire", "cifar", "--lr", "nan"], "--lr"),
    (["train", "--randwire", "cifar", "--patience", "0"], "--patience"),
    (["train", "--randwire", "cifar", "--channels", "1"], "--channels"),
    (["compare", "--graphs", "0"], "--graphs"),
    (["compare", "--lr", "-0.1"], "--lr"),
    (["compare", "--batch-size", "-3"], "--batch-size"),
    (["search", "--space", "nasbench_graph", "--budget", "0"], "--budget"),
    (["search", "--space", "nasbench_graph", "--epochs", "0"], "--epochs"),
    (["search", "--space", "nasbench_graph", "--workers", "0"], "--workers"),
    (["search", "--space", "nasbench_graph", "--timeout", "0"], "--timeout"),
    (["search", "--space", "nasbench_graph", "--timeout", "inf"], "--timeout"),
    (["search", "--space", "nasbench_graph", "--data-fraction", "1.5"], "--data-fraction"),
    (["search", "--space", "darts", "--strategy", "darts", "--epochs", "0"], "--epochs"),
    (["search", "--space", "darts", "--strategy", "darts", "--retrain-epochs", "-1"], "--retrain-epochs"),
])
def test_absurd_numbers_are_refused_up_front(capsys, argv, flag):
    line = cli.usage_error(capsys, *argv, mentions=(f"argument {flag}: must be ",))
    assert line.startswith(f"wiring {argv[0]}: error: ")
    assert json.dumps(argv[-1]) in line or repr(argv[-1]) in line or argv[-1] in line
