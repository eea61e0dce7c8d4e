"""The durable trial runner: any ask/tell strategy against any objective, recorded in SQLite.

``run(strategy, objective, budget=100, storage="search.db")`` asks the
strategy for architectures, evaluates ``objective(arch)`` on an executor,
tells the strategy each result and records every trial (encoding, graph hash,
hyperparameters, score and metrics, status, timings, error text) in an
embedded SQLite file, committing each state change at once.

Resuming is deterministic replay. Strategies are deterministic given their
seed and the values told to them, so the storage keeps, for every trial, the
global sequence numbers of its ask and of its tell. Run again on the same
storage with a freshly built strategy (same class, settings, seed and space)
and the runner replays the recorded asks and tells in order: each replayed ask
must propose the recorded encoding (else the storage is refused as written by
a different search setup), each replayed tell gives the recorded value. The
strategy is then exactly where the interrupted search left it: finished trials
are neither lost nor repeated, trials that were running when the process died
are run again, and the search goes on to the same final result as an
uninterrupted run (for a serial search or one in synchronous batches; in
asynchronous parallel mode the completion order, and so the trajectory of an
adaptive strategy, depends on timing anyway). Nothing is unpickled.

See ``docs/search/runner.md`` for executors, time limits and worker setup.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import math
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, Executor, Future, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generators.checks import positive_int
from spaces.base import Space

from ..serialise import structural_hash
from .executors import InlineExecutor, Outcome, ProcessPool, execute_trial, executor_workers
from .objectives import Objectives
from .pareto import hypervolume, pareto_front
from .storage import FORMAT_VERSION, Row, Storage
from .strategy import SearchError

STATUSES = ("complete", "failed", "running", "stopped")
"""``complete``/``failed``: finished. ``running``: in flight (or its process died). ``stopped``: interrupted."""

TIMEOUT_GRACE = 30.0
"""Seconds the driver waits past a trial's time limit for a worker that does not answer before abandoning it."""

GRAPH_HASH_CACHE = 1 << 16
"""Graph hashes one run keeps, by encoding (least recently asked dropped first): an architecture asked again is
not hashed again while its hash is kept. 65,536 entries: every member of NAS-Bench-201 or NAS-Bench-Graph."""

_COMPARED = ("format", "strategy", "settings", "space", "space_settings", "seed", "objective", "objective_settings",
             "objectives", "constraints")
_UNSET = {"objectives": "null", "constraints": "null"}
"""What a storage written before a setup field existed means by its absence."""


# -- records ------------------------------------------------------------------


@dataclass(frozen=True)
class Trial:
    """One recorded trial.

    ``number`` counts asks from 0. ``arch`` is the architecture (decoded from
    ``encoding`` when loaded without the strategy; None where no space was
    given). ``graph_hash`` is ``wiring.graph_hash(space.to_graph(arch))``, or
    None where the space has no graph for it. ``hyperparameters`` is what the
    space's ``hyperparameters(arch)`` reports (:meth:`spaces.base.Space.hyperparameters`:
    a hyperparameter configuration, by default a namedtuple/dataclass
    architecture's fields, else None). ``score`` is None unless ``status`` is
    ``"complete"``; ``metrics`` holds the objective's other dict entries.
    ``started``/``finished`` are wall-clock times (``time.time()``) on the
    worker, ``duration`` its seconds; ``error`` the failure's text.
    """

    number: int
    encoding: str
    status: str
    score: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    graph_hash: str | None = None
    hyperparameters: Any = None
    started: float | None = None
    finished: float | None = None
    duration: float | None = None
    error: str | None = None
    arch: Hashable | None = field(default=None, compare=False)


