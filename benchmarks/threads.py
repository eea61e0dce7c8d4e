"""Torch threads for small networks (issue 13): torch's default vs 1 thread vs the library's measured choice.

For each network, ``--epochs`` training epochs on digits (SGD with momentum,
cross-entropy, shuffled, the batch size shown; no evaluation) of a fresh deep
copy of the same compiled model, run four ways:

- ``default``: torch's default thread count (what a fresh process starts with: all the cores);
- ``1 thread``;
- ``choose``: :func:`wiring.threads.choose_threads` on the first training batch
  (measured afresh in every run, on a copy of the model), then the epochs with
  its pick; the time includes the measurement;
- ``tuner``: a :class:`wiring.threads.ThreadTuner` around every step: the
  first steps (5 to 8) follow the same schedule as real training steps, the
  rest run with its choice.

The four run in alternating rounds (the order rotated each round) so that a
change of the machine's load falls on all of them; medians of ``--reps``
rounds and their ratios to ``default`` are printed, with the picks made, and
the median cost of ``choose_threads`` itself, in ms and as a share of the
``1 thread`` run and of the main job's training of one network (``wiring
compare``: 8 epochs).

Networks: the main job's (``randwire.cifar``, C=16, N=16, batch 64 as ``wiring
compare`` trains it), issue 13's (``randwire.cifar``, C=8, N=6, batch 128), a
NAS-Bench-201 network of one cell per stage at C=8 and a 5-cell DARTS_V2
network at C=8 (both batch 128).

    python benchmarks/threads.py [--reps 5] [--epochs 1] [--only randwire-issue13,darts] [--busy 1]

``--busy K`` runs K other processes that keep one core each busy (a Python
loop) while it measures: "other work running", reproducibly.

Results depend on the load of the machine: with other work running, 2 threads
can lose badly to 1 (the issue's 1.38 s against 0.19 s for one step); on an
idle machine they may win a little. That is why the choice is measured.
"""

from __future__ import annotations

import argparse
import copy
import multiprocessing
import os
import signal
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

import wiring
from spaces import darts, randwire
from spaces.nasbench201 import NasBench201Space
from wiring.data import Dataset, load_dataset
from wiring.search.evaluators import fit_input
from wiring.threads import ThreadTuner, available_cores, choose_threads, using_threads

DEFAULT_THREADS = torch.get_num_threads()  # torch's default: read before anything changes it
MAIN_JOB_EPOCHS = 8  # wiring compare's default --epochs

NB201_ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


@dataclass
class Case:
    name: str
    build: Callable[[Dataset], tuple[nn.Module, Dataset]]
    batch_size: int


def randwire_net(channels: int, nodes: int) -> Callable[[Dataset], tuple[nn.Module, Dataset]]:
    def build(data: Dataset) -> tuple[nn.Module, Dataset]:
        G = randwire.cifar(channels=channels, nodes=nodes, seed=0, num_classes=data.num_classes,
                           in_channels=data.input_shape[0], image_size=data.input_shape[1])
        return wiring.compile(G, seed=0), data
    return build


def nasbench201_net(data: Dataset) -> tuple[nn.Module, Dataset]:
    space = NasBench201Space(channels=8, cells_per_stage=1, image_size=8)
    G = space.to_graph(space.decode(NB201_ARCH))
    return wiring.compile(G, seed=0), fit_input(data, (3, 8, 8))


def darts_net(data: Dataset) -> tuple[nn.Module, Dataset]:
    G = darts.network(darts.GENOTYPES["DARTS_V2"], channels=8, layers=5, num_classes=data.num_classes,
                      image_size=data.input_shape[1], in_channels=data.input_shape[0])
    return wiring.compile(G, seed=0), data


CASES = {
    "randwire-main-job": Case("randwire.cifar C=16 N=16 (wiring compare)", randwire_net(16, 16), 64),
    "randwire-issue13": Case("randwire.cifar C=8 N=6 (issue 13)", randwire_net(8, 6), 128),
    "nasbench201": Case("nasbench201 C=8, 1 cell/stage", nasbench201_net, 128),
    "darts": Case("DARTS_V2 C=8, 5 cells", darts_net, 128),
}


def epoch(model: nn.Module, data: Dataset, batch_size: int, epochs: int, tuner: ThreadTuner | None = None) -> None:
    """``epochs`` passes of SGD over the shuffled training set (``model`` is trained in place)."""
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    shuffle = torch.Generator().manual_seed(0)
    n = len(data.y_train)
    for _ in range(epochs):
        order = torch.randperm(n, generator=shuffle)
        for i in range(0, n, batch_size):
            index = order[i:i + batch_size]
            with tuner.step() if tuner is not None else nullcontext():
                opt.zero_grad(set_to_none=True)
                output = model(data.x_train[index])
                F.cross_entropy(output[0] if isinstance(output, tuple) else output, data.y_train[index]).backward()
                opt.step()


