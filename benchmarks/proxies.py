"""Zero-cost proxies against trained accuracy on spaces.nasbench201 (issue 12): Spearman ρ and Kendall τ per proxy.

Draws ``--archs`` distinct NAS-Bench-201 cells (seeded), builds each as a small network (``--channels``, one cell
per stage, 8×8 inputs), trains it on the embedded digits with ``wiring.train`` (``--epochs``, the same seed for
every network) for its test accuracy, and scores it by every proxy of ``wiring.search.proxies`` on one seeded
minibatch of the training split. Prints, per proxy, ρ and τ against the test accuracy (architectures where the
proxy is undefined are left out of its correlation and counted), and the mean milliseconds per architecture.
One process, one torch thread.

    python benchmarks/proxies.py [--archs 200] [--epochs 3] [--channels 8] [--seed 0] [--json rows.json]
                                 [--plot scatter.png]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from typing import Any

import numpy as np
import torch
from scipy import stats

import wiring
from spaces.nasbench201 import NasBench201Space
from wiring import load_dataset, train
from wiring.search.evaluators import fit_input
from wiring.search.proxies import PROXIES, Minibatch, score


def distinct_archs(space: NasBench201Space, count: int, seed: int) -> list[tuple[str, ...]]:
    """``count`` distinct architectures drawn uniformly by ``random.Random(seed)``."""
    rng, seen, archs = random.Random(seed), set(), []
    while len(archs) < count:
        arch = space.sample(rng)
        if arch not in seen:
            seen.add(arch)
            archs.append(arch)
    return archs


def measure(space: NasBench201Space, arch: tuple[str, ...], data: Any, batch: Minibatch, epochs: int,
            seed: int) -> dict[str, Any]:
    """The trained accuracies of ``arch`` and every proxy's value and seconds."""
    G = space.to_graph(arch)
    x, y = batch.fitted(data.input_shape)
    row: dict[str, Any] = {"arch": space.encode(arch)}
    model = wiring.compile(G, seed=seed)
    for name in PROXIES:
        start = time.perf_counter()
        row[name] = score(name, model, x, y, graph=G, seed=seed)
        row[f"{name}_ms"] = 1000 * (time.perf_counter() - start)
    start = time.perf_counter()
    result = train(G, data, epochs=epochs, seed=seed, progress=False)
    row.update(val_accuracy=result.val_accuracy, test_accuracy=result.test_accuracy,
               train_seconds=time.perf_counter() - start)
    return row


def correlations(rows: list[dict[str, Any]], truth: str) -> dict[str, tuple[float, float, int]]:
    """Per proxy: (Spearman ρ, Kendall τ, architectures left out as undefined) against ``truth``."""
    table = {}
    for name in PROXIES:
        pairs = [(r[name], r[truth]) for r in rows if math.isfinite(r[name])]
        if len(pairs) < 3:
            table[name] = (math.nan, math.nan, len(rows) - len(pairs))
            continue
        values, accuracy = (np.array(v, dtype=float) for v in zip(*pairs))
        table[name] = (float(stats.spearmanr(values, accuracy)[0]), float(stats.kendalltau(values, accuracy)[0]),
                       len(rows) - len(pairs))
    return table


def scatter(rows: list[dict[str, Any]], truth: str, path: str) -> None:
    """One panel per proxy: its value (log-scaled where it spans orders of magnitude) against ``truth``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(PROXIES)
    columns = 5
    fig, axes = plt.subplots(math.ceil(len(names) / columns), columns, figsize=(3.2 * columns, 2.6 * 3))
    for ax, name in zip(axes.flat, names):
        pairs = [(r[name], r[truth]) for r in rows if math.isfinite(r[name])]
        values = np.array([p[0] for p in pairs])
        if PROXIES[name].log_scale:
            values = np.sign(values) * np.log1p(np.abs(values))
        ax.scatter(values, [p[1] for p in pairs], s=5)
        ax.set_title(name + (" (log)" if PROXIES[name].log_scale else ""), fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.supylabel(truth)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64, help="the proxies' minibatch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write every architecture's row here")
    parser.add_argument("--plot", help="write a scatter plot of each proxy against the test accuracy here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    space = NasBench201Space(channels=args.channels, cells_per_stage=1, image_size=8)
    data = fit_input(load_dataset("digits", seed=args.seed), (3, 8, 8))
    batch = Minibatch(data, batch_size=args.batch_size, seed=args.seed)
    started = time.perf_counter()
    rows = []
    for i, arch in enumerate(distinct_archs(space, args.archs, args.seed)):
        rows.append(measure(space, arch, data, batch, args.epochs, args.seed))
        if (i + 1) % 25 == 0:
            print(f"{i + 1}/{args.archs} architectures, {time.perf_counter() - started:.0f} s", flush=True)
    accuracy = np.array([r["test_accuracy"] for r in rows])
    print(f"\n{len(rows)} NAS-Bench-201 cells, C={args.channels}, one cell per stage, 8×8 digits, {args.epochs} "
          f"epochs of wiring.train; test accuracy {accuracy.min():.3f}–{accuracy.max():.3f} (mean "
          f"{accuracy.mean():.3f}); {time.perf_counter() - started:.0f} s in all, training "
          f"{np.mean([r['train_seconds'] for r in rows]):.2f} s per network\n")
    print(f"{'proxy':<10} {'Spearman':>9} {'Kendall':>8} {'undefined':>9} {'ms/arch':>8}")
    for name, (rho, tau, undefined) in correlations(rows, "test_accuracy").items():
        ms = np.mean([r[f"{name}_ms"] for r in rows])
        print(f"{name:<10} {rho:>9.3f} {tau:>8.3f} {undefined:>9d} {ms:>8.1f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    if args.plot:
        scatter(rows, "test_accuracy", args.plot)


if __name__ == "__main__":
    main()
