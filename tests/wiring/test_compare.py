"""``wiring compare``: saving as it goes and resuming, the generator × node-op grid and its correlations.

Most tests replace ``wiring.train`` inside the compare module by a fake that counts its calls, reports every epoch
through ``log=`` as the real one does, and gives each (node op, generator, graph seed) a known accuracy, so that the
grid, the resumed runs and the correlations can be checked against numbers computed here. One test trains for real:
an interrupted, resumed comparison ends with the results of an uninterrupted one.
"""

from __future__ import annotations

import json
from itertools import combinations
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.stats

import spaces.randwire as randwire
from wiring.cli import compare as compare_module
from wiring.cli import main

TINY = ["--channels", "4", "--nodes", "6", "--lr", "0.03", "--batch-size", "32"]
# mean test accuracy per (node op, generator) that the fake training gives; graph seed s adds 0.001·s
ACCURACY = {
    "sep": {"er": 0.70, "ba": 0.72, "ws": 0.80},
    "conv": {"er": 0.60, "ba": 0.66, "ws": 0.69},
    "maxpool": {"er": 0.50, "ba": 0.49, "ws": 0.58},
    "avgpool": {"er": 0.52, "ba": 0.50, "ws": 0.51},
}


class FakeTrain:
    """Stands in for ``wiring.train``: records each network it is given; raises KeyboardInterrupt on call
    ``interrupt_at`` (counted from 1) after one epoch, as Ctrl-C during training would."""

    def __init__(self, interrupt_at: int | None = None) -> None:
        self.calls: list[tuple[str, str, int, int]] = []
        self.interrupt_at = interrupt_at

    def __call__(self, G, data, *, epochs, log=None, **options):
        space = G.graph["space"]["params"]
        op = space.get("node_op", "sep")
        self.calls.append((op, space["generator"], space["seed"], space["channels"]))
        for epoch in range(1, epochs + 1):
            if len(self.calls) == self.interrupt_at and epoch == 2:
                raise KeyboardInterrupt
            log(SimpleNamespace(epoch=epoch, val_accuracy=0.5))
        accuracy = ACCURACY[op][space["generator"]] + 0.001 * space["seed"]
        return SimpleNamespace(val_accuracy=accuracy - 0.01, test_accuracy=accuracy, epochs_run=epochs)


@pytest.fixture
def fake(monkeypatch):
    def install(interrupt_at=None):
        trainer = FakeTrain(interrupt_at)
        monkeypatch.setattr(compare_module, "train", trainer)
        return trainer
    return install


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def results(out):
    return json.loads((out / "results.json").read_text())


# -- saved as it goes, resumed --------------------------------------------------------------------------------


def test_interrupted_comparison_resumes_training_only_the_missing_networks(capsys, tmp_path, fake):
    out = tmp_path / "out"
    argv = ["compare", "--generators", "er,ba,ws", "--graphs", 2, "--epochs", 2, *TINY, "--quiet", "--out", out]
    first = fake(interrupt_at=4)
    code, stdout, err = cli(capsys, *argv)
    assert code == 130
    assert err.splitlines() == [f"wiring compare: interrupted: 3 of 6 networks saved in {out / 'results.json'}; "
                                f"rerun the same command to resume"]
    saved = results(out)
    assert saved["complete"] is False
    assert [(r["generator"], r["graph_seed"]) for r in saved["runs"]] == [("er", 0), ("er", 1), ("ba", 0)]
    assert not list(out.glob(".*.tmp"))  # the atomic write leaves no temporary file
    assert len(first.calls) == 4

    second = fake()
    code, stdout, err = cli(capsys, *argv)
    assert code == 0, err
    assert [(g, s) for _, g, s, _ in second.calls] == [("ba", 1), ("ws", 0), ("ws", 1)]  # only the missing ones
    assert f"resuming: 3 of 6 networks already in {out / 'results.json'}" in stdout
    final = results(out)
    assert final["complete"] is True
    assert [(r["generator"], r["graph_seed"]) for r in final["runs"]] == [
        (g, s) for g in ("er", "ba", "ws") for s in (0, 1)]
    assert final["runs"][:3] == saved["runs"]  # the saved networks kept as they were
    assert {"node_op", "channels"}.isdisjoint(final["runs"][0])  # no grid: the runs' fields as before

    third = fake()  # a finished comparison rerun: nothing to train, the table printed again
    code, stdout, _ = cli(capsys, *argv)
    assert code == 0 and third.calls == []
    assert "resuming: 6 of 6 networks" in stdout and "ranking by mean test accuracy" in stdout


