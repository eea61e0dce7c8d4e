"""End-to-end one-shot search on digits: do the architectures DARTS, SPOS and ProxylessNAS find beat random ones?

For each strategy and seed ``s`` in ``0..seeds-1``: the one-shot search runs on
scikit-learn's digits (``strategy(space, seed=s, epochs=E, ...).search(data)``),
its ``result.arch`` is retrained from scratch (``space.to_graph(arch)``,
``wiring.train.train`` for ``--retrain-epochs`` epochs, seed ``s``) and so is a
random architecture of the same space, ``space.sample(random.Random(1000 + s))``,
with exactly the same training (equal budget: optimiser, learning rate, batch,
epochs and seed). Reported per strategy: test accuracy of the found and of the
random architectures (mean ± sample std over seeds), the mean paired difference
(found − random, ± std), search wall time, retrained parameter counts. Every
number goes to the JSON file ``--out``.

Setups (``SETUPS``; identical for every seed):

- DARTS (first order) on ``spaces.darts`` SMALL at digits' own 8×8, 1 channel
  (5 cells of 8 channels; reductions take 8×8 to 4×4 to 2×2).
  Weight lr 0.05 (the retraining lr; paper 0.025) and α Adam lr 3e-3 (paper
  3e-4): the paper's values are tuned for 50 epochs × 390 steps, this search
  has ~10 steps per epoch.
- SPOS on ``spaces.spos`` SMALL (5 ShuffleNetV2 choice layers, 4^5 = 1024
  architectures; digits resized to 3×32×32): uniform path sampling, SGD lr
  0.05 (paper 0.5 at batch 1024), label smoothing 0.1, then evolution scoring 100 architectures
  (population 20, top-k 5, 10 mutants + 10 crossovers per round; paper 50, 10,
  25 + 25, budget 1000) on inherited weights with batch norms recalibrated on the reference's
  200 × 128 training images (here all 1257).
- ProxylessNAS on ``spaces.proxyless`` SMALL (11 MBConv layers of width 0.25,
  6 candidates, + ``zero`` at the 6 skippable ones: 6^5·7^6 ≈ 9·10^8
  architectures; 3×32×32): binary gates (``full_v2``), α Adam lr 3e-3
  (reference 1e-3), one warm-up epoch before the search epochs (reference 40
  before 120) and an α step after every weight step (reference: every 5th;
  both scaled down, as the learning rates, for ~10 steps per epoch), no latency
  term (``latency_weight=0``, the accuracy-only search, so found and random
  compare on accuracy alone).

All use batch 64. Retraining: SGD lr 0.05, momentum 0.9, weight decay 5e-4,
cosine schedule, batch 64 (``train``'s defaults); the test accuracy is that of
the epoch with the best validation accuracy. The data split is fixed
(``load_dataset("digits", seed=0)``: 1257 train / 270 val / 270 test); DARTS and
ProxylessNAS search on the training split only (50/50 weights/α), SPOS trains
on it and scores on the validation split.

A strategy that raises is reported with its error (type, message, where it
was raised) in the table and the JSON, and the other runs go on. Runs are
spread over ``--jobs`` worker processes (one torch thread each); every run is
seeded, so only the wall times depend on ``--jobs`` and the machine's load.

    python benchmarks/oneshot_search.py [--seeds 3] [--epochs 4] [--retrain-epochs 8]
        [--strategies DARTS SPOS ProxylessNAS] [--jobs 2] [--out oneshot_search.json] [--quick]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import torch

import spaces.darts
import spaces.proxyless
import spaces.spos
from wiring.data import load_dataset
from wiring.search.evaluators import fit_input
from wiring.search.oneshot import DARTS, SPOS, ProxylessNAS
from wiring.train import train

RETRAIN = {"batch_size": 64, "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4, "optimizer": "sgd"}
"""Training of every retrained architecture, found or random."""

RANDOM_SEED_OFFSET = 1000
"""Random architecture of seed ``s``: ``space.sample(random.Random(RANDOM_SEED_OFFSET + s))``."""


@dataclass(frozen=True)
class Setup:
    """One strategy on one space: space options, the input shape digits are fitted to, strategy options."""

    strategy: Callable[..., Any]
    make_space: Callable[..., Any]
    space_options: dict[str, Any]
    input_shape: tuple[int, int, int]
    options: dict[str, Any] = field(default_factory=dict)


SETUPS: dict[str, Setup] = {
    "DARTS": Setup(DARTS, spaces.darts.space, {**spaces.darts.SMALL, "image_size": 8, "in_channels": 1}, (1, 8, 8),
                   {"order": 1, "batch_size": 64, "lr": 0.05, "arch_lr": 3e-3}),
    "SPOS": Setup(SPOS, spaces.spos.space, dict(spaces.spos.SMALL), (3, 32, 32),
                  {"batch_size": 64, "lr": 0.05, "search_budget": 100, "population": 20, "top_k": 5,
                   "mutations": 10, "crossovers": 10}),
    "ProxylessNAS": Setup(ProxylessNAS, spaces.proxyless.space, dict(spaces.proxyless.SMALL), (3, 32, 32),
                          {"batch_size": 64, "arch_lr": 3e-3, "latency_weight": 0.0, "warmup_epochs": 1,
                           "arch_every": 1}),
}

DEFAULTS = {"seeds": 3, "epochs": 4, "retrain_epochs": 8, "limit": None}
QUICK = {"seeds": 1, "epochs": 1, "retrain_epochs": 1, "limit": 500}


def strategy_options(setup: Setup, seed: int, epochs: int) -> dict[str, Any]:
    """The keyword arguments of the strategy."""
    return {**setup.options, "seed": seed, "epochs": epochs, "progress": False}


def retrain(space: Any, arch: Any, data: Any, epochs: int, seed: int) -> dict[str, Any]:
    """Train ``space.to_graph(arch)`` from scratch; its accuracies, parameter count and time."""
    result = train(space.to_graph(arch), data, epochs=epochs, seed=seed, progress=False, **RETRAIN)
    return {"arch": space.encode(arch), "test_accuracy": result.test_accuracy, "val_accuracy": result.val_accuracy,
            "best_epoch": result.best_epoch, "params": sum(p.numel() for p in result.model.parameters()),
            "train_seconds": result.train_seconds, "diverged": result.diverged}


def one_run(name: str, data: Any, seed: int, epochs: int, retrain_epochs: int) -> dict[str, Any]:
    """Search with ``seed``, retrain the found and a random architecture; an exception is recorded, not raised."""
    setup = SETUPS[name]
    run: dict[str, Any] = {"strategy": name, "seed": seed}
    phase, start = "search", time.perf_counter()
    try:
        space = setup.make_space(**setup.space_options)
        fitted = fit_input(data, setup.input_shape)
        result = setup.strategy(space, **strategy_options(setup, seed, epochs)).search(fitted)
        run.update(search_seconds=time.perf_counter() - start, search_reason=result.reason)
        if "best_score" in result.details:
            run["inherited_val_accuracy"] = result.details["best_score"]
        phase = "retraining the found architecture"
        run["found"] = retrain(space, result.arch, fitted, retrain_epochs, seed)
        phase = "retraining the random architecture"
        arch = space.sample(random.Random(RANDOM_SEED_OFFSET + seed))
        run["random"] = retrain(space, arch, fitted, retrain_epochs, seed)
    except Exception as error:  # a library failure is the result: report it precisely, go on with the others
        frame = traceback.extract_tb(error.__traceback__)[-1]
        run.setdefault("search_seconds", time.perf_counter() - start)
        run["error"] = (f"{type(error).__name__} while {phase}: {error} "
                        f"(raised at {frame.filename}:{frame.lineno} in {frame.name})")
    return run


def mean_std(values: list[float]) -> dict[str, Any]:
    """Mean and sample standard deviation (None for a single value)."""
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else None,
            "n": len(values)}


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per strategy: statistics of the successful runs, and the errors of the failed ones."""
    summary = {}
    for name in dict.fromkeys(run["strategy"] for run in runs):
        ok = [r for r in runs if r["strategy"] == name and "error" not in r]
        errors = [f"seed {r['seed']}: {r['error']}" for r in runs if r["strategy"] == name and "error" in r]
        entry: dict[str, Any] = {"errors": errors}
        if ok:
            diffs = [r["found"]["test_accuracy"] - r["random"]["test_accuracy"] for r in ok]
            entry.update(
                found=mean_std([r["found"]["test_accuracy"] for r in ok]),
                random=mean_std([r["random"]["test_accuracy"] for r in ok]),
                difference=mean_std(diffs),
                search_seconds=mean_std([r["search_seconds"] for r in ok]),
                found_params=mean_std([r["found"]["params"] for r in ok]),
                random_params=mean_std([r["random"]["params"] for r in ok]),
                wins_ties_losses=[sum(d > 0 for d in diffs), sum(d == 0 for d in diffs), sum(d < 0 for d in diffs)])
        summary[name] = entry
    return summary


