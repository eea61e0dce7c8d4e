"""``wiring search`` run: a black-box strategy on a space (:func:`wiring.search.run`), or a one-shot strategy
(:mod:`wiring.cli.oneshot`)."""

from __future__ import annotations

import argparse
from typing import Any

import spaces

from ..errors import GraphError
from ..search import STRATEGIES, SearchError, make_executor, run
from ..search.evaluators import TabularEvaluator, TrainingEvaluator
from ..search.objectives import parse_objectives
from . import oneshot
from .args import assignments
from .search import BLACK_BOX_ONLY, ONE_SHOT_ONLY, STRATEGY_NAMES


def build_space(args: argparse.Namespace) -> Any:
    """The space of ``--space``: SMALL unless ``--full``, then ``--option`` values."""
    module = getattr(spaces, args.space)
    options = {**({} if args.full else module.SMALL), **assignments(args.option, "--option")}
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


def _black_box(args: argparse.Namespace) -> int:
    space = build_space(args)
    strategy = STRATEGIES[STRATEGY_NAMES[args.strategy]](space, seed=args.seed)
    if args.space == "nasbench_graph":
        objective: Any = TabularEvaluator(space)
    else:
        objective = TrainingEvaluator(space, dataset=args.dataset, epochs=args.epochs,
                                      data_fraction=args.data_fraction, seed=args.seed, optimizer="adam", lr=0.01)
    objectives = None if args.objectives is None else parse_objectives(args.objectives)
    if objectives is not None:
        objective = WithAccuracy(objective)
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


class WithAccuracy:
    """An evaluator whose result also names its score ``accuracy`` (what ``--objectives`` calls it)."""

    def __init__(self, evaluator: Any) -> None:
        self.evaluator = evaluator

    def __call__(self, arch: Any) -> dict[str, Any]:
        result = dict(self.evaluator(arch))
        return {**result, "accuracy": result["score"]}