def test_the_saved_file_grows_network_by_network(capsys, tmp_path, fake, monkeypatch):
    out = tmp_path / "out"
    trainer = fake()
    seen = []

    def spy(G, data, **options):
        seen.append(len(results(out)["runs"]))  # what results.json holds when a network starts training
        return trainer(G, data, **options)

    monkeypatch.setattr(compare_module, "train", spy)
    code, _, err = cli(capsys, "compare", "--generators", "er,ws", "--graphs", 2, "--epochs", 1, *TINY, "--quiet",
                       "--out", out)
    assert code == 0, err
    assert seen == [0, 1, 2, 3]


def test_an_unfinished_comparison_with_other_settings_is_refused_naming_them(capsys, tmp_path, fake):
    out = tmp_path / "out"
    base = ["compare", "--generators", "er,ws", "--graphs", 2, *TINY, "--quiet", "--out", out]
    fake(interrupt_at=2)
    assert cli(capsys, *base, "--epochs", 2)[0] == 130
    before = (out / "results.json").read_text()

    trainer = fake()
    code, _, err = cli(capsys, *base, "--epochs", 3, "--seed", 1)
    assert code == 2 and trainer.calls == []
    (line,) = err.splitlines()
    assert line.startswith("wiring compare: error: ")
    for text in ("1 finished network(s) of an interrupted comparison", "epochs: 2 → 3", "seed: 0 → 1",
                 "--restart", "another --out"):
        assert text in line, (text, line)
    assert (out / "results.json").read_text() == before  # refused: nothing lost

    code, stdout, err = cli(capsys, *base, "--epochs", 3, "--restart")
    assert code == 0, err
    assert len(trainer.calls) == 4 and "resuming" not in stdout
    assert results(out)["settings"]["epochs"] == 3


def test_a_finished_comparison_with_other_settings_is_replaced_saying_so(capsys, tmp_path, fake):
    out = tmp_path / "out"
    base = ["compare", "--generators", "er", "--graphs", 1, "--epochs", 1, *TINY, "--quiet", "--out", out]
    fake()
    assert cli(capsys, *base)[0] == 0
    trainer = fake()
    code, stdout, _ = cli(capsys, *base, "--node-op", "sep,conv")
    assert code == 0 and len(trainer.calls) == 2
    assert "holds a finished comparison with other settings (node-ops: none → sep,conv): replacing it" in stdout
    assert [r["node_op"] for r in results(out)["runs"]] == ["sep", "conv"]


def test_restart_trains_everything_again(capsys, tmp_path, fake):
    out = tmp_path / "out"
    argv = ["compare", "--generators", "er", "--graphs", 2, "--epochs", 1, *TINY, "--quiet", "--out", out]
    fake()
    assert cli(capsys, *argv)[0] == 0
    trainer = fake()
    assert cli(capsys, *argv, "--restart")[0] == 0
    assert len(trainer.calls) == 2


def test_a_results_file_that_is_not_a_comparisons_is_refused(capsys, tmp_path, fake):
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text("[1, 2]")
    trainer = fake()
    code, _, err = cli(capsys, "compare", "--generators", "er", "--graphs", 1, "--epochs", 1, *TINY, "--quiet",
                       "--out", out)
    assert code == 2 and trainer.calls == []
    assert "is not a wiring compare results.json" in err and "--restart" in err


