"""Every strategy vs random search on NAS-Bench-Graph (tabular: the budget is counted in queries).

For each dataset and strategy, ``--runs`` independent searches (seeds 0..runs-1)
of ``--queries`` table lookups each maximise the validation accuracy; a run's
result is its best validation accuracy and the test accuracy of that
architecture. Prints mean ± std per strategy and dataset (and the difference
to random search), writes JSON results and a plot of the mean test accuracy of
the best-so-far architecture against queries.

    python benchmarks/strategies.py [--datasets cora citeseer pubmed] [--runs 100] [--queries 100] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from spaces import nasbench_graph
from wiring.search import STRATEGIES

SETTINGS = {  # model-based strategies refit every few results to keep 100 runs affordable on 2 cores
    "GridSearch": {"shuffle": True},
    "RegularizedEvolution": {"population": 20, "sample": 10},
    "ConstrainedEvolution": {"population": 20, "top_k": 5, "mutations": 10, "crossovers": 10},
    "Reinforce": {"lr": 0.01},
    "BayesianOptimization": {"initial": 10, "candidates": 50, "refit_every": 10},
    "PredictorSearch": {"initial": 10, "candidates": 50, "epochs": 40, "refit_every": 15},
}


def one_run(dataset: str, name: str, seed: int, queries: int) -> list[tuple[float, float]]:
    """After each query: (best validation accuracy so far, test accuracy of that best-by-validation architecture)."""
    torch.set_num_threads(1)
    space = nasbench_graph.space(dataset=dataset)
    strategy = STRATEGIES[name](space, seed=seed, **SETTINGS.get(name, {}))
    best_valid, best_test, curve = -1.0, 0.0, []
    for _ in range(queries):
        arch = strategy.ask()
        row = space.query(arch)
        strategy.tell(arch, row["valid_perf"])
        if row["valid_perf"] > best_valid:
            best_valid, best_test = row["valid_perf"], row["perf"]
        curve.append((best_valid, best_test))
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["cora", "citeseer", "pubmed"])
    parser.add_argument("--strategies", nargs="+", default=sorted(STRATEGIES))
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument("--out", type=Path, default=Path("benchmark-results"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, list[list[float]]]] = {}
    start = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        for dataset in args.datasets:
            futures = {name: [pool.submit(one_run, dataset, name, seed, args.queries) for seed in range(args.runs)]
                       for name in args.strategies}
            results[dataset] = {name: [f.result() for f in fs] for name, fs in futures.items()}
            table = {name: [curve[-1] for curve in curves] for name, curves in results[dataset].items()}
            print(f"\n{dataset}: after {args.queries} queries, mean ± std over {args.runs} runs: best validation "
                  f"accuracy found (the target) and the test accuracy of that architecture, in % "
                  f"({time.perf_counter() - start:.0f}s so far)")
            random_valid = statistics.fmean(v for v, _ in table["RandomSearch"])
            random_test = statistics.fmean(t for _, t in table["RandomSearch"])
            for name, finals in sorted(table.items(), key=lambda kv: -statistics.fmean(v for v, _ in kv[1])):
                valid, test = [100 * v for v, _ in finals], [100 * t for _, t in finals]
                print(f"  {name:<22} valid {statistics.fmean(valid):6.2f} ± {statistics.stdev(valid):4.2f} "
                      f"({statistics.fmean(valid) - 100 * random_valid:+5.2f})   test {statistics.fmean(test):6.2f} ± "
                      f"{statistics.stdev(test):4.2f} ({statistics.fmean(test) - 100 * random_test:+5.2f})")
            space = nasbench_graph.space(dataset=dataset)
            print(f"  (best test accuracy in the table: {100 * max(space.query(a)['perf'] for a in space.enumerate()):.2f})",
                  flush=True)
            (args.out / "strategies.json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                                                 "results": results}))
    plot(results, args.out / "strategies.png", args.queries)
    print(f"\nwrote {args.out / 'strategies.json'} and {args.out / 'strategies.png'}")


def plot(results: dict, path: Path, queries: int) -> None:
    fig = Figure(figsize=(5 * len(results), 4), dpi=110)
    FigureCanvasAgg(fig)
    for i, (dataset, by_strategy) in enumerate(results.items()):
        ax = fig.add_subplot(1, len(results), i + 1)
        for name, curves in sorted(by_strategy.items()):
            mean = [100 * statistics.fmean(c[q][1] for c in curves) for q in range(queries)]
            ax.plot(range(1, queries + 1), mean, label=name, linestyle="--" if name == "RandomSearch" else "-")
        ax.set_title(f"NAS-Bench-Graph {dataset}")
        ax.set_xlabel("queries")
        ax.set_ylabel("best-found test accuracy (%), mean over runs")
        ax.grid(alpha=0.3)
    fig.axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)


if __name__ == "__main__":
    main()