def _pct(stat: dict[str, Any], signed: bool = False) -> str:
    mean = f"{100 * stat['mean']:+.2f}" if signed else f"{100 * stat['mean']:.2f}"
    return mean if stat["std"] is None else f"{mean} ± {100 * stat['std']:.2f}"


def table(summary: dict[str, Any]) -> str:
    """A markdown table of ``summary`` (accuracies in %)."""
    lines = ["| strategy | found arch test acc (%) | random arch test acc (%) | difference (points) | "
             "found wins/ties/losses | search time (s) | params found / random |", "|---|---|---|---|---|---|---|"]
    for name, s in summary.items():
        if "found" not in s:
            lines.append(f"| {name} | failed: {'; '.join(s['errors'])} | | | | | |")
            continue
        params = f"{s['found_params']['mean'] / 1e3:.1f}k / {s['random_params']['mean'] / 1e3:.1f}k"
        failed = f" ({len(s['errors'])} failed)" if s["errors"] else ""
        lines.append(f"| {name}{failed} | {_pct(s['found'])} | {_pct(s['random'])} | {_pct(s['difference'], True)} | "
                     f"{'/'.join(map(str, s['wins_ties_losses']))} | {s['search_seconds']['mean']:.0f} | {params} |")
    return "\n".join(lines)


