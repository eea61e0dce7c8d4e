"""``wiring search`` run: a black-box strategy on a space (:func:`wiring.search.run`), or a one-shot strategy
(:mod:`wiring.cli.oneshot`).

A black-box search prints a :func:`header` (space and its options, strategy, budget, seed; the data and training,
or the benchmark table looked up; where the trials run and are recorded) before its first trial, then the
:func:`trial_table` of the best trials, whose last lines are a :func:`legend` of its columns, the failed trials'
errors and the totals. An option given where it does not apply (:data:`~wiring.cli.search.TRAINING_ONLY` for a
table space, one family's options for the other's strategy) is refused in one line before anything runs."""

from __future__ import annotations

import argparse
import inspect
import sys
import textwrap
from typing import Any

import spaces

from ..errors import GraphError
from ..search import STRATEGIES, SearchError, make_executor, run
from ..search.evaluators import TabularEvaluator, TrainingEvaluator
from ..search.objectives import parse_objectives
from ..search.storage import Storage
from . import oneshot
from .args import assignments, dataset_of, did_you_mean, load_data
from .catalog import TABLE_SPACES
from .params import strategy_params
from .report import announce
from .search import BLACK_BOX_ONLY, ONE_SHOT_ONLY, STRATEGY_NAMES, TRAINING_ONLY


def space_options(args: argparse.Namespace, num_classes: int | None = None) -> dict[str, Any]:
    """The options :func:`build_space` passes to ``spaces.<--space>.space``: SMALL unless ``--full``, then
    ``--option`` values, and ``num_classes`` (the dataset's) where the space takes it and ``--option`` does not
    set it. An option the space does not take is refused in one line naming the space's options (from the
    signature of its ``space`` function; one that takes ``**options`` checks them itself)."""
    module = getattr(spaces, args.space)
    given = assignments(args.option, "--option")
    parameters = inspect.signature(module.space).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        for name in given:
            if name not in parameters:
                raise GraphError(f"--option {name}: space {args.space!r} has no option {name!r}"
                                 f"{did_you_mean(name, parameters)}; its options: {', '.join(parameters)}")
    options = {**({} if args.full else module.SMALL), **given}
    if num_classes is not None and "num_classes" not in options and "num_classes" in parameters:
        options["num_classes"] = num_classes
    return options


def build_space(args: argparse.Namespace, num_classes: int | None = None) -> Any:
    """The space of ``--space`` with :func:`space_options`."""
    try:
        return getattr(spaces, args.space).space(**space_options(args, num_classes))
    except TypeError as error:
        raise GraphError(f"space {args.space!r}: {error}") from None


def search(args: argparse.Namespace) -> int:
    """Refuse the options given where they do not apply (:data:`~wiring.cli.search.BLACK_BOX_ONLY`, ...), fill in
    the defaults of the others, then run the one-shot or black-box search."""
    if args.strategy in oneshot.STRATEGIES:
        _refuse(args, BLACK_BOX_ONLY, f"the one-shot strategy {args.strategy!r}; set its hyperparameters with "
                                      f"--param NAME=VALUE")
        _fill(args, {**TRAINING_ONLY, **ONE_SHOT_ONLY})
        return oneshot.search(args, build_space)
    _refuse(args, ONE_SHOT_ONLY, f"the black-box strategy {args.strategy!r}")
    if args.space in TABLE_SPACES:
        _refuse(args, TRAINING_ONLY, f"--space {args.space}: its trials look each candidate up in the benchmark's "
                                     f"table, with no data and no training")
    _fill(args, {**TRAINING_ONLY, **BLACK_BOX_ONLY})
    return _black_box(args)


def _refuse(args: argparse.Namespace, defaults: dict[str, Any], what: str) -> None:
    for name in defaults:
        if getattr(args, name) is not None:
            raise SearchError(f"--{name.replace('_', '-')} does not apply to {what}")


