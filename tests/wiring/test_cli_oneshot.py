"""``wiring search`` with one-shot strategies, in process through ``wiring.cli.main``.

Every search is tiny: a SMALL space shrunk further with ``--option``, one
epoch, ``--data-fraction`` 0.05 (about 60 training examples). Bad input must
give exit status 2 and one line on stderr, ``wiring search: error: ...``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import test_cli as cli
import torch

import spaces
import wiring
from wiring.cli import main
from wiring.cli.oneshot import STRATEGIES
from wiring.data import load_dataset
from wiring.search.oneshot import DARTS
from wiring.search.evaluators import fit_input, training_fraction

TINY = ["--epochs", "1", "--data-fraction", "0.05", "--quiet"]
NB201 = ["--space", "nasbench201", "--option", "channels=4"]
EVOLUTION = ["--param", "search_budget=3", "--param", "population=2", "--param", "top_k=1", "--param", "mutations=1",
             "--param", "crossovers=1", "--param", "val_size=20", "--param", "bn_batches=1"]
SPOS = ["--space", "spos", "--option", "channels=4", "--option", "last_channels=16",
        "--option", "stage_channels=[8, 16, 24, 32]"]
# strategy -> the space options of its run (each among the spaces the strategy supports)
RUNS = {
    "darts": NB201,
    "darts+": NB201,
    "fairdarts": ["--space", "darts", "--option", "layers=3", "--option", "channels=4", "--option", "image_size=8",
                  "--option", "nodes=2"],
    "spos": [*SPOS, *EVOLUTION],
    "fairnas": [*SPOS, *EVOLUTION],
    "proxyless": ["--space", "proxyless", "--option", "image_size=16", "--option", "layers=[1, 1, 1, 1, 1, 1]"],
    "gdas": NB201,
    "oneshot": [*NB201, "--param", "samples=2"],
    "enas": ["--space", "enas", "--option", "layers=1", "--option", "channels=4", "--option", "image_size=8",
             "--option", "nodes=2", "--param", "batch_size=32", "--param", "controller_steps=1",
             "--param", "controller_aggregate=2", "--param", "final_samples=2"],
}


def run(capsys, *argv) -> tuple[int, str, str]:
    """``main(["search", *argv])``: exit status, stdout, stderr."""
    return cli.run(capsys, "search", *argv)


def fails(capsys, *argv, mentions: tuple[str, ...] = ()) -> str:
    """Run ``search argv``, which must fail cleanly: status 2, one stderr line; returns that line."""
    return cli.fails(capsys, "search", *argv, mentions=mentions)


def architecture(out: str) -> str:
    (line,) = [line for line in out.splitlines() if line.startswith("architecture: ")]
    return line.removeprefix("architecture: ")


def space_of(argv: list[str]):
    """The space the CLI builds for ``argv``'s --space and --option values (SMALL, then the options)."""
    name = argv[argv.index("--space") + 1]
    options = dict(a.split("=", 1) for a in (argv[i + 1] for i, a in enumerate(argv) if a == "--option"))
    module = getattr(spaces, name)
    return module.space(**{**module.SMALL, **{k: json.loads(v) for k, v in options.items()}})


def assert_png(path: Path) -> None:
    assert path.is_file(), path
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- help ---------------------------------------------------------------------