class SearchResult:
    """What :func:`run` (and :func:`load`) return: the trials, the best one, a table and a plot."""

    def __init__(self, trials: Sequence[Trial], *, storage: Path | None = None, strategy: Any = None,
                 setup: dict[str, str] | None = None) -> None:
        self.trials = list(trials)
        self.storage = storage
        self.strategy = strategy
        self.setup = dict(setup or {})

    def __repr__(self) -> str:
        best = self.best
        where = f", storage={str(self.storage)!r}" if self.storage else ""
        return (f"SearchResult({len(self.trials)} trials, {len(self.complete)} complete, {len(self.failed)} failed, "
                f"best={None if best is None else f'#{best.number} {best.score:.6g}'}{where})")

    def __len__(self) -> int:
        return len(self.trials)

    @property
    def complete(self) -> list[Trial]:
        return [t for t in self.trials if t.status == "complete"]

    @property
    def failed(self) -> list[Trial]:
        return [t for t in self.trials if t.status == "failed"]

    @property
    def best(self) -> Trial | None:
        """The complete trial with the highest score (the earliest on ties; feasible ones first), or None."""
        best = None
        for trial in self.complete:
            if best is None or (-_violation(trial), trial.score) > (-_violation(best), best.score):
                best = trial
        return best

    @property
    def objectives(self) -> dict[str, str] | None:
        """The ``objectives`` the search ran with (name -> ``"max"``/``"min"``), or None for one score."""
        text = self.setup.get("objectives")
        return json.loads(text) if text else None

    @property
    def front(self) -> list[Trial]:
        """The complete feasible trials no other one dominates in :attr:`objectives` (by score for one score)."""
        objectives = self.objectives or {"score": "max"}
        feasible = [t for t in self.complete if _violation(t) == 0]
        return [feasible[i] for i in pareto_front(_points(feasible, objectives), tuple(objectives.values()))]

    def plot_front(self, path: str | os.PathLike[str]) -> Path:
        """Save every trial in the first two :attr:`objectives`, the Pareto front joined, as an image; its path."""
        return _front_plot(self, path)

    def hypervolume(self, reference: Sequence[float]) -> float:
        """The hypervolume of :attr:`front` in :attr:`objectives` up to ``reference`` (one value per objective)."""
        objectives = self.objectives or {"score": "max"}
        return hypervolume(_points(self.front, objectives), reference, tuple(objectives.values()))

    def best_so_far(self) -> list[float | None]:
        """For each trial by number, the best score among trials up to it (None before the first success)."""
        best, curve = None, []
        for trial in self.trials:
            if trial.status == "complete" and (best is None or trial.score > best):
                best = trial.score
            curve.append(best)
        return curve

    def table(self, *, limit: int | None = None, sort: str = "number") -> str:
        """The trials as a plain-text table (``sort="score"``: best first); ``limit`` rows at most."""
        if sort not in ("number", "score"):
            raise SearchError(f"sort must be 'number' or 'score', got sort={sort!r}")
        trials = self.trials
        if sort == "score":
            trials = sorted(trials, key=lambda t: (t.score is None, -(t.score or 0.0), t.number))
        if limit is not None:
            trials = trials[:limit]
        metric_names = sorted({k for t in self.trials for k, v in t.metrics.items() if _scalar(v)})[:4]
        header = ["#", "status", "score", *metric_names, "seconds", "graph", "encoding", "error"]
        rows = [header]
        for t in trials:
            rows.append([str(t.number), t.status, _fmt(t.score), *(_fmt(t.metrics.get(m)) for m in metric_names),
                         _fmt(t.duration, ".3g"), (t.graph_hash or "")[:8], _clip(t.encoding, 40),
                         _clip(_last_line(t.error), 50)])
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        best = self.best
        lines.append(f"{len(self.trials)} trials: {len(self.complete)} complete, {len(self.failed)} failed; "
                     + ("no successful trial" if best is None else f"best #{best.number}: {best.score:.6g} "
                                                                   f"({best.encoding})"))
        return "\n".join(lines)

    def plot(self, path: str | os.PathLike[str]) -> Path:
        """Save the best-so-far score against the trial number (and each trial's score) as an image; its path."""
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6, 4), dpi=100)
        ax = fig.add_subplot()
        complete = self.complete
        ax.scatter([t.number for t in complete], [t.score for t in complete], s=10, alpha=0.4, color="tab:gray",
                   label="trial score")
        failed = self.failed
        if failed and complete:
            low = min(t.score for t in complete)
            ax.scatter([t.number for t in failed], [low] * len(failed), marker="x", s=14, color="tab:red",
                       label="failed")
        curve = self.best_so_far()
        xs = [t.number for t, b in zip(self.trials, curve) if b is not None]
        ys = [b for b in curve if b is not None]
        ax.step(xs, ys, where="post", color="tab:blue", label="best so far")
        ax.set_xlabel("trial")
        ax.set_ylabel("score")
        ax.set_title("search progress")
        ax.grid(True, alpha=0.3)
        if self.trials:
            ax.legend(loc="lower right")
        fig.tight_layout()
        path = Path(path)
        fig.savefig(path)
        return path