def describe(run: dict[str, Any]) -> str:
    """One progress line for a finished run."""
    head = f"{run['strategy']} seed {run['seed']}: search {run['search_seconds']:.1f} s"
    if "error" in run:
        return f"{head} FAILED: {run['error']}"
    f, r = run["found"], run["random"]
    return (f"{head}; found {f['arch']} -> test {100 * f['test_accuracy']:.2f}% ({f['params']} params, "
            f"{f['train_seconds']:.1f} s); random -> test {100 * r['test_accuracy']:.2f}% ({r['params']} params, "
            f"{r['train_seconds']:.1f} s)")


def run_all(strategies: list[str], data: Any, config: dict[str, Any], jobs: int) -> list[dict[str, Any]]:
    """Every (strategy, seed) run on ``jobs`` worker processes, printing a line as each ends; in job order."""
    todo = [(name, seed) for name in strategies for seed in range(config["seeds"])]
    start, runs = time.perf_counter(), {}
    with ProcessPoolExecutor(jobs, initializer=torch.set_num_threads, initargs=(1,)) as pool:
        futures = {pool.submit(one_run, name, data, seed, config["epochs"], config["retrain_epochs"]): (name, seed)
                   for name, seed in todo}
        for i, future in enumerate(as_completed(futures), 1):
            runs[futures[future]] = future.result()
            print(f"[{i}/{len(todo)}, {time.perf_counter() - start:.0f} s] {describe(runs[futures[future]])}",
                  flush=True)
    return [runs[job] for job in todo]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, help=f"seeds 0..S-1 (default {DEFAULTS['seeds']}; quick 1)")
    parser.add_argument("--epochs", type=int, help=f"search epochs (default {DEFAULTS['epochs']}; quick 1)")
    parser.add_argument("--retrain-epochs", type=int,
                        help=f"epochs of every retraining (default {DEFAULTS['retrain_epochs']}; quick 1)")
    parser.add_argument("--limit", type=int, help="use only this many digits (stratified; default all 1797; "
                                                  f"quick {QUICK['limit']})")
    parser.add_argument("--strategies", nargs="+", choices=sorted(SETUPS), default=list(SETUPS))
    parser.add_argument("--out", default="oneshot_search.json", help="JSON file for every number")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes, one torch thread each (default 2)")
    parser.add_argument("--quick", action="store_true", help="a smoke check: 1 seed, 1 epoch, 500 digits")
    args = parser.parse_args()
    config = {key: getattr(args, key) if getattr(args, key) is not None else (QUICK if args.quick else DEFAULTS)[key]
              for key in DEFAULTS}
    torch.set_num_threads(1)
    data = load_dataset("digits", seed=0, limit=config["limit"])
    print(f"{data}; {config}", flush=True)
    start = time.perf_counter()
    runs = run_all(args.strategies, data, config, args.jobs)
    summary = summarise(runs)
    print(f"\nDigits, {config['seeds']} seeds, {config['epochs']} search epochs, {config['retrain_epochs']} retraining "
          f"epochs; test accuracy mean ± std over seeds; difference = found − random, paired by seed\n")
    print(table(summary))
    report = {"config": {**config, "strategies": args.strategies, "retrain": RETRAIN,
                         "random_seed_offset": RANDOM_SEED_OFFSET, "dataset": repr(data),
                         "setups": {name: {"space_options": SETUPS[name].space_options,
                                           "input_shape": SETUPS[name].input_shape,
                                           "options": SETUPS[name].options} for name in args.strategies},
                         "torch": torch.__version__, "threads_per_job": 1, "jobs": args.jobs},
              "runs": runs, "summary": summary, "total_seconds": time.perf_counter() - start}
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1, default=str)
    print(f"\nwrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
