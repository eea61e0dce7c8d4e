"""Multi-objective search on NAS-Bench-Graph (cora): hypervolume of the front after 100 and 300 queries.

Objectives: the table's validation accuracy (max) and its parameter count
``para`` (min); hypervolume against the reference point (accuracy 0, para 4),
worse than every member of the table. Methods, each driven through the same
ask/tell loop (one query = one table lookup), over ``--runs`` seeds:

- ``NSGA2``: ours, NSGANet's defaults (population 40, 40 offspring).
- ``random``: ``RandomSearch``.
- ``MnasNet reward``: ``RegularizedEvolution`` (P=20, S=5) on the MnasNet soft
  reward accuracy · (para / target)^-0.07, target the table's median ``para``;
  its front is that of all points it evaluated.
- ``Optuna NSGA-II``: ``optuna.samplers.NSGAIISampler`` (its defaults:
  population 50) over the space's decisions (one categorical per decision)
  through Optuna's ask/tell interface (a draw of the excluded all-skip network
  is a failed query, as for our strategies, which never draw it). Optuna is a benchmark extra, not a
  dependency: ``pip install optuna``; skipped with a note when absent.

Prints mean ± std of the hypervolume per method and budget, and Welch's t of
NSGA2 against each other method. ``python benchmarks/multiobjective.py --runs 30``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

from scipy.stats import ttest_ind

from spaces import SpaceError, nasbench_graph
from wiring.search import NSGA2, RandomSearch, RegularizedEvolution, hypervolume, mnasnet_reward

REFERENCE = (0.0, 4.0)
DIRECTIONS = ("max", "min")
BUDGETS = (100, 300)


def objectives(space, arch) -> tuple[float, float]:
    row = space.query(arch)
    return row["valid_perf"], row["para"]


def ours(make: Callable, space, budget: int, told: Callable) -> list[tuple[float, float]]:
    strategy = make()
    points = []
    for _ in range(budget):
        arch = strategy.ask()
        point = objectives(space, arch)
        points.append(point)
        strategy.tell(arch, told(point))
    return points


def optuna_nsga2(space, budget: int, seed: int) -> list[tuple[float, float]]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=optuna.samplers.NSGAIISampler(seed=seed))
    decisions = space.decisions()
    points = []
    for _ in range(budget):
        trial = study.ask()
        indices = [trial.suggest_categorical(d.name, list(range(len(d.choices)))) for d in decisions]
        try:
            arch = space.from_decisions(indices)
        except SpaceError:  # the all-skip network, which the benchmark excludes: a failed query
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            continue
        point = objectives(space, arch)
        points.append(point)
        study.tell(trial, list(point))
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30, help="seeds per method")
    args = parser.parse_args()
    space = nasbench_graph.space(dataset="cora")
    target = statistics.median(objectives(space, space.sample(random.Random(0)))[1] for _ in range(1000))
    methods: dict[str, Callable[[int, int], list]] = {
        "NSGA2": lambda seed, n: ours(lambda: NSGA2(space, seed=seed), space, n, lambda p: (p[0], -p[1])),
        "random": lambda seed, n: ours(lambda: RandomSearch(space, seed=seed), space, n, lambda p: p[0]),
        "MnasNet reward": lambda seed, n: ours(
            lambda: RegularizedEvolution(space, seed=seed, population=20, sample=5), space, n,
            lambda p: mnasnet_reward(p[0], p[1], target)),
    }
    try:
        import optuna  # noqa: F401
        methods["Optuna NSGA-II"] = lambda seed, n: optuna_nsga2(space, n, seed)
    except ImportError:
        print("Optuna NSGA-II skipped: pip install optuna")
    volumes = {name: {b: [] for b in BUDGETS} for name in methods}
    seconds = {name: 0.0 for name in methods}
    for seed in range(args.runs):
        for name, method in methods.items():
            start = time.perf_counter()
            points = method(seed, max(BUDGETS))
            seconds[name] += time.perf_counter() - start
            for b in BUDGETS:
                volumes[name][b].append(hypervolume(points[:b], REFERENCE, DIRECTIONS))
    print(f"NAS-Bench-Graph cora, accuracy (max) vs para (min), hypervolume to {REFERENCE}, {args.runs} runs")
    print(f"{'method':<16}" + "".join(f"{f'HV @ {b}':>22}" for b in BUDGETS) + f"{'ms/query':>10}")
    for name in methods:
        cells = "".join(f"{statistics.mean(v):>13.4f} ± {statistics.stdev(v):.4f}" for v in volumes[name].values())
        print(f"{name:<16}{cells}{1000 * seconds[name] / (args.runs * max(BUDGETS)):>10.2f}")
    for name in methods:
        if name != "NSGA2":
            tests = [ttest_ind(volumes["NSGA2"][b], volumes[name][b], equal_var=False) for b in BUDGETS]
            print(f"NSGA2 vs {name}: " + ", ".join(f"@{b} t = {t.statistic:+.2f} (p = {t.pvalue:.2g})"
                                                    for b, t in zip(BUDGETS, tests)))


if __name__ == "__main__":
    main()
