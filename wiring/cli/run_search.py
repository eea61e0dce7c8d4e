"""``wiring search`` run: a black-box strategy on a space (:func:`wiring.search.run`), or a one-shot strategy
(:mod:`wiring.cli.oneshot`)."""

from __future__ import annotations

import argparse
import inspect
import sys
from typing import Any

import spaces

from ..errors import GraphError
from ..search import STRATEGIES, SearchError, make_executor, run
from ..search.evaluators import TabularEvaluator, TrainingEvaluator
from ..search.objectives import parse_objectives
from ..search.storage import Storage
from . import oneshot
from .args import assignments, dataset_of, load_data
from .params import strategy_params
from .search import BLACK_BOX_ONLY, ONE_SHOT_ONLY, STRATEGY_NAMES


def build_space(args: argparse.Namespace, num_classes: int | None = None) -> Any:
    """The space of ``--space``: SMALL unless ``--full``, then ``--option`` values; a space with a
    ``num_classes`` option gets the dataset's ``num_classes`` unless ``--option`` sets it."""
    module = getattr(spaces, args.space)
    options = {**({} if args.full else module.SMALL), **assignments(args.option, "--option")}
    if num_classes is not None and "num_classes" not in options \
            and "num_classes" in inspect.signature(module.space).parameters:
        options["num_classes"] = num_classes
    try:
        return module.space(**options)
    except TypeError as error:
        raise GraphError(f"space {args.space!r}: {error}") from None


def search(args: argparse.Namespace) -> int:
    if args.strategy in oneshot.STRATEGIES:
        _refuse(args, BLACK_BOX_ONLY, f"the one-shot strategy {args.strategy!r}; set its hyperparameters with "
                                      f"--param NAME=VALUE")
        return oneshot.search(args, build_space)
    _refuse(args, ONE_SHOT_ONLY, f"the black-box strategy {args.strategy!r}")
    return _black_box(args)


def _refuse(args: argparse.Namespace, defaults: dict[str, Any], strategy: str) -> None:
    for name, default in defaults.items():
        if getattr(args, name) != default:
            raise SearchError(f"--{name.replace('_', '-')} does not apply to {strategy}")


FLAGS = {"space": "--space", "seed": "--seed"}
"""Constructor arguments of black-box strategies the CLI sets from its own flags, never from ``--param``."""

RANDOM_START = {
    "RegularizedEvolution": ("population", "population_size", "sample", "sample_size"),
    "ConstrainedEvolution": ("population", "population_size", "top_k", "top_k"),
    "NSGA2": ("population", "population_size", "offspring", "offspring"),
    "BayesianOptimization": ("initial", "initial", None, None),
    "PredictorSearch": ("initial", "initial", None, None),
    "Reinforce": ("batch", "batch", None, None),
}
"""Strategy -> the setting (``--param`` name, attribute) counting the trials it draws before anything it learns
steers a draw: random samples before the first mutation, offspring or model fit (for Reinforce, samples before the
first controller update); and a setting to shrink with it (name, attribute)."""


def _black_box(args: argparse.Namespace) -> int:
    cls = STRATEGIES[STRATEGY_NAMES[args.strategy]]
    params = strategy_params(cls, args.strategy, assignments(args.param, "--param"), FLAGS)
    data = None if args.space == "nasbench_graph" else load_data(args)
    space = build_space(args, None if data is None else data.num_classes)
    strategy = cls(space, seed=args.seed, **params)
    if data is None:
        objective: Any = TabularEvaluator(space)
    else:  # in-process trials reuse the data read here; worker processes read it themselves
        name, path, options = dataset_of(args)
        objective = TrainingEvaluator(space, dataset=data if args.executor == "inline" else name, path=path,
                                      dataset_options=options, epochs=args.epochs, data_fraction=args.data_fraction,
                                      seed=args.seed, optimizer="adam", lr=0.01)
    objectives = None if args.objectives is None else parse_objectives(args.objectives)
    if objectives is not None:
        objective = WithAccuracy(objective)
    # Only a search that will run is warned about: a file that is no search storage, or several objectives for a
    # single-objective strategy, is refused first (by Storage, by run()), in one line.
    if args.storage is not None and args.storage.exists():
        Storage(args.storage, readonly=True).close()
    refused = objectives is not None and len(objectives) > 1 and not getattr(strategy, "multi_objective", False)
    warning = None if refused else random_start_warning(strategy, args.strategy, args.budget)
    if warning is not None:
        print(f"wiring search: warning: {warning}", file=sys.stderr, flush=True)
    executor = None if args.executor == "inline" else make_executor(args.executor, args.workers,
                                                                       address=args.ray_address)
    try:
        result = run(strategy, objective, budget=args.budget, storage=args.storage, executor=executor,
                     timeout=args.timeout, progress=not args.quiet, objectives=objectives)
    finally:
        if executor is not None:
            executor.shutdown()
    print(result.table(limit=10, sort="score"))
    if objectives is not None:
        front = result.front
        print(f"\nPareto front ({', '.join(f'{n} {d}' for n, d in objectives.items())}): {len(front)} trials")
        for trial in front:
            print(f"  #{trial.number}  " + "  ".join(f"{n} {trial.metrics[n]:.4g}" for n in objectives)
                  + f"  {trial.encoding}")
    best = result.best
    if best is not None:
        print(f"\nbest: {best.encoding}  score {best.score:.4f}")
    if args.plot:
        result.plot_front(args.plot) if objectives is not None else result.plot(args.plot)
        print(f"wrote {args.plot}")
    return 0


def random_start_warning(strategy: Any, name: str, budget: int) -> str | None:
    """One line saying that ``strategy`` learns nothing within ``budget`` trials (a population or initial design
    at least as large as the budget), with the ``--param`` values that would let it; ``None`` when it does."""
    entry = RANDOM_START.get(type(strategy).__name__)
    if entry is None:
        return None
    setting, attribute, companion, companion_attribute = entry
    size = getattr(strategy, attribute)
    if size < budget or budget < 2:  # one trial is a random sample whatever the settings
        return None
    suggested = min(budget - 1, max(2, budget // 5))  # a fifth of the budget; the rest evolves or learns
    hint = f"--param {setting}={suggested}"
    if companion is not None and getattr(strategy, companion_attribute) > suggested:
        hint += f" --param {companion}={max(1, (suggested + 2) // 4)}"  # the paper's ratio, S/P = 25/100
    what = ("its controller is never updated before the last trial" if setting == "batch"
            else "every trial is a random sample")
    return (f"{name}'s {setting} {size} >= --budget {budget}: {what}, so this run is a random search; give it "
            f"fewer, e.g. {hint}")


class WithAccuracy:
    """An evaluator whose result also names its score ``accuracy`` (what ``--objectives`` calls it)."""

    def __init__(self, evaluator: Any) -> None:
        self.evaluator = evaluator

    def __call__(self, arch: Any) -> dict[str, Any]:
        result = dict(self.evaluator(arch))
        return {**result, "accuracy": result["score"]}