def _front_plot(result: SearchResult, path: str | os.PathLike[str]) -> Path:
    """The first two objectives of every complete trial, the feasible Pareto front joined, as an image."""
    from matplotlib.figure import Figure

    objectives = result.objectives
    if not objectives or len(objectives) < 2:
        raise SearchError("plot_front() needs a search run with two or more objectives (run(objectives=...))")
    x, y = list(objectives)[:2]
    fig = Figure(figsize=(6, 4), dpi=100)
    ax = fig.add_subplot()
    feasible = [t for t in result.complete if _violation(t) == 0]
    infeasible = [t for t in result.complete if _violation(t) > 0]
    ax.scatter([t.metrics[x] for t in feasible], [t.metrics[y] for t in feasible], s=12, alpha=0.5,
               color="tab:gray", label="trial")
    if infeasible:
        ax.scatter([t.metrics[x] for t in infeasible], [t.metrics[y] for t in infeasible], s=14, marker="x",
                   color="tab:red", label="infeasible")
    front = sorted(result.front, key=lambda t: t.metrics[x])
    ax.plot([t.metrics[x] for t in front], [t.metrics[y] for t in front], "o-", color="tab:blue",
            label=f"Pareto front ({len(front)})")
    ax.set_xlabel(f"{x} ({objectives[x]})")
    ax.set_ylabel(f"{y} ({objectives[y]})")
    ax.set_title("Pareto front")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    return path


def _points(trials: Sequence[Trial], objectives: Mapping[str, str]) -> list[tuple[float, ...]]:
    """Each trial's values of ``objectives`` (``score`` read from the trial, the others from its metrics)."""
    return [tuple(t.score if name == "score" else t.metrics[name] for name in objectives) for t in trials]


def _violation(trial: Trial) -> float:
    value = trial.metrics.get("violation", 0.0)
    return value if isinstance(value, (int, float)) else 0.0