def test_help_explains_black_box_and_one_shot_strategies(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["search", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "Black-box strategies" in out and "One-shot strategies" in out
    assert "regularizedevolution" in out
    for option in ("--param", "--save", "--retrain-epochs", "--storage", "--plot", "supernet training epochs"):
        assert option in out, option
    for name, entry in STRATEGIES.items():  # one row per one-shot strategy naming its spaces
        (row,) = [line for line in out.splitlines() if line.split()[:2] == [name, entry.name]]
        listed = row.split(None, 2)[2]
        assert listed == "image spaces" or listed.split(", ") == list(entry.spaces), row
    assert "fairdarts  FairDARTS     darts" in out


# -- every strategy runs ------------------------------------------------------


@pytest.mark.parametrize("strategy", list(RUNS))  # enas last: it is the newest
def test_each_strategy_prints_a_valid_architecture(capsys, strategy):
    argv = RUNS[strategy]
    code, out, err = run(capsys, "--strategy", strategy, *argv, *TINY)
    assert code == 0, err
    assert err == ""  # --quiet: no progress bars
    space = space_of(argv)
    encoding = architecture(out)
    arch = space.decode(encoding)
    assert space.encode(arch) == encoding
    wiring.validate(space.to_graph(arch))
    assert re.search(r"^stopped: .+ \(1 epoch\(s\) run\)$", out, re.MULTILINE), out
    assert f"{strategy} ({STRATEGIES[strategy].name}) on {argv[1]}: digits, " in out.splitlines()[0]
    size = wiring.cost(space.to_graph(arch))
    assert f"params {size.params:,}   multiply-adds {size.macs:,}" in out


def test_cli_search_is_the_library_search(capsys):
    """Seed, epochs, --param values and the data (subsampled, fitted) reach the strategy unchanged."""
    params = ["--param", "batch_size=16", "--param", "arch_lr=0.05", "--param", "arch_betas=[0.9, 0.99]",
              "--param", "grad_clip=null"]
    code, out, _ = run(capsys, "--strategy", "darts", *NB201, *TINY, "--seed", 3, "--epochs", 2, *params)
    assert code == 0
    space = space_of(NB201)
    full = load_dataset("digits", seed=3)
    data = fit_input(training_fraction(full, 0.05, 3), (3, 16, 16))
    result = DARTS(space, seed=3, epochs=2, batch_size=16, arch_lr=0.05, arch_betas=(0.9, 0.99),
                   grad_clip=None, progress=False).search(data)
    assert architecture(out) == space.encode(result.arch)
    assert f"{len(data.y_train)} training examples fitted to (3, 16, 16), 2 epoch(s)" in out


# -- outputs ------------------------------------------------------------------


def test_save_and_retrain(capsys, tmp_path):
    saved = tmp_path / "arch.pt"
    code, out, err = run(capsys, "--strategy", "gdas", *NB201, *TINY, "--save", saved, "--retrain-epochs", 1)
    assert code == 0, err
    assert re.search(r"^retrained from scratch, 1 epoch\(s\): val accuracy \d+\.\d\d% \(epoch [01]\)\s+"
                     r"test accuracy \d+\.\d\d%$", out, re.MULTILINE), out
    assert out.splitlines()[-1] == f"wrote {saved}"
    G, model = wiring.load(saved)
    space = space_of(NB201)
    assert wiring.graph_hash(G) == wiring.graph_hash(space.to_graph(space.decode(architecture(out))))
    assert model is not None  # retrained: the weights are saved too
    model.eval()
    with torch.no_grad():
        assert model(torch.rand(2, 3, 16, 16)).shape == (2, 10)


def test_save_without_retraining_writes_the_graph_only(capsys, tmp_path):
    saved = tmp_path / "arch.pt"
    code, out, _ = run(capsys, "--strategy", "darts", *NB201, *TINY, "--save", saved)
    assert code == 0
    assert "retrained" not in out
    G, model = wiring.load(saved)
    assert model is None
    space = space_of(NB201)
    assert wiring.graph_hash(G) == wiring.graph_hash(space.to_graph(space.decode(architecture(out))))


def test_plot_alpha_history(capsys, tmp_path):
    plot = tmp_path / "alphas.png"
    code, out, _ = run(capsys, "--strategy", "fairdarts", *RUNS["fairdarts"], *TINY, "--epochs", 2, "--plot", plot)
    assert code == 0
    assert out.splitlines()[-1] == f"wrote {plot}"
    assert_png(plot)


def test_plot_labels_name_the_candidates():
    """The legend names each candidate by op, with the params that tell same-named ops apart."""
    from wiring.cli.oneshot import _candidates

    labels = _candidates(space_of(NB201).supernet())
    assert labels == {"cell": ["zero", "identity", "relu_conv_bn(kernel=1)", "relu_conv_bn(kernel=3)", "avg_pool"]}
    darts = _candidates(space_of(RUNS["fairdarts"]).supernet())
    assert set(darts) == {"normal", "reduce"}
    assert darts["normal"][0] == "none" and len(darts["normal"]) == 8


# -- checkpoints --------------------------------------------------------------


def test_storage_checkpoint_reruns_to_the_same_architecture(capsys, tmp_path):
    storage = tmp_path / "search.ckpt"
    argv = ["--strategy", "darts", *NB201, *TINY, "--epochs", 2, "--storage", storage]
    code, first, err = run(capsys, *argv)
    assert code == 0, err
    assert f"checkpoint {storage}: new" in first
    assert storage.is_file()
    code, again, err = run(capsys, *argv)
    assert code == 0, err
    assert f"checkpoint {storage}: resuming" in again
    assert architecture(again) == architecture(first)
    fails(capsys, *argv[:-2], "--seed", 1, "--storage", storage, mentions=("seed",))  # another setup is refused


def test_storage_resumes_an_interrupted_search(capsys, tmp_path, monkeypatch):
    """Ctrl-C after the first of two epochs exits 130; the same command then finishes the search, as if never
    stopped."""
    from wiring.search.oneshot import checkpoint

    argv = ["--strategy", "gdas", *NB201, *TINY, "--epochs", 2]
    code, plain, _ = run(capsys, *argv)
    assert code == 0
    storage = tmp_path / "search.ckpt"
    save = checkpoint.Checkpoint.save

    def save_then_interrupt(self, **state):
        save(self, **state)
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.Checkpoint, "save", save_then_interrupt)
    code, _, err = run(capsys, *argv, "--storage", storage)
    assert code == 130 and "interrupted" in err
    monkeypatch.setattr(checkpoint.Checkpoint, "save", save)
    code, resumed, _ = run(capsys, *argv, "--storage", storage)
    assert code == 0
    assert f"checkpoint {storage}: resuming" in resumed
    assert architecture(resumed) == architecture(plain)


# -- bad input ----------------------------------------------------------------


@pytest.mark.parametrize("strategy, space, supported, why", [
    ("fairdarts", "nasbench201", "darts", "lacks derive(model, weighting=..., threshold=...)"),
    ("spos", "darts", "amoebanet, enas, nasbench201, nasnet, proxyless, spos", "lacks one α row per decision"),
    ("fairnas", "proxyless", "nasbench201, spos", "lacks the same number of choices in every decision"),
    ("enas", "darts", "amoebanet, enas, nasbench201, nasnet, proxyless, spos", "lacks one α row per decision"),
    ("darts", "nasbench_graph", "amoebanet, darts, enas", "searches graph data"),
    ("darts+", "nasbench_graph", "amoebanet, darts, enas", "searches graph data"),
])
def test_unsupported_space_names_the_supported_ones_and_why(capsys, strategy, space, supported, why):
    fails(capsys, "--strategy", strategy, "--space", space, *TINY,
          mentions=(f"strategy {strategy!r} supports the spaces {supported}", f"--space {space}", why))


@pytest.mark.parametrize("param, mentions", [
    ("arch_lrr=0.1", ["arch_lrr", "valid names:", "arch_lr, arch_weight_decay", "order"]),
    ("lr=fast", ["--param lr takes float", "'fast'"]),
    ("batch_size=2.5", ["--param batch_size takes int", "2.5"]),
    ("arch_betas=[0.5]", ["--param arch_betas takes tuple[float, float]", "[0.5]"]),
    ("arch_betas=[0.5, \"x\"]", ["--param arch_betas"]),
    ("grad_clip=\"none\"", ["--param grad_clip takes float | None", "'none'"]),
    ("early_stop=1", ["--param early_stop"]),
    ("progress=true", ["--param progress", "--quiet"]),
    ("epochs=3", ["--param epochs", "--epochs"]),
    ("checkpoint=x", ["--storage"]),
    ("order=3", ["order must be 1 or 2"]),
    ("lr", ["--param takes NAME=VALUE"]),
])
def test_bad_param(capsys, param, mentions):
    fails(capsys, "--strategy", "darts", *NB201, *TINY, "--param", param, mentions=tuple(mentions))


def test_bad_param_lists_the_strategy_own_names(capsys):
    line = fails(capsys, "--strategy", "fairdarts", *RUNS["fairdarts"], *TINY, "--param", "tau_max=1")
    assert "threshold" in line and "zero_one_weight" in line and "arch_lr" in line
    line = fails(capsys, "--strategy", "spos", *SPOS, *TINY, "--param", "arch_lr=1")
    assert "search_budget" in line and "sampler" in line


@pytest.mark.parametrize("argv, mentions", [
    (["--strategy", "darts", "--budget", "5"], ["--budget", "one-shot", "--param"]),
    (["--strategy", "darts", "--executor", "process"], ["--executor"]),
    (["--strategy", "randomsearch", "--param", "lr=1"], ["--param lr", "'randomsearch'", "valid names: none"]),
    (["--strategy", "randomsearch", "--retrain-epochs", "1"], ["--retrain-epochs", "black-box"]),
    (["--strategy", "spos", "--plot", "x.png"], ["--plot", "'spos'"]),
])
def test_options_of_the_other_family_and_bad_values(capsys, argv, mentions):
    space = ["--space", "spos"] if argv[1] == "spos" else NB201
    fails(capsys, *argv, *space, "--quiet", mentions=tuple(mentions))


@pytest.mark.parametrize("argv, mentions", [
    (["--data-fraction", "0"], ["--data-fraction", "(0, 1]"]),
    (["--retrain-epochs", "-1"], ["--retrain-epochs", ">= 0"]),
    (["--epochs", "0"], ["--epochs", ">= 1"]),
])
def test_absurd_numbers_are_usage_errors(capsys, argv, mentions):
    cli.usage_error(capsys, "search", "--strategy", "darts", *NB201, *argv, "--quiet", mentions=tuple(mentions))


def test_unwritable_paths_fail_before_searching(capsys, tmp_path):
    for flag in ("--save", "--plot", "--storage"):
        fails(capsys, "--strategy", "darts", *NB201, *TINY, flag, tmp_path / "missing" / "x",
              mentions=(flag, "does not exist"))
        fails(capsys, "--strategy", "darts", *NB201, *TINY, flag, tmp_path, mentions=(flag, "directory"))