def _fill(args: argparse.Namespace, defaults: dict[str, Any]) -> None:
    for name, default in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, default)


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
    data = None if args.space in TABLE_SPACES else load_data(args)
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
    recorded = None
    if args.storage is not None and args.storage.exists():
        with Storage(args.storage, readonly=True) as storage:
            recorded = storage.count()
    refused = objectives is not None and len(objectives) > 1 and not getattr(strategy, "multi_objective", False)
    if not refused:
        print(header(args, cls.__name__, space, data, objectives, recorded), flush=True)
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
    print(trial_table(result, table=data is None, epochs=args.epochs, objectives=objectives, width=args.width))
    if objectives is not None:
        front = result.front
        print(f"\nPareto front ({', '.join(f'{n} {d}' for n, d in objectives.items())}): "
              f"{_count(len(front), 'trial')}")
        for trial in front:
            print(f"  #{trial.number}  " + "  ".join(f"{n} {trial.metrics[n]:.4g}" for n in objectives)
                  + f"  {trial.encoding}")
    best = result.best
    if best is not None:
        print(f"\nbest: {best.encoding}  score {best.score:.4f}")
    if args.plot:
        result.plot_front(args.plot) if objectives is not None else result.plot(args.plot)
        print(f"wrote {args.plot}")
    if args.storage is not None:
        announce(args.storage, space)
    return 0


# -- what the search prints -------------------------------------------------------------------------------------


def header(args: argparse.Namespace, strategy: str, space: Any, data: Any, objectives: dict[str, str] | None,
           recorded: int | None) -> str:
    """The lines printed before the trials: what is searched (space and its options, strategy, budget, seed), on
    what (the dataset and its training, or the table looked up) and where the trials go."""
    options = space_options(args, None if data is None else data.num_classes)
    given = ", ".join(f"{k}={v}" for k, v in options.items())
    lines = [f"search   {args.space} with {args.strategy} ({strategy}): budget {_count(args.budget, 'trial')}, "
             f"seed {args.seed}",
             f"space    {'its default size' if args.full else 'SMALL'}{': ' + given if given else ''}"]
    if data is None:
        table = getattr(space, "dataset", None)
        lines.append(f"data     none: each candidate is looked up in the benchmark's table"
                     f"{f' of {table}' if table else ''} (no training)")
    else:
        used = max(data.num_classes, round(args.data_fraction * len(data.y_train)))
        share = "" if used >= len(data.y_train) else f" ({used} used, --data-fraction {args.data_fraction:g})"
        lines.append(f"data     {data.name}: {len(data.y_train)} training{share}, {len(data.y_val)} validation, "
                     f"{len(data.y_test)} test images {'×'.join(map(str, data.input_shape))}, {data.num_classes} "
                     f"classes, fitted to each candidate's input; {args.epochs} epoch(s) per candidate "
                     f"(Adam, lr 0.01)")
    if objectives is not None:
        lines.append(f"goals    {', '.join(f'{n} {d}' for n, d in objectives.items())}")
    where = {"inline": "in this process", "process": f"in a pool of {args.workers} processes",
             "ray": f"on Ray, {args.workers} workers"}[args.executor]
    if args.storage is None:
        stored = "kept in memory"
    elif recorded is None:
        stored = f"recorded in {args.storage} (new)"
    else:
        stored = f"recorded in {args.storage} (continued: {_count(recorded, 'trial')} there already)"
    timeout = "" if args.timeout is None else f", at most {args.timeout:g} s each"
    lines.append(f"trials   run {where}{timeout}, {stored}")
    return "\n".join(textwrap.fill(line, 116, subsequent_indent=" " * 9) for line in lines)


TABLE_LIMIT = 10
"""Rows of the table of trials: the best ones."""

TRAINING_COLUMNS = ("test_accuracy", "params", "macs")
TABLE_COLUMNS = ("test_accuracy", "latency", "para")
"""The metric columns of the table of trials: a training evaluator's (its ``epochs``, ``train_seconds`` and
``stopped`` left out: the epochs are --epochs, the time is ``seconds``), and a benchmark table's (its
``valid_perf`` is the score, its ``perf`` the test accuracy: neither is printed twice)."""
ALIASES = {"perf": "test_accuracy", "valid_perf": "accuracy"}
"""A benchmark table's columns under the names the training evaluator gives the same quantity."""


