"""Every strategy vs random search on NAS-Bench-Graph (tabular: the budget is counted in queries).

For each dataset and strategy, ``--runs`` independent searches (seeds 0..runs-1)
of ``--queries`` table lookups each maximise the validation accuracy; a run's
result is its best validation accuracy and the test accuracy of that
architecture. Prints mean ± std per strategy and dataset, the difference to
random search with its Welch t statistic (|t| > 3: clearly apart), the
table's own ceiling (the test accuracy of the architectures with the best
validation accuracy) and the correlation of validation and test accuracy over
the table, writes JSON results, a markdown table and a plot of the mean test
accuracy of the best-so-far architecture against queries.

Across datasets, each strategy's t statistics are pooled by Stouffer's method
(Σ t / √k over the k datasets: one number that weighs every dataset equally).

Where validation accuracy predicts test accuracy poorly in the tables
(pubmed r = 0.34, computers 0.73, proteins 0.64), the architectures with the
best validation accuracy test no better than random search's pick, so no
strategy that maximises validation accuracy can beat random search on test
accuracy there; the default datasets are the six where r ≥ 0.9.

Finished (dataset, strategy) results are saved after every dataset and reused
on the next run with the same ``--out`` when their runs, queries, settings and
code (a hash of the strategy's module and the shared strategy base) match
(``--fresh`` ignores them), so an interrupted run loses no finished work and a
changed strategy is run again.

    python benchmarks/strategies.py [--datasets cora citeseer photo physics cs arxiv] [--runs 100] [--queries 100]
                                    [--jobs 2] [--out benchmark-results] [--fresh]
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import math
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from spaces import nasbench_graph
from wiring.search import STRATEGIES
from wiring.search import strategy as strategy_base

SETTINGS = {  # sized for 100 queries; model-based strategies refit every 5 results to keep 100 runs affordable
    "GridSearch": {"shuffle": True},
    "RegularizedEvolution": {"population": 10, "sample": 10, "unique": True},
    "ConstrainedEvolution": {"population": 20, "top_k": 5, "mutations": 10, "crossovers": 10},
    "Reinforce": {"lr": 0.1},
    "BayesianOptimization": {"initial": 10, "candidates": 100, "mutants": 1.0, "refit_every": 5},
    "PredictorSearch": {"initial": 10, "candidates": 100, "mutants": 1.0, "epochs": 40, "refit_every": 5},
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


def welch_t(a: list[float], b: list[float]) -> float:
    """Welch's t statistic of mean(a) − mean(b)."""
    se = math.sqrt(statistics.variance(a) / len(a) + statistics.variance(b) / len(b))
    return (statistics.fmean(a) - statistics.fmean(b)) / se if se else math.inf


