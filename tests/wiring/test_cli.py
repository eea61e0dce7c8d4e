"""The ``wiring`` command line: compare, generate, draw, info, train.

In process through ``wiring.cli.main`` (it returns the exit status); one test
runs the installed console script end to end. Every bad input must give exit
status 2 and one line on stderr, ``wiring COMMAND: error: ...``, never a
traceback; argparse's own usage errors (an unknown choice) too, without the
usage block (tests/wiring/test_cli_polish.py).

Sizes are the smallest that work: WS(4, 0.75) needs N > 4, so N=5.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import networkx as nx
import pytest
import torch

import spaces.randwire as randwire
import wiring
from wiring.cli import main

PNG = b"\x89PNG\r\n\x1a\n"
COMMANDS = ("compare", "generate", "draw", "info", "train")
# provenance names and the paper's settings, which `generate` uses when no --param is given
GENERATORS = {
    "er": ("erdos_renyi", {"p": 0.2}),
    "ba": ("barabasi_albert", {"m": 5}),
    "ws": ("watts_strogatz", {"k": 4, "p": 0.75}),
    "ws_flex": ("ws_flex", {"k": 4.0, "p": 0.75}),
}


def run(capsys, *argv) -> tuple[int, str, str]:
    """``main(argv)``: exit status, stdout, stderr."""
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def fails(capsys, *argv, mentions: tuple[str, ...] = ()) -> str:
    """Run ``argv``, which must fail cleanly: status 2, one stderr line naming the command; returns that line."""
    code, out, err = run(capsys, *argv)
    assert code == 2, (out, err)
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"wiring {argv[0]}: error: "), lines[0]
    for text in mentions:
        assert text in lines[0], (text, lines[0])
    return lines[0]


def usage_error(capsys, *argv, mentions: tuple[str, ...] = ()) -> str:
    """An argparse error: SystemExit 2, the error as the one line on stderr (no usage block), no traceback."""
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("wiring") and ": error: " in last, err
    for text in mentions:
        assert text in last, (text, last)
    return last


def assert_png(path: Path) -> None:
    assert path.is_file(), path
    data = path.read_bytes()
    assert data[:8] == PNG and len(data) > 1000


def all_ops(G: nx.DiGraph) -> Counter:
    """Op counts of ``G`` and every nested subgraph."""
    counts = Counter()
    for _, data in G.nodes(data=True):
        counts[data["op"]] += 1
        if data["op"] == "subgraph":
            counts += all_ops(data["params"]["graph"])
    return counts


def write(path: Path, G: nx.DiGraph) -> Path:
    path.write_text(wiring.to_json(G))
    return path


@pytest.fixture
def network_json(tmp_path) -> Path:
    """A small RandWire cifar network (3×32×32 input, three stages of 6 nodes) as JSON."""
    return write(tmp_path / "net.json", randwire.cifar(channels=8, nodes=6, generator="er", seed=0))


@pytest.fixture
def cyclic_json(tmp_path) -> Path:
    """A JSON file that parses but holds a graph with a cycle."""
    data = json.loads(wiring.to_json(randwire.cifar(channels=4, nodes=5, generator="ws", seed=0)))
    first, last = data["nodes"][0]["id"], data["nodes"][-1]["id"]
    data["edges"].append({"source": last, "target": first})
    path = tmp_path / "cycle.json"
    path.write_text(json.dumps(data))
    return path


# -- help ---------------------------------------------------------------------


def test_top_level_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: wiring")
    for command in COMMANDS:
        assert re.search(rf"^\s+{command}\s+\S", out, re.MULTILINE), command  # listed with its help line


@pytest.mark.parametrize("command, options", [
    ("compare", ["--dataset", "--generators", "--graphs", "--epochs", "--channels", "--nodes", "--out", "--quiet"]),
    ("generate", ["--nodes", "--param", "--seed", "--network", "--channels", "--in-channels", "--size", "--output"]),
    ("draw", ["--output", "--expand", "--title"]),
    ("info", ["--input-shape"]),
    ("train", ["--randwire", "--generator", "--epochs", "--patience", "--save", "--quiet"]),
])
def test_command_help_describes_its_options(capsys, command, options):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: wiring {command}")
    for option in options:
        assert option in out, option
    assert "(default:" in out  # the help formatter shows the defaults (once each: test_cli_polish.py)


def test_no_command_is_a_usage_error(capsys):
    usage_error(capsys)
    usage_error(capsys, "frobnicate", mentions=("invalid choice",))


# -- generate -----------------------------------------------------------------


def test_generate_stage_to_file(capsys, tmp_path):
    path = tmp_path / "stage.json"
    code, out, err = run(capsys, "generate", "ws", "--nodes", 8, "--channels", 8, "--size", 16, "-o", path)
    assert code == 0
    assert err == ""
    assert out.strip() == f"wrote {path}"  # on stdout, as draw reports
    G = wiring.from_json(path.read_text())
    wiring.validate(G)
    counts = all_ops(G)
    assert counts["rw_node"] == 8 and counts["input"] == 1 and counts["output"] == 1
    (source,) = [n for n, d in G.nodes(data=True) if d["op"] == "input"]
    assert G.nodes[source]["params"] == {"channels": 3, "size": [16, 16]}
    assert {d["params"]["channels"] for _, d in G.nodes(data=True) if d["op"] == "rw_node"} == {8}
    assert G.graph["generator"] == {"name": "watts_strogatz", "params": {"n": 8, "k": 4, "p": 0.75}, "seed": 0}


def test_generate_to_stdout_is_the_file_text(capsys, tmp_path):
    code, out, err = run(capsys, "generate", "er", "--nodes", 10, "--seed", 3)
    assert code == 0 and err == ""
    G = wiring.from_json(out)
    assert G.graph["generator"] == {"name": "erdos_renyi", "params": {"n": 10, "p": 0.2}, "seed": 3}
    assert {d["params"]["channels"] for _, d in G.nodes(data=True) if d["op"] == "rw_node"} == {78}  # default C
    path = tmp_path / "er.json"
    assert run(capsys, "generate", "er", "--nodes", 10, "--seed", 3, "-o", path)[0] == 0
    assert path.read_text() == out
    # the seed reaches the generator: the same seed gives the same graph, as the library draws it
    expected = randwire.stage(randwire.topology("er", 10, {}, 3), 3, 78, size=[32, 32])
    assert wiring.graph_hash(G) == wiring.graph_hash(expected)


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generate_each_generator(capsys, name):
    code, out, _ = run(capsys, "generate", name, "--nodes", 12, "--channels", 4)
    assert code == 0
    G = wiring.from_json(out)
    wiring.validate(G)
    provenance, paper = GENERATORS[name]
    assert G.graph["generator"] == {"name": provenance, "params": {"n": 12, **paper}, "seed": 0}
    assert all_ops(G)["rw_node"] == 12
    assert wiring.cost(G, (3, 32, 32)).params > 0


def test_generate_params_reach_the_generator(capsys):
    code, out, _ = run(capsys, "generate", "ws", "--param", "k=6", "--param", "p=0.5")
    assert code == 0
    G = wiring.from_json(out)
    assert G.graph["generator"] == {"name": "watts_strogatz", "params": {"n": 32, "k": 6, "p": 0.5}, "seed": 0}
    assert G.number_of_edges() > 32 * 6 / 2  # K·N/2 ring edges, plus input and output edges


def test_generate_network(capsys):
    code, out, _ = run(capsys, "generate", "ws", "--network", "cifar", "--channels", 8, "--nodes", 6,
                       "--param", "k=2", "--param", "p=0.5", "--seed", 1)
    assert code == 0
    G = wiring.from_json(out)
    space = G.graph["space"]
    assert space["name"] == "randwire.cifar"
    assert {k: space["params"][k] for k in ("channels", "nodes", "generator", "generator_params", "seed")} == \
        {"channels": 8, "nodes": 6, "generator": "ws", "generator_params": {"k": 2, "p": 0.5}, "seed": 1}
    stages = [d["params"]["graph"] for _, d in G.nodes(data=True) if d["op"] == "subgraph"]
    assert len(stages) == 3
    for stage in stages:
        assert stage.graph["generator"]["name"] == "watts_strogatz"
        assert stage.graph["generator"]["params"] == {"n": 6, "k": 2, "p": 0.5}
        assert all_ops(stage)["rw_node"] == 6
    assert wiring.graph_hash(G) == wiring.graph_hash(
        randwire.cifar(channels=8, nodes=6, generator="ws", generator_params={"k": 2, "p": 0.5}, seed=1))
    model = wiring.compile(G, seed=0)
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)


@pytest.mark.parametrize("argv, mentions", [
    (["ws", "--param", "k"], ["--param takes NAME=VALUE", "'k'"]),
    (["ws", "--param", "=3"], ["--param takes NAME=VALUE"]),
    (["ws", "--param", "k=3"], ["'ws'", "k must be even", "k=3"]),
    (["ws", "--param", "k=abc"], ["k must be an int", "'abc'"]),
    (["ws", "--param", "q=1"], ["'q'"]),
    (["er", "--param", "p=2"], ["p=2"]),
    (["ws", "--nodes", "0"], ["n=0"]),
    (["ba", "--nodes", "5"], ["m=5", "n=5"]),
    (["ws", "--network", "cifar", "--nodes", "0"], ["nodes=0"]),
    (["ws", "--channels", "0"], ["channels=0"]),
])
def test_generate_bad_input(capsys, argv, mentions):
    fails(capsys, "generate", *argv, mentions=tuple(mentions))
    assert capsys.readouterr().out == ""


def test_generate_unwritable_output(capsys, tmp_path):
    fails(capsys, "generate", "ws", "-o", tmp_path / "missing" / "g.json", mentions=("g.json",))
    assert not (tmp_path / "missing").exists()


def test_generate_unknown_generator_is_a_usage_error(capsys):
    usage_error(capsys, "generate", "foo", mentions=("invalid choice", "'foo'"))
    usage_error(capsys, "generate", "ws", "--network", "huge", mentions=("invalid choice",))
    usage_error(capsys, "generate", "ws", "--nodes", "many", mentions=("--nodes",))


# -- draw ---------------------------------------------------------------------


def test_draw_default_output_name(capsys, tmp_path):
    graph = write(tmp_path / "graph.json", randwire.stage(randwire.topology("ws", 6, {}, 0), 3, 8, size=[16, 16]))
    code, out, err = run(capsys, "draw", graph)
    assert code == 0 and err == ""
    assert out.strip() == f"wrote {tmp_path / 'graph.png'}"
    assert_png(tmp_path / "graph.png")


def test_draw_output_expand_and_title(capsys, network_json, tmp_path):
    plain, inlined, titled = tmp_path / "plain.png", tmp_path / "inlined.png", tmp_path / "titled.png"
    assert run(capsys, "draw", network_json, "-o", plain)[0] == 0
    assert run(capsys, "draw", network_json, "-o", inlined, "--expand")[0] == 0
    assert run(capsys, "draw", network_json, "-o", titled, "--title", "tiny")[0] == 0
    for path in (plain, inlined, titled):
        assert_png(path)
    assert inlined.read_bytes() != plain.read_bytes()
    assert titled.read_bytes() != plain.read_bytes()
    assert not (tmp_path / "net.png").exists()  # -o replaces the default name


def test_draw_bad_input(capsys, tmp_path, cyclic_json, network_json):
    fails(capsys, "draw", tmp_path / "missing.json", mentions=("missing.json",))
    text = tmp_path / "text.json"
    text.write_text("not json {")
    fails(capsys, "draw", text, mentions=("text.json", "JSON"))
    binary = tmp_path / "binary.json"
    binary.write_bytes(bytes(range(256)))
    fails(capsys, "draw", binary, mentions=("binary.json", "JSON"))
    fails(capsys, "draw", cyclic_json, mentions=("cycle.json", "cycle"))
    fails(capsys, "draw", network_json, "-o", tmp_path / "nowhere" / "x.png", mentions=("x.png", "does not exist"))
    fails(capsys, "draw", tmp_path, mentions=(str(tmp_path),))  # a directory, not a file
    assert list(tmp_path.glob("*.png")) == []


# -- info ---------------------------------------------------------------------


def numbers(line: str) -> list[int]:
    return [int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", line)]


def test_info_network(capsys, network_json):
    G = wiring.from_json(network_json.read_text())
    code, out, err = run(capsys, "info", network_json)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == f"{network_json}: valid typed DAG (schema {wiring.SCHEMA_VERSION})"
    expected = wiring.cost(G, (3, 32, 32))
    (size_line,) = [line for line in lines if "params" in line and "multiply-adds" in line]
    assert numbers(size_line) == [expected.params, expected.macs]
    assert "input (3, 32, 32)  ->  output (10,)" in out
    (ops_line,) = [line for line in lines if line.strip().startswith("ops:")]
    shown = dict((op, int(n)) for op, n in re.findall(r"(\w+)×(\d+)", ops_line))
    assert shown == dict(all_ops(G))
    assert shown["rw_node"] == 18 and shown["subgraph"] == 3
    assert f"hash {wiring.graph_hash(G)}" in lines[-1]
    assert '"name": "randwire.cifar"' in out  # space provenance


def test_info_stage_shows_generator(capsys, tmp_path):
    G = randwire.stage(randwire.topology("ba", 8, {"m": 2}, 4), 3, 8, size=[16, 16])
    code, out, _ = run(capsys, "info", write(tmp_path / "stage.json", G))
    assert code == 0
    assert 'generator: {"name": "barabasi_albert", "params": {"n": 8, "m": 2}, "seed": 4}' in out
    assert f"hash {wiring.graph_hash(G)}" in out


def test_info_input_shape_changes_macs_not_params(capsys, network_json):
    G = wiring.from_json(network_json.read_text())
    code, out, _ = run(capsys, "info", network_json, "--input-shape", "3,64,64")
    assert code == 0
    big, small = wiring.cost(G, (3, 64, 64)), wiring.cost(G, (3, 32, 32))
    assert big.macs > small.macs and big.params == small.params
    assert f"params {big.params:,}   multiply-adds {big.macs:,}" in out
    assert "input (3, 64, 64)" in out


@pytest.mark.parametrize("shape, mentions", [
    ("3,x", ["--input-shape", "'3,x'"]),
    ("3,,32", ["--input-shape"]),
    ("", ["--input-shape"]),
    ("0,8,8", ["(0, 8, 8)"]),
    ("-3,8,8", ["(-3, 8, 8)"]),
    ("1,32,32", ["(3, 32, 32)", "(1, 32, 32)"]),   # the graph declares 3 channels
    ("3,32", ["(3, 32)"]),               # no batch dimension, but one size short
])
def test_info_bad_input_shape(capsys, network_json, shape, mentions):
    fails(capsys, "info", network_json, f"--input-shape={shape}", mentions=tuple(mentions))
    assert capsys.readouterr().out == ""


def test_info_bad_file(capsys, tmp_path, cyclic_json):
    fails(capsys, "info", tmp_path / "missing.json", mentions=("missing.json",))
    fails(capsys, "info", cyclic_json, mentions=("cycle.json", "cycle"))
    listing = tmp_path / "list.json"
    listing.write_text("[1, 2]")
    fails(capsys, "info", listing, mentions=("list.json",))
    data = json.loads(wiring.to_json(randwire.stage(randwire.topology("er", 5, {}, 0), 3, 4, size=[8, 8])))
    data["nodes"][1]["op"] = "no_such_op"
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps(data))
    fails(capsys, "info", unknown, mentions=("unknown.json", "no_such_op"))


def test_info_refuses_what_is_not_a_regular_file_before_reading(capsys, tmp_path, network_json, monkeypatch):
    """A FIFO would block, /dev/zero would be read whole: both refused at once; a file over the JSON limit is
    refused by its size, before any read."""
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    fails(capsys, "info", fifo, mentions=("pipe.json", "not a regular file"))
    fails(capsys, "info", "/dev/zero", mentions=("/dev/zero", "not a regular file"))
    fails(capsys, "info", tmp_path, mentions=("not a regular file",))
    monkeypatch.setattr(wiring.limits, "MAX_JSON_CHARS", 10)
    opened = []
    monkeypatch.setattr(type(network_json), "open", lambda self, *a, **k: opened.append(self))
    fails(capsys, "info", network_json, mentions=("exceeds the JSON limit of 10",))
    assert opened == []  # the size was checked first


# -- train --------------------------------------------------------------------


ACCURACY = re.compile(r"val accuracy (\d+\.\d\d)% \(epoch 1\)\s+test accuracy (\d+\.\d\d)%\s+1 epoch\(s\)")


def test_train_randwire(capsys):
    code, out, err = run(capsys, "train", "--randwire", "cifar", "--channels", 4, "--nodes", 5,
                         "--epochs", 1, "--quiet")
    assert code == 0
    assert err == ""  # --quiet: no progress bar
    assert "digits" in out
    match = ACCURACY.search(out)
    assert match, out
    assert all(0 <= float(a) <= 100 for a in match.groups())


def test_train_graph_json_and_save(capsys, tmp_path):
    graph = tmp_path / "digits.json"
    code, _, _ = run(capsys, "generate", "ws", "--network", "cifar", "--in-channels", 1, "--size", 8,
                     "--channels", 4, "--nodes", 5, "-o", graph)
    assert code == 0
    saved = tmp_path / "model.pt"
    code, out, err = run(capsys, "train", graph, "--epochs", 1, "--quiet", "--save", saved)
    assert code == 0 and err == ""
    assert ACCURACY.search(out), out
    assert out.splitlines()[-1] == f"wrote {saved}"
    G, model = wiring.load(saved)
    assert wiring.graph_hash(G) == wiring.graph_hash(wiring.from_json(graph.read_text()))
    assert model is not None
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    # trained weights were saved, not a fresh initialisation
    fresh = wiring.compile(G, seed=0).state_dict()
    trained = model.state_dict()
    assert any(not torch.equal(trained[k], fresh[k]) for k in fresh if trained[k].is_floating_point())


def test_train_bad_input(capsys, tmp_path, cyclic_json):
    both = "either a graph JSON file or --randwire"
    fails(capsys, "train", "--epochs", 1, mentions=(both,))
    rgb = write(tmp_path / "rgb.json", randwire.cifar(channels=4, nodes=5, seed=0))
    fails(capsys, "train", rgb, "--randwire", "cifar", mentions=(both,))
    usage_error(capsys, "train", "--randwire", "cifar", "--epochs", 0, "--quiet", mentions=("--epochs", "0"))
    fails(capsys, "train", "--randwire", "cifar", "--nodes", 4, "--quiet", mentions=("k=4", "n=4"))
    fails(capsys, "train", tmp_path / "missing.json", mentions=("missing.json",))
    fails(capsys, "train", cyclic_json, mentions=("cycle.json", "cycle"))
    # an unwritable --save fails before training (it used to train, then die in torch.save with a traceback)
    fails(capsys, "train", "--randwire", "cifar", "--save", tmp_path / "nowhere" / "m.pt", "--quiet",
          mentions=("m.pt", "does not exist"))
    fails(capsys, "train", "--randwire", "cifar", "--save", tmp_path, "--quiet", mentions=("directory",))
    usage_error(capsys, "train", "--randwire", "huge", mentions=("invalid choice",))


# -- compare ------------------------------------------------------------------


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """One tiny comparison shared by the compare tests: (exit status, stdout, stderr, output directory).

    lr and batch size are ones with which a network learns within the one epoch, so that accuracies depend
    on the seeds and settings (at the defaults, one epoch leaves every network at chance).
    """
    out_dir = tmp_path_factory.mktemp("compare") / "results"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(["compare", "--graphs", "1", "--epochs", "1", "--channels", "4", "--nodes", "5",
                     "--generators", "er,ws", "--lr", "0.03", "--batch-size", "32", "--quiet",
                     "--out", str(out_dir)])
    return code, stdout.getvalue(), stderr.getvalue(), out_dir


def test_compare_prints_the_table(compared):
    code, out, err, out_dir = compared
    assert code == 0, err
    assert err == ""
    lines = out.splitlines()
    (header,) = [line for line in lines if line.startswith("generator")]
    assert header.split()[:4] == ["generator", "graphs", "params", "MACs"]
    rows = [line for line in lines if line.startswith(("ER(0.2)", "BA(5)", "WS(4, 0.75)", "WS-flex"))]
    assert [row[:18].strip() for row in rows] == ["ER(0.2)", "WS(4, 0.75)"]  # one row per generator, in order
    runs = json.loads((out_dir / "results.json").read_text())["runs"]
    for row, result in zip(rows, runs):
        assert row[18:].split()[0] == "1"  # graphs per generator
        assert f"{100 * result['test_accuracy']:.1f} ± 0.0" in row
        assert f"{result['params'] / 1e3:.1f}k" in row
    (ranking,) = [line for line in lines if line.startswith("ranking by mean test accuracy:")]
    assert "ER(0.2)" in ranking and "WS(4, 0.75)" in ranking
    assert str(out_dir / "results.json") in lines[-2]
    assert lines[-1].startswith(f"report: {out_dir / 'report.html'} ") and (out_dir / "report.html").is_file()


def test_compare_writes_results(compared):
    code, _, _, out_dir = compared
    assert code == 0
    results = json.loads((out_dir / "results.json").read_text())
    assert "digits" in results["dataset"]
    settings = results["settings"]
    assert settings["generators"] == ["er", "ws"]
    assert (settings["graphs"], settings["epochs"], settings["channels"], settings["nodes"]) == (1, 1, 4, 5)
    assert (settings["lr"], settings["batch_size"], settings["seed"]) == (0.03, 32, 0)
    runs = results["runs"]
    assert [r["generator"] for r in runs] == ["er", "ws"]
    fields = {"generator", "graph_seed", "params", "macs", "val_accuracy", "test_accuracy", "train_seconds",
              "epochs_run"}
    for r in runs:
        assert set(r) == fields
        assert r["graph_seed"] == 0 and r["epochs_run"] == 1
        assert 0 <= r["val_accuracy"] <= 1 and 0 <= r["test_accuracy"] <= 1 and r["train_seconds"] >= 0
        G = randwire.cifar(channels=4, nodes=5, generator=r["generator"], seed=0, num_classes=10, in_channels=1,
                           image_size=8)
        expected = wiring.cost(G, (1, 8, 8))
        assert (r["params"], r["macs"]) == (expected.params, expected.macs)


def test_compare_writes_drawings(compared):
    _, _, _, out_dir = compared
    for name in ("accuracy.png", "graph_er.png", "graph_ws.png"):
        assert_png(out_dir / name)
    assert sorted(p.name for p in out_dir.iterdir()) == ["accuracy.png", "graph_er.png", "graph_ws.png",
                                                         "report.html", "results.json"]


def test_compare_runs_match_train(capsys, compared):
    """The ER row is what `wiring train` gives for the same network and settings (CPU training is deterministic)."""
    _, _, _, out_dir = compared
    er = json.loads((out_dir / "results.json").read_text())["runs"][0]
    code, out, _ = run(capsys, "train", "--randwire", "cifar", "--generator", "er", "--channels", 4, "--nodes", 5,
                       "--epochs", 1, "--lr", 0.03, "--batch-size", 32, "--quiet")
    assert code == 0
    val, test = ACCURACY.search(out).groups()
    assert (val, test) == (f"{100 * er['val_accuracy']:.2f}", f"{100 * er['test_accuracy']:.2f}")


@pytest.mark.parametrize("argv, mentions", [
    (["--generators", "foo"], ["--generators", "'foo'"]),
    (["--generators", "er,foo"], ["'er,foo'"]),
    (["--generators", ","], ["--generators"]),
])
def test_compare_bad_input(capsys, tmp_path, argv, mentions):
    fails(capsys, "compare", *argv, "--quiet", "--out", tmp_path / "out", mentions=tuple(mentions))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv, mentions", [
    (["--graphs", "0"], ["--graphs", "0"]),
    (["--epochs", "0"], ["--epochs", "0"]),
    (["--nodes", "0"], ["--nodes", "0"]),
])
def test_compare_absurd_numbers_are_usage_errors(capsys, tmp_path, argv, mentions):
    usage_error(capsys, "compare", *argv, "--quiet", "--out", tmp_path / "out", mentions=tuple(mentions))
    assert not (tmp_path / "out").exists()


def test_compare_out_is_a_file(capsys, tmp_path):
    (tmp_path / "taken").write_text("")
    fails(capsys, "compare", "--graphs", 1, "--epochs", 1, "--channels", 4, "--nodes", 5, "--generators", "er",
          "--quiet", "--out", tmp_path / "taken", mentions=("taken",))


# -- the installed console script ---------------------------------------------


def test_console_script_end_to_end(tmp_path):
    script = shutil.which("wiring", path=str(Path(sys.executable).parent)) or shutil.which("wiring")
    assert script, "the `wiring` console script is not installed (pip install -e .)"
    result = subprocess.run([script, "info", "missing.json"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "wiring info: error: [Errno 2] No such file or directory: 'missing.json'"]


def test_search_tabular_resumes_from_its_storage(tmp_path, capsys):
    storage = tmp_path / "search.db"
    argv = ["search", "--space", "nasbench_graph", "--strategy", "regularizedevolution", "--storage", str(storage),
            "--quiet"]
    assert main([*argv, "--budget", "5"]) == 0
    first = capsys.readouterr().out
    assert "5 trials: 5 complete" in first
    assert main([*argv, "--budget", "8"]) == 0  # continues: three more trials, none repeated
    assert "8 trials: 8 complete" in capsys.readouterr().out
    assert main([*argv[:-1], "--seed", "1", "--budget", "9", "--quiet"]) == 2  # a different setup is refused
    assert "seed" in capsys.readouterr().err


def test_search_trains_candidates_of_an_image_space(tmp_path, capsys):
    assert main(["search", "--space", "nasbench201", "--strategy", "randomsearch", "--budget", "2", "--epochs", "1",
                 "--data-fraction", "0.1", "--plot", str(tmp_path / "search.png"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "2 trials: 2 complete" in out and "best: |" in out
    assert (tmp_path / "search.png").read_bytes().startswith(b"\x89PNG")


def test_search_bad_option_is_one_line(capsys):
    assert main(["search", "--space", "darts", "--option", "layers=1", "--budget", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