def trial_table(result: Any, *, table: bool, epochs: int, objectives: dict[str, str] | None = None,
                width: int | None = None) -> str:
    """The best :data:`TABLE_LIMIT` trials of ``result`` as a table: number, status, score, the metrics (one column
    per quantity, :data:`TRAINING_COLUMNS` or :data:`TABLE_COLUMNS`, then any objective the score is not), seconds,
    graph hash and encoding (whole, or cut to ``width`` characters); then a legend of the columns, the failed
    trials' errors and the totals. ``table``: the trials were looked up in a benchmark table."""
    trials = sorted(result.trials, key=lambda t: (t.score is None, -(t.score or 0.0), t.number))
    shown = trials[:TABLE_LIMIT]
    metrics = [m for m in (TABLE_COLUMNS if table else TRAINING_COLUMNS) if any(m in t.metrics for t in trials)]
    for i, (name, direction) in enumerate((objectives or {}).items()):
        column = ALIASES.get(name, name) if table else name
        if (i > 0 or direction == "min") and column not in metrics:  # the first, maximised, is the score
            metrics.append(column)
    header = ["#", "status", "score", *metrics, "seconds", "graph", "encoding"]
    rows = [header] + [[str(t.number), t.status, _cell(t.score), *(_cell(_metric(t, m, table)) for m in metrics),
                        _cell(t.duration, ".3g"), (t.graph_hash or "")[:8], _cut(t.encoding or "", width)]
                       for t in shown]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(legend(metrics, table=table, epochs=epochs, objectives=objectives, width=width))
    failed = [t for t in result.trials if t.status == "failed"]
    for t in failed[:5]:
        lines.append(f"failed #{t.number}: {_last_line(t.error)}")
    if len(failed) > 5:
        lines.append(f"failed: {len(failed) - 5} more (their errors are in the storage)")
    best = result.best
    more = f" (the {len(shown)} best shown)" if len(trials) > len(shown) else ""
    lines.append(f"{len(result.trials)} trials{more}: {len(result.complete)} complete, {len(failed)} failed; "
                 + ("no successful trial" if best is None else f"best #{best.number}: {best.score:.6g} "
                                                               f"({best.encoding})"))
    return "\n".join(lines)


def legend(metrics: list[str], *, table: bool, epochs: int, objectives: dict[str, str] | None = None,
           width: int | None = None) -> str:
    """What each column of :func:`trial_table` is, wrapped to 116 characters."""
    if table:
        accuracy = "the table's validation accuracy (its valid_perf)"
        meanings = {"test_accuracy": "the table's test accuracy (its perf, not printed twice)",
                    "latency": "the table's latency", "para": "the table's parameter count, in millions",
                    "accuracy": accuracy}
    else:
        accuracy = f"validation accuracy after {epochs} epoch(s)"
        meanings = {"test_accuracy": "test accuracy of the same training (the search never sees it)",
                    "params": "parameters of the network", "macs": "its multiply-adds per image",
                    "accuracy": accuracy}
    if objectives:
        first, direction = next(iter(objectives.items()))
        score = f"{first} ({meanings.get(ALIASES.get(first, first) if table else first, first)})" \
            if first != "accuracy" else accuracy
        score = (f"{score}{', negated' if direction == 'min' else ''}: the first of --objectives, which the "
                 f"strategy weighs together")
    else:
        score = f"{accuracy}, which the strategy maximises"
    parts = [f"score = {score}"]
    parts += [f"{m} = {meanings.get(m, f'the objective {m!r}')}" for m in metrics]
    parts += ["seconds = the trial's wall time", "graph = the start of its graph hash (wiring.graph_hash)",
              f"encoding = the architecture (space.encode){'' if width is None else f', cut to {width} characters'}"]
    return textwrap.fill("; ".join(parts), 116, initial_indent="columns: ", subsequent_indent="  ")


def _metric(trial: Any, name: str, table: bool) -> Any:
    """``trial``'s value of the column ``name`` (a table's ``perf`` under ``test_accuracy``, and so on)."""
    if name in trial.metrics:
        return trial.metrics[name]
    if table:
        for column, alias in ALIASES.items():
            if alias == name:
                return trial.metrics.get(column)
    return None


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _cell(value: Any, spec: str = ".6g") -> str:
    if value is None:
        return ""
    if isinstance(value, int):  # bools too
        return str(value)
    if isinstance(value, float):
        return format(value, spec)
    return str(value)


def _cut(text: str, width: int | None) -> str:
    return text if width is None or len(text) <= width else text[:max(width - 1, 0)] + "…"


def _last_line(text: str | None) -> str:
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no error text)"


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
