"""``wiring search``: any strategy on any space, recorded in a resumable SQLite storage."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import spaces

from ..data import DATASETS
from ..errors import GraphError
from ..search import STRATEGIES, make_executor, run
from ..search.evaluators import TabularEvaluator, TrainingEvaluator
from .args import assignments

STRATEGY_NAMES = {name.lower(): name for name in STRATEGIES}


def add_parser(commands: Any, formatter: Any) -> None:
    p = commands.add_parser(
        "search", formatter_class=formatter, help="search a space with a strategy (resumable)",
        description="Run a black-box strategy on a search space. Candidates are trained on an embedded dataset "
                    "(images fitted to the space's input), or looked up in the benchmark table for "
                    "nasbench_graph. Every trial is recorded in --storage; run the same command again to continue "
                    "a stopped search.")
    p.add_argument("--space", required=True, choices=spaces.SPACES, help="search space")
    p.add_argument("--strategy", default="regularizedevolution", choices=sorted(STRATEGY_NAMES),
                   help="search strategy")
    p.add_argument("--budget", type=int, default=20, help="trials in all (a continued storage counts its own)")
    p.add_argument("--storage", type=Path, help="SQLite file recording every trial (default: in memory)")
    p.add_argument("--seed", type=int, default=0, help="strategy seed (same seed, same trajectory)")
    p.add_argument("--full", action="store_true", help="the space at its default (paper) size, not SMALL")
    p.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                   help="space option, e.g. --option channels=8 (repeatable)")
    p.add_argument("--dataset", default="digits", choices=sorted(DATASETS), help="training data")
    p.add_argument("--epochs", type=int, default=2, help="training epochs per candidate")
    p.add_argument("--data-fraction", type=float, default=1.0, help="fraction of the training split used")
    p.add_argument("--executor", default="inline", choices=("inline", "process", "ray"),
                   help="where trials run: in-process, a local process pool, or Ray (loopback unless --ray-address)")
    p.add_argument("--workers", type=int, default=2, help="workers of the process pool or Ray")
    p.add_argument("--ray-address", help="address of an existing Ray cluster")
    p.add_argument("--timeout", type=float, help="seconds per trial")
    p.add_argument("--plot", type=Path, help="write best-so-far vs trials to this PNG")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=search)


def search(args: argparse.Namespace) -> int:
    module = getattr(spaces, args.space)
    options = {**({} if args.full else module.SMALL), **assignments(args.option, "--option")}
    try:
        space = module.space(**options)
    except TypeError as error:
        raise GraphError(f"space {args.space!r}: {error}") from None
    strategy = STRATEGIES[STRATEGY_NAMES[args.strategy]](space, seed=args.seed)
    if args.space == "nasbench_graph":
        objective: Any = TabularEvaluator(space)
    else:
        objective = TrainingEvaluator(space, dataset=args.dataset, epochs=args.epochs,
                                      data_fraction=args.data_fraction, seed=args.seed, optimizer="adam", lr=0.01)
    executor = None if args.executor == "inline" else make_executor(args.executor, args.workers,
                                                                       address=args.ray_address)
    try:
        result = run(strategy, objective, budget=args.budget, storage=args.storage, executor=executor,
                     timeout=args.timeout, progress=not args.quiet)
    finally:
        if executor is not None:
            executor.shutdown()
    print(result.table(limit=10, sort="score"))
    best = result.best
    if best is not None:
        print(f"\nbest: {best.encoding}  score {best.score:.4f}")
    if args.plot:
        result.plot(args.plot)
        print(f"wrote {args.plot}")
    return 0