def test_progress_moves_once_per_epoch_across_all_networks(capsys, tmp_path, fake):
    fake()
    code, _, err = cli(capsys, "compare", "--generators", "er,ws", "--graphs", 1, "--epochs", 3, *TINY, "--out",
                       tmp_path / "out")
    assert code == 0
    counts = {int(n) for n in __import__("re").findall(r"\b(\d)/6 \[", err)}
    assert counts == set(range(7)), err  # 2 networks × 3 epochs, every epoch a tick
    assert "epoch 3 val 50.0%" in err


def test_resumed_real_training_gives_the_uninterrupted_results(capsys, tmp_path, monkeypatch):
    """CPU training is deterministic: an interrupted and resumed comparison ends where an uninterrupted one does."""
    argv = ["compare", "--generators", "er,ws", "--graphs", 1, "--epochs", 1, *TINY, "--quiet"]
    assert cli(capsys, *argv, "--out", tmp_path / "whole")[0] == 0
    real = compare_module.train
    calls = []

    def interrupted(G, data, **options):
        calls.append(G.graph["space"]["params"]["generator"])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(G, data, **options)

    monkeypatch.setattr(compare_module, "train", interrupted)
    assert cli(capsys, *argv, "--out", tmp_path / "resumed")[0] == 130
    monkeypatch.setattr(compare_module, "train", real)
    assert cli(capsys, *argv, "--out", tmp_path / "resumed")[0] == 0
    whole, resumed = results(tmp_path / "whole")["runs"], results(tmp_path / "resumed")["runs"]
    drop = lambda runs: [{k: v for k, v in r.items() if k != "train_seconds"} for r in runs]  # noqa: E731
    assert drop(resumed) == drop(whole)


# -- the generator × node-op grid -------------------------------------------------------------------------------


def test_grid_trains_every_generator_under_every_node_op_at_matched_channels(capsys, tmp_path, fake):
    out = tmp_path / "out"
    trainer = fake()
    code, stdout, err = cli(capsys, "compare", "--generators", "er,ba,ws", "--graphs", 2, "--epochs", 1, *TINY,
                            "--node-op", "sep,conv,maxpool,avgpool", "--quiet", "--out", out)
    assert code == 0, err
    options = {"nodes": 6, "generator": "ws", "seed": 0, "num_classes": 10, "in_channels": 1, "image_size": 8}
    matched = {op: randwire.matched_channels("cifar", op, channels=4, **options) for op in ACCURACY}
    assert matched["sep"] == 4
    assert trainer.calls == [(op, g, s, matched[op]) for op in ACCURACY for g in ("er", "ba", "ws") for s in (0, 1)]
    saved = results(out)
    assert saved["node_op_channels"] == matched
    assert saved["settings"]["node_ops"] == ["sep", "conv", "maxpool", "avgpool"]
    assert [(r["node_op"], r["generator"], r["graph_seed"], r["channels"]) for r in saved["runs"]] == trainer.calls
    for block in ("node op sep (3×3 separable conv, C=4)", f"node op conv (3×3 conv, C={matched['conv']})",
                  "node op maxpool", "node op avgpool"):
        assert block in stdout

    # the correlations: for each pair of node ops, Pearson r of the per-generator means (seeds 0 and 1: +0.0005)
    means = {op: [ACCURACY[op][g] + 0.0005 for g in ("er", "ba", "ws")] for op in ACCURACY}
    for op, series in means.items():
        assert saved["generator_means"][op] == pytest.approx(dict(zip(("er", "ba", "ws"), series)))
    stored = {tuple(c["node_ops"]): c["pearson_r"] for c in saved["correlations"]}
    assert list(stored) == list(combinations(ACCURACY, 2))
    for (a, b), r in stored.items():
        assert r == pytest.approx(scipy.stats.pearsonr(means[a], means[b]).statistic, abs=1e-12)
        assert r == pytest.approx(np.corrcoef(means[a], means[b])[0, 1], abs=1e-12)
        assert f"{a} ~ {b}: {r:+.3f}" in stdout
    assert "0.91–0.98" in stdout
    assert sorted(p.name for p in out.iterdir()) == ["accuracy.png", "graph_ba.png", "graph_er.png", "graph_ws.png",
                                                     "report.html", "results.json"]