def _scalar(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fmt(value: Any, spec: str = ".6g") -> str:
    if value is None:
        return ""
    if _scalar(value):
        return format(value, spec)
    return _clip(str(value), 12)


def _clip(text: str | None, width: int) -> str:
    if not text:
        return ""
    return text if len(text) <= width else text[:width - 1] + "…"


def _last_line(text: str | None) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


# -- the setup fingerprint --------------------------------------------------------

_STRATEGY_STATE = {"space", "seed", "rng", "pending", "history", "violations"}


def _qualname(obj: Any) -> tuple[str, str]:
    """``(module, qualified name)`` of a class, function, bound method, partial or callable object."""
    func = getattr(obj, "func", None)  # functools.partial
    if func is not None and hasattr(obj, "args"):
        module, name = _qualname(func)
        return module, f"partial({name})"
    target = obj if hasattr(obj, "__qualname__") else type(obj)
    return getattr(target, "__module__", "?") or "?", target.__qualname__


_SKIP = object()


def settings_of(obj: Any, exclude: set[str], depth: int = 0) -> dict[str, Any]:
    """``obj``'s settings as JSON values: its ``settings()`` if it has one, else its describable public attributes."""
    custom = getattr(obj, "settings", None)
    if callable(custom):
        return json.loads(json.dumps(dict(custom()), sort_keys=True, default=repr))
    values = {}
    for key, value in sorted(vars(obj).items()):
        if key.startswith("_") or key in exclude:
            continue
        described = _describe(value, depth)
        if described is not _SKIP:
            values[key] = described
    return values


def _describe(value: Any, depth: int) -> Any:
    """A JSON value standing for ``value`` (plain data, dataclasses by repr, nested spaces), or ``_SKIP``."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value  # json writes floats exactly (their repr), NaN and inf included
    if isinstance(value, (list, tuple)):
        items = [_describe(v, depth) for v in value]
        return _SKIP if any(v is _SKIP for v in items) else items
    if isinstance(value, dict):
        items = {k: _describe(v, depth) for k, v in value.items()}
        if not all(isinstance(k, str) for k in items) or any(v is _SKIP for v in items.values()):
            return _SKIP
        return items
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return repr(value)
    if depth < 3 and callable(getattr(value, "encode", None)) and callable(getattr(value, "sample", None)):
        module, name = _qualname(type(value))
        return {"class": f"{module}.{name}", **settings_of(value, set(), depth + 1)}
    return _SKIP


def fingerprint(strategy: Any, objective: Callable[[Any], Any]) -> dict[str, str]:
    """The search setup a storage records: what a resumed search must share with the one that wrote it.

    The objective is compared by its qualified name (its module is recorded
    but not compared, so a search started as a script can be resumed from a
    notebook that imports the same function) and, for a callable object or a
    ``functools.partial``, by its settings: its plain public attributes (or
    what its ``settings()`` returns) or the partial's arguments.
    """
    space = strategy.space
    s_module, s_name = _qualname(type(strategy))
    sp_module, sp_name = _qualname(type(space))
    o_module, o_name = _qualname(objective)
    constraint = getattr(space, "constraint", None)
    space_settings = settings_of(space, {"constraint"})
    if constraint is not None:
        space_settings["constraint"] = str(constraint)
    return {
        "format": FORMAT_VERSION,
        "strategy": f"{s_module}.{s_name}",
        "settings": json.dumps(settings_of(strategy, _STRATEGY_STATE), sort_keys=True),
        "space": f"{sp_module}.{sp_name}" + (f" ({space.name})" if isinstance(getattr(space, "name", None), str)
                                             else ""),
        "space_settings": json.dumps(space_settings, sort_keys=True, default=repr),
        "seed": json.dumps(getattr(strategy, "seed", None)),
        "objective": o_name,
        "objective_settings": json.dumps(_objective_settings(objective), sort_keys=True),
        "objective_module": o_module,
    }


def _objective_settings(objective: Any) -> Any:
    """A partial's arguments, or a callable object's settings (as for strategies); nothing for a function."""
    if isinstance(objective, functools.partial):
        described = _describe([list(objective.args), objective.keywords], 0)
        return None if described is _SKIP else described
    if inspect.isfunction(objective) or inspect.ismethod(objective) or inspect.isbuiltin(objective):
        return None
    return (settings_of(objective, set()) if hasattr(objective, "__dict__") else None) or None


# -- the runner -----------------------------------------------------------------


@dataclass
class _Live:
    """A trial this run is responsible for: asked (maybe replayed), not yet told."""

    number: int
    arch: Hashable
    outcome: Outcome | None = None
    future: Future | None = None
    deadline: float | None = None
    counted: bool = False


def run(strategy: Any, objective: Callable[[Any], Any], *, budget: int,
        storage: str | os.PathLike[str] | None = None, executor: Executor | None = None, resume: bool = True,
        batch: int | None = None, parallel: int | None = None, timeout: float | None = None,
        progress: bool = True, graph_hashes: bool = True, objectives: Mapping[str, str] | None = None,
        constraints: Callable[[dict[str, Any]], Sequence[float]] | None = None, time_budget: float | None = None,
        time_metric: str = "time_cost") -> SearchResult:
    """Run ``strategy`` against ``objective`` for ``budget`` trials in all; every trial is recorded in ``storage``.

    Parameters
    ----------
    strategy
        A freshly built ask/tell strategy (``wiring.search.Strategy``); give it
        a ``seed`` so the search can be resumed and reproduced.
    objective
        ``objective(arch) -> float`` or a dict holding ``"score"`` (higher is
        better; other entries are recorded as metrics). A trial that raises,
        returns NaN/±inf or something else, or exceeds ``timeout`` is recorded
        as failed, told to the strategy as ``None``, and the search goes on.
        For a process pool or Ray it must be picklable: a module-level function
        or object of an importable module.
    budget
        Total number of trials the storage should hold (finished and failed),
        counting those of earlier runs on it.
    storage
        Path of the SQLite file (None: in memory). An existing storage is
        continued (``resume=True``) after checking that it was written by the
        same setup (strategy class and settings, space, seed, objective name).
    executor
        Any :class:`concurrent.futures.Executor` (default: in-process, one trial
        at a time). See :mod:`wiring.search.executors`.
    resume
        ``False`` refuses a storage that already holds trials instead of
        continuing it.
    batch
        Synchronous batches of this size: ask ``batch`` trials, evaluate them
        all (in parallel on the executor), tell the results in ask order. The
        trials are then the same on every executor for every strategy. Without
        it, up to ``parallel`` trials are in flight and each is told as it
        finishes.
    parallel
        Trials in flight at once (default: the executor's worker count).
    timeout
        Seconds per trial; see ``docs/search/runner.md`` for how each executor
        enforces it.
    progress
        Show a progress bar (trials done / budget, best so far, failures).
    graph_hashes
        Record ``graph_hash(space.to_graph(arch))`` for every trial (computed without validating the graph,
        :func:`wiring.serialise.structural_hash`: the same value, about ten times faster). The driver
        computes it once per distinct architecture (by encoding; up to
        :data:`GRAPH_HASH_CACHE` kept), so a repeated architecture costs nothing;
        ``False`` skips it.
    objectives
        Several objectives: name -> ``"max"`` or ``"min"``, in order, e.g.
        ``{"accuracy": "max", "params": "min"}``; the objective returns a dict
        holding each. The strategy is told their tuple, each turned so that
        higher is better (a strategy with ``multi_objective``, e.g. ``NSGA2``,
        for more than one); ``score`` holds the first one, turned likewise.
        See :class:`~wiring.search.objectives.Objectives`.
    constraints
        ``constraints(result) -> sequence of numbers``, feasible when every one
        is <= 0 (Optuna's ``constraints_func``): the result gains
        ``"constraints"`` and ``"violation"``, infeasible trials are kept and
        told with their violation, so strategies rank them after feasible ones.
    time_budget
        Stop asking once the finished trials have cost this many seconds (``budget`` still caps the count). A
        trial costs its ``time_metric`` entry where the objective reports one (a table's training time, as
        NAS-Bench-201's ``time_cost``: a simulated clock, as Syne Tune's simulated backend), else its wall-clock
        duration. The trial that crosses the budget is kept; a resumed search counts the stored trials' costs.
    time_metric
        The metric holding a trial's simulated cost in seconds.

    Returns
    -------
    SearchResult
        All trials of the storage (by number), the best, ``table()`` and ``plot(path)``.
    """
    _check_run_args(strategy, objective, budget, batch, parallel, timeout, executor)
    _check_seconds("time_budget", time_budget)
    goals = Objectives(objective, objectives, constraints) if objectives is not None or constraints else None
    if goals is not None and goals.several and not getattr(strategy, "multi_objective", False):
        raise SearchError(f"{type(strategy).__name__} optimises one score; for {len(goals.objectives)} objectives "
                          f"use a multi-objective strategy (NSGA2, RandomSearch) or combine them into one score")
    own_executor = executor is None
    executor = InlineExecutor() if executor is None else executor
    width = parallel if parallel is not None else executor_workers(executor)
    if isinstance(executor, (ProcessPoolExecutor, ProcessPool)):
        _check_picklable(objective)
    store = Storage(storage)
    try:
        driver = _Driver(strategy, objective, store, executor, budget=budget, batch=batch, width=width,
                         timeout=timeout, progress=progress, graph_hashes=graph_hashes, goals=goals,
                         time_budget=time_budget, time_metric=time_metric)
        driver.prepare(resume)
        driver.drive()
        return driver.result()
    finally:
        store.close()
        if own_executor:
            executor.shutdown()


def load_result(storage: str | os.PathLike[str], space: Any = None) -> SearchResult:
    """The :class:`SearchResult` recorded in ``storage`` (read-only; safe while a search writes to it).

    With ``space``, each trial's ``arch`` is decoded from its encoding.
    """
    with Storage(storage, readonly=True) as store:
        rows = store.rows()
        setup = store.meta()
    trials = [_trial(row, None if space is None else space.decode(row.encoding)) for row in rows]
    return SearchResult(trials, storage=Path(storage), setup=setup)


def _trial(row: Row, arch: Hashable | None) -> Trial:
    return Trial(number=row.number, encoding=row.encoding, status=row.status, score=row.score, metrics=row.metrics,
                 graph_hash=row.graph_hash, hyperparameters=row.hyperparameters, started=row.started,
                 finished=row.finished, duration=row.duration, error=row.error, arch=arch)


def _check_run_args(strategy: Any, objective: Any, budget: Any, batch: Any, parallel: Any, timeout: Any,
                    executor: Any) -> None:
    for method in ("ask", "tell"):
        if not callable(getattr(strategy, method, None)):
            raise SearchError(f"strategy must have ask() and tell() (a wiring.search.Strategy), got {strategy!r}")
    space = getattr(strategy, "space", None)
    if space is None or not callable(getattr(space, "encode", None)):
        raise SearchError(f"strategy must have a space with encode(), got space={space!r}")
    if getattr(strategy, "pending", None) or getattr(strategy, "history", None):
        raise SearchError("run() needs a freshly built strategy (this one has already been asked); to continue a "
                          "search, build a new strategy with the same settings and seed and run it on the same "
                          "storage")
    if not callable(objective):
        raise SearchError(f"objective must be callable, got {objective!r}")
    positive_int("budget", budget, error=SearchError)
    positive_int("batch", batch, allow_none=True, error=SearchError)
    positive_int("parallel", parallel, allow_none=True, error=SearchError)
    _check_seconds("timeout", timeout)
    if executor is not None and not isinstance(executor, Executor):
        raise SearchError(f"executor must be a concurrent.futures.Executor, got {executor!r}")


def _check_seconds(name: str, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0
                              or math.isinf(value)):
        raise SearchError(f"{name} must be a positive number of seconds or None, got {name}={value!r}")


def _check_picklable(objective: Any) -> None:
    import pickle

    try:
        pickle.dumps(objective)
    except Exception as error:
        raise SearchError(
            f"objective {objective!r} cannot be pickled, so a process pool cannot run it ({error}); define it as "
            "a module-level function (or object) of an importable module, not a lambda or a local function") from None


class _Driver:
    def __init__(self, strategy: Any, objective: Callable[[Any], Any], store: Storage, executor: Executor, *,
                 budget: int, batch: int | None, width: int, timeout: float | None, progress: bool,
                 graph_hashes: bool, goals: Objectives | None = None, time_budget: float | None = None,
                 time_metric: str = "time_cost") -> None:
        self.strategy = strategy
        self.space = strategy.space
        self.objective = objective if goals is None else goals
        self.goals = goals
        self.time_budget, self.time_metric, self.spent = time_budget, time_metric, 0.0
        self.store = store
        self.executor = executor
        self.budget = budget
        self.batch = batch
        self.width = width
        self.timeout = timeout
        self.graph_hashes = graph_hashes and callable(getattr(self.space, "to_graph", None))
        self.show_progress = progress
        self.setup = fingerprint(strategy, objective)
        self.setup["objectives"] = json.dumps(None if goals is None else goals.objectives)
        self.setup["constraints"] = json.dumps(None if goals is None or goals.constraints is None
                                               else ".".join(_qualname(goals.constraints)))
        self.seq = 0
        self.asked = 0
        self.live: dict[int, _Live] = {}
        self.archs: dict[int, Hashable] = {}
        self.hashes: OrderedDict[str, str | None] = OrderedDict()
        self.best: float | None = None
        self.finished = 0
        self.failures = 0
        self.bar = None

    # -- resume ---------------------------------------------------------------

    def prepare(self, resume: bool) -> None:
        stored = self.store.meta()
        count = self.store.count()
        if count and not resume:
            raise SearchError(f"storage {str(self.store.path)!r} already holds {count} trials; pass resume=True to "
                              "continue that search, or use a new storage")
        if count:
            self._check_setup(stored)
        else:  # a new storage, or one whose search failed before its first trial: nothing to protect
            self.store.set_meta({**self.setup, "created": repr(time.time())})
        self.store.set_meta({"objective_module": self.setup["objective_module"], "batch": json.dumps(self.batch)})
        self._replay(self.store.rows())

    def _check_setup(self, stored: dict[str, str]) -> None:
        where = f"storage {str(self.store.path)!r}" if self.store.path else "the storage"
        for key in _COMPARED:
            old, new = stored.get(key, _UNSET.get(key)), self.setup[key]
            if old != new:
                raise SearchError(f"{where} was written by a different search setup: {key} was {old}, now {new}; "
                                  "use a new storage for a new search")

    def _replay(self, rows: list[Row]) -> None:
        events = sorted([(row.ask_seq, 0, row) for row in rows]
                        + [(row.tell_seq, 1, row) for row in rows if row.tell_seq is not None],
                        key=lambda event: event[0])
        archs: dict[int, Hashable] = {}
        for number, row in enumerate(rows):
            if row.number != number:
                raise SearchError(f"storage {str(self.store.path)!r} is damaged: trial {number} is missing")
            if row.tell_seq is not None and row.status not in ("complete", "failed"):  # only finished trials are told
                raise SearchError(f"storage {str(self.store.path)!r} is damaged: trial {number} is told (tell_seq "
                                  f"{row.tell_seq}) but its status is {row.status!r}, not finished")
        for seq, kind, row in events:
            if kind == 0:
                arch = self.strategy.ask()
                encoding = self.space.encode(arch)
                if encoding != row.encoding:
                    hint = ("; the strategy has seed=None, so its asks cannot be replayed: give it a seed"
                            if getattr(self.strategy, "seed", 0) is None else "")
                    raise SearchError(
                        f"storage {str(self.store.path)!r} was written by a different search setup: trial "
                        f"{row.number} was asked as {row.encoding!r}, but replaying the search now asks "
                        f"{encoding!r} (the strategy, its settings, seed and space must be the same){hint}")
                archs[row.number] = arch
            elif row.number not in archs:
                raise SearchError(f"storage {str(self.store.path)!r} is damaged: trial {row.number} is told (tell_seq "
                                  f"{row.tell_seq}) before it is asked (ask_seq {row.ask_seq})")
            else:
                self._tell_strategy(archs[row.number], row.status, row.score, row.metrics)
        self.archs = archs
        self.seq = max([seq for seq, _, _ in events], default=-1) + 1
        self.asked = len(rows)
        for row in rows:
            if row.status in ("complete", "failed"):
                self.finished += 1
                self.failures += row.status == "failed"
                self.spent += self._charge(row.metrics, row.duration)
                if row.status == "complete" and (self.best is None or row.score > self.best):
                    self.best = row.score
            if row.tell_seq is None:
                live = _Live(row.number, archs[row.number])
                if row.status in ("complete", "failed"):  # finished, not yet told (a batch was interrupted)
                    live.counted = True
                    live.outcome = Outcome(row.status, row.score, row.metrics, row.error, row.started, row.finished,
                                           row.duration)
                else:  # running or stopped when the search was interrupted: run it again
                    self.store.restart(row.number)
                self.live[row.number] = live

    # -- the loop -------------------------------------------------------------

    def drive(self) -> None:
        self._open_bar()
        try:
            if self.batch is None:
                self._drive_async()
            else:
                self._drive_batches()
        except BaseException:
            self._interrupt()
            raise
        finally:
            if self.bar is not None:
                self.bar.close()

    def _drive_async(self) -> None:
        # finished but untold when a batched search was interrupted: tell them first, in ask order
        self._tell([live for live in self._sorted_live() if live.outcome is not None])
        while True:
            while self._in_flight() < self.width:
                waiting = [live for live in self._sorted_live() if live.future is None and live.outcome is None]
                if waiting:
                    self._submit(waiting[0])
                elif self._may_ask():
                    self._submit(self._ask())
                else:
                    break
            if not self.live:
                return
            self._wait()

    def _drive_batches(self) -> None:
        while True:
            if self.live:  # an interrupted batch: complete it up to the batch boundary
                target = min(self.budget, -(-self.asked // self.batch) * self.batch)
            elif self._may_ask():
                target = min(self.budget, self.asked + self.batch)
            else:
                return
            while self.asked < target:
                self._ask()
            members = self._sorted_live()
            while any(live.outcome is None for live in members):
                for live in members:
                    if self._in_flight() >= self.width:
                        break
                    if live.outcome is None and live.future is None:
                        self._submit(live)
                self._wait()
            self._tell(members)

    def _sorted_live(self) -> list[_Live]:
        return [self.live[n] for n in sorted(self.live)]

    def _in_flight(self) -> int:
        return sum(1 for live in self.live.values() if live.future is not None)

    def _ask(self) -> _Live:
        arch = self.strategy.ask()
        encoding = self.space.encode(arch)
        if not isinstance(encoding, str):
            raise SearchError(f"space.encode() must return a str, got {encoding!r}")
        number, seq = self.asked, self._next_seq()
        self.store.insert(number=number, encoding=encoding, graph_hash=self._graph_hash(arch, encoding),
                          hyperparameters=self._hyperparameters(arch), asked=time.time(), ask_seq=seq)
        self.asked += 1
        live = _Live(number, arch)
        self.live[number] = live
        self.archs[number] = arch
        self._bar_total()
        return live

    def _submit(self, live: _Live) -> _Live:
        try:
            live.future = self.executor.submit(execute_trial, self.objective, live.arch, self.timeout)
        except Exception as error:
            hint = ("; the objective and architecture must be picklable for a process pool or Ray: a module-level "
                    "function of an importable module, not a lambda or local function"
                    if "pickl" in f"{type(error).__name__} {error}".lower() else "")
            raise SearchError(f"the executor refused trial {live.number} ({type(error).__name__}: {error}){hint}") \
                from error
        if self.timeout is not None:
            live.deadline = time.monotonic() + self.timeout + max(TIMEOUT_GRACE, self.timeout)
        if live.future.done():  # an inline executor: record at once
            self._collect(live)
        return live

    def _wait(self) -> None:
        """Wait for at least one in-flight trial (or the nearest deadline) and record what finished."""
        running = {live.future: live for live in self.live.values() if live.future is not None}
        if running:
            deadlines = [live.deadline for live in running.values() if live.deadline is not None]
            wait_for = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            wait_futures(list(running), timeout=wait_for, return_when=FIRST_COMPLETED)
            now = time.monotonic()
            for future, live in running.items():
                if future.done():
                    self._collect(live)
                elif live.deadline is not None and now >= live.deadline:
                    future.cancel()
                    self._record(live, Outcome(
                        "failed", None, {}, f"timed out: no result {self.timeout:g} s + "
                        f"{max(TIMEOUT_GRACE, self.timeout):g} s grace after submission; the trial was abandoned",
                        None, time.time(), None))

    def _collect(self, live: _Live) -> None:
        future = live.future
        try:
            outcome = future.result()
        except BrokenExecutor as error:
            # A worker process died (a crash, the OOM killer): the pool is unusable and cannot say which trial
            # killed it, so every trial in flight is failed (a resume would otherwise rerun the culprit forever).
            text = (f"the executor broke while this trial was in flight ({type(error).__name__}: {error}); it or "
                    "another trial in flight crashed its worker process")
            for other in [live] + [o for o in self._sorted_live() if o.future is not None and o is not live]:
                self._record(other, Outcome("failed", None, {}, text, None, time.time(), None))
            raise SearchError(f"the executor broke while running trial {live.number} ({error}); every finished "
                              "trial is stored: run again with a fresh executor to continue") from error
        except Exception as error:  # a worker crash, a cancelled Ray task, an unpicklable result, ...
            outcome = Outcome("failed", None, {}, f"the executor failed the trial: {type(error).__name__}: {error}",
                              None, time.time(), None)
        if not isinstance(outcome, Outcome):
            outcome = Outcome("failed", None, {}, f"the executor returned {outcome!r}, not an Outcome")
        self._record(live, outcome)

    def _record(self, live: _Live, outcome: Outcome) -> None:
        live.future = None
        live.outcome = outcome
        if self.batch is None:
            self._tell([live])
        else:
            self._store_outcome(live, None)
            self._count(live)

    def _tell(self, members: list[_Live]) -> None:
        """Tell finished trials to the strategy in order, storing their tells (and outcomes in async mode)."""
        tells = []
        for live in members:
            if live.number not in self.live:
                continue  # already told
            outcome = live.outcome
            seq = self._next_seq()
            self._tell_strategy(live.arch, outcome.status, outcome.score, outcome.metrics)
            del self.live[live.number]
            if self.batch is None:
                self._store_outcome(live, seq)
                self._count(live)
            else:
                tells.append((live.number, seq))
        if tells:
            self.store.told(tells)

    def _tell_strategy(self, arch: Hashable, status: str, score: float | None, metrics: dict[str, Any]) -> None:
        """Tell a finished trial: its score, or its objectives' tuple, and its constraint violation."""
        if status != "complete":
            self.strategy.tell(arch, None)
            return
        goals = self.goals
        value = goals.values(metrics) if goals is not None and goals.several else score
        if goals is not None and goals.constraints:
            self.strategy.tell(arch, value, violation=float(metrics.get("violation", 0.0)))
        else:  # a strategy of one's own may take no violation
            self.strategy.tell(arch, value)

    def _store_outcome(self, live: _Live, tell_seq: int | None) -> None:
        o = live.outcome
        self.store.finish(live.number, status=o.status, score=o.score, metrics=o.metrics, error=o.error,
                          started=o.started, finished=o.finished, duration=o.duration, tell_seq=tell_seq)

    def _count(self, live: _Live) -> None:
        if live.counted:
            return
        live.counted = True
        outcome = live.outcome
        self.finished += 1
        self.spent += self._charge(outcome.metrics, outcome.duration)
        if outcome.status == "failed":
            self.failures += 1
        elif self.best is None or outcome.score > self.best:
            self.best = outcome.score
        if self.bar is not None:
            self.bar.update(1)
            self._bar_postfix()

    def _charge(self, metrics: dict[str, Any], duration: float | None) -> float:
        """What a finished trial costs the time budget: its ``time_metric`` (simulated), else its duration."""
        value = metrics.get(self.time_metric)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0:
            return float(value)
        return duration or 0.0

    def _may_ask(self) -> bool:
        """Whether the trial budget and the time budget both allow another ask."""
        return self.asked < self.budget and (self.time_budget is None or self.spent < self.time_budget)

    def _interrupt(self) -> None:
        unfinished = [live for live in self.live.values() if live.outcome is None]
        for live in unfinished:
            if live.future is not None:
                live.future.cancel()
        try:
            self.store.stop(live.number for live in unfinished)
        except Exception:  # the storage itself may be what failed
            pass

    def _next_seq(self) -> int:
        seq = self.seq
        self.seq += 1
        return seq

    # -- per-trial records ------------------------------------------------------

    def _graph_hash(self, arch: Hashable, encoding: str) -> str | None:
        """``graph_hash(space.to_graph(arch))``, computed once per encoding (one encoding is one architecture and
        so one graph: replay relies on it too); None where the space has no graph for it."""
        if not self.graph_hashes:
            return None
        if encoding in self.hashes:
            self.hashes.move_to_end(encoding)
            return self.hashes[encoding]
        try:  # the objective validates the graph: the hash need not (the same value, ten times faster)
            value = structural_hash(self.space.to_graph(arch))
        except (ValueError, NotImplementedError):  # no graph for it (hyperparameters only); GraphError included
            value = None
        self.hashes[encoding] = value
        if len(self.hashes) > GRAPH_HASH_CACHE:
            self.hashes.popitem(last=False)
        return value

    def _hyperparameters(self, arch: Hashable) -> Any:
        method = getattr(self.space, "hyperparameters", None)
        if callable(method):
            return method(arch)
        return Space.hyperparameters(self.space, arch)  # a space of the protocol not derived from Space: the default

    # -- progress -------------------------------------------------------------------

    def _open_bar(self) -> None:
        if not self.show_progress:
            return
        from tqdm import tqdm

        self.bar = tqdm(total=max(self.budget, self.asked), initial=self.finished, desc="search", unit="trial",
                        dynamic_ncols=True)
        self._bar_postfix()

    def _bar_total(self) -> None:
        if self.bar is not None and self.asked > self.bar.total:
            self.bar.total = self.asked
            self.bar.refresh()

    def _bar_postfix(self) -> None:
        if self.bar is not None:
            self.bar.set_postfix(best="-" if self.best is None else f"{self.best:.4g}", failed=self.failures,
                                 refresh=False)

    def result(self) -> SearchResult:
        trials = [_trial(row, self.archs.get(row.number)) for row in self.store.rows()]
        return SearchResult(trials, storage=self.store.path, strategy=self.strategy, setup=self.setup)