def measure(case: Case, data: Dataset, reps: int, epochs: int) -> dict:
    model, fitted = case.build(data)
    x, y = fitted.x_train[:case.batch_size], fitted.y_train[:case.batch_size]
    picks: dict[str, Counter[int]] = {"choose": Counter(), "tuner": Counter()}
    choose_seconds: list[float] = []

    def fixed(threads: int) -> Callable[[nn.Module], None]:
        def run(copy_: nn.Module) -> None:
            with using_threads(threads):
                epoch(copy_, fitted, case.batch_size, epochs)
        return run

    def choose(copy_: nn.Module) -> None:
        with using_threads(DEFAULT_THREADS):  # what the measurement starts from: torch's setting
            start = time.perf_counter()
            pick = choose_threads(copy_, x, y)
            choose_seconds.append(time.perf_counter() - start)
            picks["choose"][pick] += 1
            with using_threads(pick):
                epoch(copy_, fitted, case.batch_size, epochs)

    def tuned(copy_: nn.Module) -> None:
        with using_threads(DEFAULT_THREADS):
            tuner = ThreadTuner()
            epoch(copy_, fitted, case.batch_size, epochs, tuner)
            picks["tuner"][tuner.choice] += 1

    runs = {"default": fixed(DEFAULT_THREADS), "1 thread": fixed(1), "choose": choose, "tuner": tuned}
    for fn in runs.values():  # warm-up
        fn(copy.deepcopy(model))
    for counter in picks.values():
        counter.clear()
    choose_seconds.clear()
    times: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for r in range(reps):
        for name in names[r % len(names):] + names[:r % len(names)]:
            fresh = copy.deepcopy(model)
            start = time.perf_counter()
            runs[name](fresh)
            times[name].append(time.perf_counter() - start)
    return {"medians": {n: statistics.median(t) for n, t in times.items()}, "picks": picks,
            "choose": statistics.median(choose_seconds)}


def spin() -> None:
    """Other work: keeps one core busy until terminated."""
    while True:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=5, help="alternating rounds per network (medians reported)")
    parser.add_argument("--epochs", type=int, default=1, help="training epochs per run")
    parser.add_argument("--busy", type=int, default=0, help="other processes keeping a core busy meanwhile")
    parser.add_argument("--only", default=",".join(CASES), help=f"comma-separated subset of {', '.join(CASES)}")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in CASES]
    if unknown:
        parser.error(f"unknown network(s) {unknown}; choose from {', '.join(CASES)}")
    data = load_dataset("digits")
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(1))  # a timeout's kill still stops the spinners
    busy = [multiprocessing.get_context("spawn").Process(target=spin, daemon=True) for _ in range(args.busy)]
    for process in busy:
        process.start()
    try:
        report(args, chosen, data)
    finally:
        for process in busy:
            process.terminate()
            process.join()


def report(args: argparse.Namespace, chosen: list[str], data: Dataset) -> None:
    print(f"torch {torch.__version__}, {available_cores()} cores, torch's default {DEFAULT_THREADS} threads, "
          f"{args.busy} busy process(es) besides, load average {os.getloadavg()[0]:.2f}; {args.epochs} epoch(s) of "
          f"digits ({len(data.y_train)} images) per run, medians of {args.reps} alternating rounds\n")
    print(f"{'network':<42} {'batch':>5} {'default s':>9} {'1 thr s':>8} {'choose s':>8} {'tuner s':>8} "
          f"{'1/def':>6} {'cho/def':>7} {'tun/def':>7} {'choose picks':>12} {'tuner picks':>11} {'choose ms':>9} "
          f"{'of 1 thr':>8} {'of 8 ep.':>8}")
    for name in chosen:
        case = CASES[name]
        result = measure(case, data, args.reps, args.epochs)
        m, choose = result["medians"], result["choose"]
        picks = {k: " ".join(f"{n}:{c}" for n, c in sorted(v.items())) for k, v in result["picks"].items()}
        per_epoch = m["1 thread"] / args.epochs
        print(f"{case.name:<42} {case.batch_size:>5} {m['default']:>9.3f} {m['1 thread']:>8.3f} {m['choose']:>8.3f} "
              f"{m['tuner']:>8.3f} {m['1 thread'] / m['default']:>6.2f} {m['choose'] / m['default']:>7.2f} "
              f"{m['tuner'] / m['default']:>7.2f} {picks['choose']:>12} {picks['tuner']:>11} {choose * 1e3:>9.1f} "
              f"{choose / m['1 thread']:>8.1%} {choose / (MAIN_JOB_EPOCHS * per_epoch):>8.1%}", flush=True)
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}. 'choose' includes choose_threads (measured afresh "
          "in each run); 'picks' count the thread counts chosen over the rounds; 'of 1 thr' / 'of 8 ep.' is "
          "choose_threads' cost as a share of the 1-thread run / of 8 epochs at 1 thread (the main job's training "
          "of one network).")


if __name__ == "__main__":
    main()