def test_correlations_on_known_numbers():
    runs = [compare_module.Run(g, s, 0, 0, 0.0, acc, 0.0, 1, op, 4)
            for op, table in {"sep": {"er": [0.1, 0.3], "ba": [0.5, 0.5], "ws": [0.9, 0.7]},
                              "conv": {"er": [0.2, 0.2], "ba": [0.3, 0.5], "ws": [0.4, 0.6]},
                              "flat": {"er": [0.5, 0.5], "ba": [0.5, 0.5], "ws": [0.5, 0.5]}}.items()
            for g, accs in table.items() for s, acc in enumerate(accs)]
    found = compare_module.correlations(runs, ("er", "ba", "ws"), ("sep", "conv", "flat"))
    expected = scipy.stats.pearsonr([0.2, 0.5, 0.8], [0.2, 0.4, 0.5]).statistic
    assert found[("sep", "conv")] == pytest.approx(expected, abs=1e-12)
    assert found[("sep", "flat")] is None and found[("conv", "flat")] is None  # a constant series: undefined
    assert compare_module.correlations(runs, ("er",), ("sep", "conv")) == {("sep", "conv"): None}  # one point


def test_a_one_node_op_grid_and_two_generators_say_what_r_means(capsys, tmp_path, fake):
    fake()
    code, stdout, _ = cli(capsys, "compare", "--generators", "er,ws", "--graphs", 1, "--epochs", 1, *TINY,
                          "--node-op", "sep,maxpool", "--quiet", "--out", tmp_path / "out")
    assert code == 0
    assert "sep ~ maxpool: +1.000" in stdout and "±1 by construction" in stdout


@pytest.mark.parametrize("value, mentions", [
    ("sepconv", ["--node-op must name some of sep, conv, maxpool, avgpool", "'sepconv'"]),
    ("sep,pool", ["'sep,pool'"]),
    (",", ["--node-op"]),
    ("sep,conv,sep", ["--node-op names sep more than once"]),
])
def test_bad_node_op_is_refused_naming_the_valid_ones(capsys, tmp_path, fake, value, mentions):
    trainer = fake()
    code, _, err = cli(capsys, "compare", "--node-op", value, "--quiet", "--out", tmp_path / "out")
    assert code == 2 and trainer.calls == []
    (line,) = err.splitlines()
    assert line.startswith("wiring compare: error: ")
    for text in mentions:
        assert text in line, (text, line)
    assert not (tmp_path / "out").exists()


def test_default_compare_is_the_separable_comparison_as_before(capsys, tmp_path, fake):
    trainer = fake()
    code, _, _ = cli(capsys, "compare", "--quiet", "--out", tmp_path / "out")
    assert code == 0
    # the default work: ER, BA, WS × 4 graphs, separable nodes at C=16, N=16, 8 epochs each
    assert trainer.calls == [("sep", g, s, 16) for g in ("er", "ba", "ws") for s in range(4)]
    saved = results(tmp_path / "out")
    assert saved["settings"]["node_ops"] is None and "correlations" not in saved
    assert (saved["settings"]["epochs"], saved["settings"]["nodes"]) == (8, 16)


def test_without_ws_the_node_ops_are_matched_on_the_first_generator(capsys, tmp_path, fake):
    """WS(4, 0.75) needs N > 4: a comparison of ER alone at N = 4 runs, its C matched on ER's network."""
    trainer = fake()
    code, _, err = cli(capsys, "compare", "--generators", "er", "--nodes", 4, "--channels", 4, "--graphs", 1,
                       "--epochs", 1, "--node-op", "sep,maxpool", "--quiet", "--out", tmp_path / "out")
    assert code == 0, err
    matched = randwire.matched_channels("cifar", "maxpool", channels=4, nodes=4, generator="er", seed=0,
                                        num_classes=10, in_channels=1, image_size=8)
    assert trainer.calls == [("sep", "er", 0, 4), ("maxpool", "er", 0, matched)]