def table_facts(dataset: str) -> dict[str, float]:
    """The table's ceiling and how well validation predicts test accuracy over all its architectures."""
    space = nasbench_graph.space(dataset=dataset)
    rows = sorted((space.query(a) for a in space.enumerate()), key=lambda row: -row["valid_perf"])
    valid, test = [r["valid_perf"] for r in rows], [r["perf"] for r in rows]
    top = max(1, len(rows) // 1000)
    return {"correlation": statistics.correlation(valid, test), "top_test": 100 * statistics.fmean(test[:top]),
            "top_count": top, "max_test": 100 * max(test)}


def report(dataset: str, curves: dict[str, list[list[tuple[float, float]]]], queries: int) -> list[str]:
    """Print the dataset's results; return its markdown table rows."""
    finals = {name: ([100 * c[-1][0] for c in runs], [100 * c[-1][1] for c in runs]) for name, runs in curves.items()}
    random_valid, random_test = finals["RandomSearch"]
    facts = table_facts(dataset)
    print(f"\n{dataset}: after {queries} queries, mean ± std over {len(random_test)} runs of the best validation "
          f"accuracy found (the target) and the test accuracy of that architecture, in %; difference to random "
          f"search [Welch t]\n  table: validation/test correlation r = {facts['correlation']:.2f}; the "
          f"{facts['top_count']} best-by-validation architectures test at {facts['top_test']:.2f} on average; "
          f"best test accuracy {facts['max_test']:.2f}")
    rows = []
    for name, (valid, test) in sorted(finals.items(), key=lambda kv: -statistics.fmean(kv[1][1])):
        cells = []
        for values, base in ((valid, random_valid), (test, random_test)):
            diff = statistics.fmean(values) - statistics.fmean(base)
            t = "" if name == "RandomSearch" else f" ({diff:+.2f}) [t={welch_t(values, base):+.1f}]"
            cells.append(f"{statistics.fmean(values):.2f} ± {statistics.stdev(values):.2f}{t}")
        print(f"  {name:<22} valid {cells[0]:<34} test {cells[1]}")
        rows.append(f"| {dataset} | {name} | {cells[0]} | {cells[1]} |")
    return rows


def pooled_t(results: dict[str, dict[str, list]], name: str, column: int) -> float:
    """Stouffer's pooling of the strategy's Welch t against random search over all datasets."""
    ts = [welch_t([c[-1][column] for c in by_name[name]], [c[-1][column] for c in by_name["RandomSearch"]])
          for by_name in results.values()]
    return sum(ts) / math.sqrt(len(ts))


def code_hash(name: str) -> str:
    """A hash of the source the strategy ``name`` runs: its module and the shared strategy base."""
    files = {inspect.getsourcefile(STRATEGIES[name]), inspect.getsourcefile(strategy_base)}
    return hashlib.sha256(b"".join(Path(f).read_bytes() for f in sorted(files))).hexdigest()[:16]


def finished(path: Path, runs: int, queries: int) -> dict[str, dict[str, list]]:
    """Results saved at ``path`` whose runs, queries, strategy settings and code match this run's."""
    if not path.exists():
        return {}
    saved = json.loads(path.read_text())
    if (saved.get("runs"), saved.get("queries")) != (runs, queries):
        return {}
    same = {name for name in STRATEGIES if saved.get("settings", {}).get(name, {}) == SETTINGS.get(name, {})
            and saved.get("code", {}).get(name) == code_hash(name)}
    return {dataset: {name: curves for name, curves in by_name.items() if name in same}
            for dataset, by_name in saved["results"].items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["cora", "citeseer", "photo", "physics", "cs", "arxiv"])
    parser.add_argument("--strategies", nargs="+", default=sorted(STRATEGIES))
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument("--out", type=Path, default=Path("benchmark-results"))
    parser.add_argument("--fresh", action="store_true", help="ignore finished results saved in --out")
    args = parser.parse_args()
    if "RandomSearch" not in args.strategies:
        parser.error("--strategies must include RandomSearch, the baseline")
    args.out.mkdir(parents=True, exist_ok=True)
    saved = {} if args.fresh else finished(args.out / "strategies.json", args.runs, args.queries)
    results: dict[str, dict[str, list[list[tuple[float, float]]]]] = {}
    markdown = ["| dataset | strategy | best validation accuracy found (%) | test accuracy of that architecture (%) |",
                "|---|---|---|---|"]
    start = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        for dataset in args.datasets:
            done = {name: curves for name, curves in saved.get(dataset, {}).items() if name in args.strategies}
            futures = {name: [pool.submit(one_run, dataset, name, seed, args.queries) for seed in range(args.runs)]
                       for name in args.strategies if name not in done}
            if done:
                print(f"\n{dataset}: reusing the saved results of {', '.join(sorted(done))}")
            results[dataset] = {**done, **{name: [f.result() for f in fs] for name, fs in futures.items()}}
            markdown += report(dataset, results[dataset], args.queries)
            print(f"  ({time.perf_counter() - start:.0f}s so far)", flush=True)
            (args.out / "strategies.json").write_text(json.dumps(
                {"runs": args.runs, "queries": args.queries, "settings": SETTINGS,
                 "code": {name: code_hash(name) for name in STRATEGIES}, "results": {**saved, **results}}))
            (args.out / "strategies.md").write_text("\n".join(markdown) + "\n")
    print(f"\nPooled over {len(results)} datasets (Stouffer: Σ t / √k), against random search:")
    markdown += ["", "| strategy | pooled t, validation | pooled t, test |", "|---|---|---|"]
    for name in sorted(set(args.strategies) - {"RandomSearch"}, key=lambda n: -pooled_t(results, n, 1)):
        valid, test = pooled_t(results, name, 0), pooled_t(results, name, 1)
        print(f"  {name:<22} validation t={valid:+.1f}  test t={test:+.1f}")
        markdown.append(f"| {name} | {valid:+.1f} | {test:+.1f} |")
    (args.out / "strategies.md").write_text("\n".join(markdown) + "\n")
    plot(results, args.out / "strategies.png", args.queries)
    print(f"\nwrote {args.out / 'strategies.json'}, {args.out / 'strategies.md'} and {args.out / 'strategies.png'}")


def plot(results: dict, path: Path, queries: int) -> None:
    columns = min(3, len(results))
    rows = math.ceil(len(results) / columns)
    fig = Figure(figsize=(5 * columns, 4 * rows), dpi=110)
    FigureCanvasAgg(fig)
    for i, (dataset, by_strategy) in enumerate(results.items()):
        ax = fig.add_subplot(rows, columns, i + 1)
        low = math.inf
        for name, curves in sorted(by_strategy.items()):
            mean = [100 * statistics.fmean(c[q][1] for c in curves) for q in range(queries)]
            ax.plot(range(1, queries + 1), mean, label=name, linestyle="--" if name == "RandomSearch" else "-")
            low = min(low, mean[min(9, queries - 1)])
        ax.set_ylim(bottom=low)  # from the 10th query on: the first queries of every strategy are random draws
        ax.set_title(f"NAS-Bench-Graph {dataset}")
        ax.set_xlabel("queries")
        ax.set_ylabel("best-found test accuracy (%), mean over runs")
        ax.grid(alpha=0.3)
    fig.axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)


if __name__ == "__main__":
    main()
