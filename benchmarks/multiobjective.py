"""Multi-objective search on tables: hypervolume of the front after 100 and 300 queries.

Two problems, each two objectives from a table (one query = one lookup):

- NAS-Bench-Graph (cora): validation accuracy (max) vs the parameter count
  ``para`` (min), hypervolume to the reference point (0, 4), worse than every
  member of the table. Always run (the table ships with the library).
- NAS-Bench-201 (cifar10): ``valid_accuracy`` (max, %) vs ``params`` (min,
  millions) from a NB201 / NATS-Bench file or CSV the user downloaded
  (``--nb201-table PATH``; nothing is downloaded), hypervolume to (0, 1.6),
  worse than every cell (the largest has 1.53 M parameters). Skipped with a
  note without the file.

Methods, each driven through the same ask/tell loop, over ``--runs`` seeds:

- ``NSGA2``: ours, NSGANet's defaults (population 40, 40 offspring).
- ``random``: ``RandomSearch``.
- ``MnasNet reward``: ``RegularizedEvolution`` (P=20, S=5) on the MnasNet soft
  reward accuracy · (size / target)^-0.07, target the median size of 1,000
  random architectures; its front is that of all points it evaluated.
- ``Optuna NSGA-II``: ``optuna.samplers.NSGAIISampler`` (its defaults:
  population 50) over the space's decisions (one categorical per decision)
  through Optuna's ask/tell interface (a draw the space refuses, such as
  NAS-Bench-Graph's excluded all-skip network, is a failed query, as for our
  strategies, which never draw it). Optuna is a benchmark extra, not a
  dependency: ``pip install optuna``; skipped with a note when absent.

Prints mean ± std of the hypervolume per method and budget, and Welch's t of
NSGA2 against each other method.
``python benchmarks/multiobjective.py --runs 30 [--nb201-table NATS-tss-v1_0-3ffb9-simple]``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from scipy.stats import ttest_ind

from spaces import SpaceError, nasbench201, nasbench_graph
from wiring.search import NSGA2, RandomSearch, RegularizedEvolution, hypervolume, mnasnet_reward

DIRECTIONS = ("max", "min")
BUDGETS = (100, 300)
Point = tuple[float, float]


@dataclass
class Problem:
    """A space and its two table objectives (accuracy to maximise, size to minimise)."""

    title: str
    space: object
    objectives: Callable[[object], Point]
    reference: Point


def nasbench_graph_problem() -> Problem:
    space = nasbench_graph.space(dataset="cora")

    def objectives(arch) -> Point:
        row = space.query(arch)
        return row["valid_perf"], row["para"]

    return Problem("NAS-Bench-Graph cora, accuracy (max) vs para (min)", space, objectives, (0.0, 4.0))


def nasbench201_problem(path: str) -> Problem:
    space = nasbench201.space(table=path)

    def objectives(arch) -> Point:
        row = space.query(arch, dataset="cifar10")
        return row["valid_accuracy"], row["params"]

    return Problem(f"NAS-Bench-201 cifar10 ({path}), valid_accuracy (max) vs params (min)", space, objectives,
                   (0.0, 1.6))


def ours(make: Callable, problem: Problem, budget: int, told: Callable) -> list[Point]:
    strategy = make()
    points = []
    for _ in range(budget):
        arch = strategy.ask()
        point = problem.objectives(arch)
        points.append(point)
        strategy.tell(arch, told(point))
    return points


def optuna_nsga2(problem: Problem, budget: int, seed: int) -> list[Point]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=optuna.samplers.NSGAIISampler(seed=seed))
    space = problem.space
    decisions = space.decisions()
    points = []
    for _ in range(budget):
        trial = study.ask()
        indices = [trial.suggest_categorical(d.name, list(range(len(d.choices)))) for d in decisions]
        try:
            arch = space.from_decisions(indices)
        except SpaceError:  # a draw the space refuses (NAS-Bench-Graph's all-skip network): a failed query
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            continue
        point = problem.objectives(arch)
        points.append(point)
        study.tell(trial, list(point))
    return points


def methods(problem: Problem) -> dict[str, Callable[[int, int], list[Point]]]:
    space = problem.space
    target = statistics.median(problem.objectives(space.sample(random.Random(0)))[1] for _ in range(1000))
    found: dict[str, Callable[[int, int], list[Point]]] = {
        "NSGA2": lambda seed, n: ours(lambda: NSGA2(space, seed=seed), problem, n, lambda p: (p[0], -p[1])),
        "random": lambda seed, n: ours(lambda: RandomSearch(space, seed=seed), problem, n, lambda p: p[0]),
        "MnasNet reward": lambda seed, n: ours(
            lambda: RegularizedEvolution(space, seed=seed, population=20, sample=5), problem, n,
            lambda p: mnasnet_reward(p[0], p[1], target)),
    }
    try:
        import optuna  # noqa: F401
        found["Optuna NSGA-II"] = lambda seed, n: optuna_nsga2(problem, n, seed)
    except ImportError:
        print("Optuna NSGA-II skipped: pip install optuna")
    return found


def compare(problem: Problem, runs: int) -> None:
    """Print the hypervolumes of every method on ``problem`` and NSGA2's Welch t against the others."""
    contenders = methods(problem)
    volumes = {name: {b: [] for b in BUDGETS} for name in contenders}
    seconds = {name: 0.0 for name in contenders}
    for seed in range(runs):
        for name, method in contenders.items():
            start = time.perf_counter()
            points = method(seed, max(BUDGETS))
            seconds[name] += time.perf_counter() - start
            for b in BUDGETS:
                volumes[name][b].append(hypervolume(points[:b], problem.reference, DIRECTIONS))
    print(f"{problem.title}, hypervolume to {problem.reference}, {runs} runs")
    print(f"{'method':<16}" + "".join(f"{f'HV @ {b}':>22}" for b in BUDGETS) + f"{'ms/query':>10}")
    for name in contenders:
        cells = "".join(f"{statistics.mean(v):>13.4f} ± {statistics.stdev(v):.4f}" for v in volumes[name].values())
        print(f"{name:<16}{cells}{1000 * seconds[name] / (runs * max(BUDGETS)):>10.2f}")
    for name in contenders:
        if name != "NSGA2":
            tests = [ttest_ind(volumes["NSGA2"][b], volumes[name][b], equal_var=False) for b in BUDGETS]
            print(f"NSGA2 vs {name}: " + ", ".join(f"@{b} t = {t.statistic:+.2f} (p = {t.pvalue:.2g})"
                                                    for b, t in zip(BUDGETS, tests)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30, help="seeds per method (at least 2)")
    parser.add_argument("--nb201-table", metavar="PATH",
                        help="a NAS-Bench-201 / NATS-Bench topology file or directory, or a CSV "
                             "(see spaces.nasbench201.load_table); without it the NB201 half is skipped")
    args = parser.parse_args()
    if args.runs < 2:
        parser.error(f"--runs must be at least 2 (a standard deviation), got {args.runs}")
    compare(nasbench_graph_problem(), args.runs)
    if args.nb201_table is None:
        print("NAS-Bench-201 skipped: pass --nb201-table PATH (a file you downloaded; nothing is downloaded)")
    else:
        print()
        compare(nasbench201_problem(args.nb201_table), args.runs)


if __name__ == "__main__":
    main()
