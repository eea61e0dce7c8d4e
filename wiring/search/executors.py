"""Where the trial runner evaluates objectives: in-process, a local process pool, or Ray.

:func:`~wiring.search.run` accepts any :class:`concurrent.futures.Executor`;
it submits ``execute_trial(objective, arch, timeout)`` and reads back an
:class:`Outcome`. The executors here add what a search needs on top:

- :class:`InlineExecutor` (the default): the objective runs in the calling
  thread, one trial at a time.
- :class:`ProcessPool`: spawned worker processes that run ``setup`` once and
  use ``torch_threads`` torch threads each (by default their share of the
  cores, :func:`wiring.threads.threads_per_worker`); a trial that overruns its
  time limit has its worker killed (a hard limit).
- :class:`RayExecutor`: Ray remote tasks, one CPU each (and as many torch
  threads), on a local Ray started on the loopback interface only, or on a
  cluster (``address=``). Ray is an optional extra (``pip install ray``).

Worker processes import the objective by reference (its module and name), so
it must be a module-level function or callable object of an importable module,
not a lambda or a local function (Ray pickles those by value, a process pool
cannot). Custom ops are registered when their module is imported: either the
objective's module imports it, or ``setup=["my_ops"]`` imports it in every
worker before the first trial.

What the per-trial ``timeout`` can stop: in a process's main thread (in-process
from the main thread, a process pool, Ray) a ``SIGALRM`` timer raises
:class:`TrialTimeout` inside the objective at the limit. That is a soft stop:
it takes effect at the next Python bytecode, so a long native call (one big
torch op) runs to its end first, and an objective that catches the exception
(``except Exception:``, ``except BaseException:``, a retry loop) carries on.
In-process nothing more can be done: such a trial is failed as timed out
whenever it returns, however late, and the search waits for it. Off the main
thread (a thread pool) there is no timer at all, only that check on return.
For a hard limit use :class:`ProcessPool`: a trial still running
``kill_grace`` seconds past its limit has its worker process killed
(``SIGKILL``) and is failed, and a fresh worker runs the remaining trials (Ray
likewise kills a task the runner abandons, after a longer grace).
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future, InvalidStateError
from contextlib import contextmanager
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

from generators.checks import positive_int

from ..threads import AUTO, Threads, available_cores, check_threads, threads_per_worker
from .strategy import SearchError
from .workers import KILL_GRACE, WorkerLost, WorkerPool

Setup = str | Callable[[], object] | Sequence[str | Callable[[], object]] | None

MAX_ERROR_CHARS = 8000
"""Longest error text (traceback) kept for a failed trial; longer ones keep their end."""


# -- what runs in a worker ----------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """The result of one trial as a worker reports it (plain values only, so it pickles anywhere)."""

    status: str  # "complete" or "failed"
    score: float | None
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    started: float | None = None  # wall clock (time.time()) in the worker
    finished: float | None = None
    duration: float | None = None  # seconds (perf_counter)


class TrialTimeout(TimeoutError):
    """Raised inside an objective that runs past the runner's ``timeout`` (main thread only, once per trial).

    An objective that catches it and carries on is still failed as timed out
    when it returns; only a process can be stopped for sure: :class:`ProcessPool`
    kills the worker of a trial that overruns its limit.
    """


def execute_trial(objective: Callable[[Any], Any], arch: Any, timeout: float | None = None) -> Outcome:
    """Evaluate ``objective(arch)`` and turn what happens into an :class:`Outcome`; never raises for a bad trial.

    A trial fails when the objective raises, returns something that is neither
    a number nor a dict holding a number under ``"score"``, returns a
    non-finite score (NaN, ±inf), or runs past ``timeout`` seconds. Where the
    trial runs in its process's main thread (the in-process default, a process
    pool, Ray), the time limit interrupts it with :class:`TrialTimeout` (a
    ``SIGALRM`` timer: Python code stops at the next bytecode, a long native
    call such as one huge matrix product finishes first); elsewhere (a thread
    pool) it is checked when the objective returns. A trial that ran past the
    limit is failed even if it returns a score (it caught :class:`TrialTimeout`).
    """
    started = time.time()
    t0 = time.perf_counter()
    alarm = _Alarm()
    try:
        with _time_limit(timeout, alarm):
            value = objective(arch)
    except TrialTimeout:
        return _failed(f"timed out: ran past the {timeout:g} s time limit", started, t0)
    except Exception as error:  # a failing trial must not stop the search
        if not alarm.fired:
            return _failed(_error_text(error), started, t0)
        return _failed(f"timed out: ran {time.perf_counter() - t0:.3g} s, past the {timeout:g} s time limit; "
                       f"it caught TrialTimeout, then raised:\n{_error_text(error)}", started, t0)
    duration = time.perf_counter() - t0
    finished = time.time()
    if timeout is not None and (alarm.fired or duration > timeout):
        caught = " (it caught TrialTimeout and returned anyway)" if alarm.fired else ""
        return Outcome("failed", None, {}, f"timed out: ran {duration:.3g} s, past the {timeout:g} s time limit"
                       f"{caught}", started, finished, duration)
    score, metrics, problem = _parse(value)
    if problem is not None:
        return Outcome("failed", None, metrics, problem, started, finished, duration)
    return Outcome("complete", score, metrics, None, started, finished, duration)


def _failed(error: str, started: float, t0: float) -> Outcome:
    return Outcome("failed", None, {}, error, started, time.time(), time.perf_counter() - t0)


def _error_text(error: BaseException) -> str:
    text = "".join(traceback.format_exception(error)).rstrip()
    return text if len(text) <= MAX_ERROR_CHARS else "…" + text[-MAX_ERROR_CHARS:]


def _parse(value: Any) -> tuple[float | None, dict[str, Any], str | None]:
    """``(score, metrics, problem)`` of what an objective returned."""
    metrics: dict[str, Any] = {}
    if isinstance(value, Mapping):
        metrics = _plain({str(k): v for k, v in value.items() if k != "score"})
        if "score" not in value:
            return None, metrics, f"objective returned a dict without a 'score' key (keys: {sorted(map(str, value))})"
        raw = value["score"]
    else:
        raw = value
    score = _number(raw)
    if score is None:
        return None, metrics, (f"objective must return a number or a dict with a number under 'score', "
                               f"got {_short(raw)}")
    if not math.isfinite(score):
        return None, metrics, f"objective returned a non-finite score: {score}"
    return score, metrics, None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, Real):
        return float(value)
    item = getattr(value, "item", None)  # a 0-d torch tensor or numpy array
    if callable(item) and getattr(value, "ndim", None) == 0:
        return _number(item())
    return None


def _plain(metrics: dict[str, Any]) -> dict[str, Any]:
    """``metrics`` as JSON values: numpy/torch scalars become numbers, anything else its ``str``."""
    def default(value: Any) -> Any:
        number = _number(value)
        return number if number is not None else str(value)
    return json.loads(json.dumps(metrics, default=default))


def _short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


@dataclass
class _Alarm:
    fired: bool = False


@contextmanager
def _time_limit(timeout: float | None, state: _Alarm):
    """Raise :class:`TrialTimeout` in the body after ``timeout`` seconds (main thread with SIGALRM only)."""
    if (timeout is None or not hasattr(signal, "setitimer")
            or threading.current_thread() is not threading.main_thread()):
        yield
        return

    def alarm(signum: int, frame: Any) -> None:
        state.fired = True
        raise TrialTimeout(f"ran past the {timeout:g} s time limit")

    previous = signal.signal(signal.SIGALRM, alarm)
    outer_delay, outer_interval = signal.setitimer(signal.ITIMER_REAL, timeout)
    t0 = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer_delay > 0:  # give back a timer someone else had set (e.g. pytest-timeout)
            signal.setitimer(signal.ITIMER_REAL, max(outer_delay - (time.monotonic() - t0), 1e-3), outer_interval)


# -- worker setup ---------------------------------------------------------------

_prepared: set[str] = set()


def prepare_worker(setup: Setup = None, torch_threads: int | None = 1) -> None:
    """Prepare a worker process: set torch's thread count, and once import ``setup`` modules, call ``setup`` callables.

    ``setup`` is a module name (``"my_ops"``), a picklable callable, or a list
    of them. Importing a module registers the custom ops it defines; it runs
    once per process (per ``setup``), while the thread count is set again at
    every call (a trial may have changed it). ``None`` leaves torch's count as it is.
    """
    if torch_threads is not None:
        import torch
        if torch.get_num_threads() != torch_threads:
            torch.set_num_threads(torch_threads)
    items = _normalise_setup(setup)
    key = repr(items)
    if key in _prepared:
        return
    for item in items:
        if isinstance(item, str):
            importlib.import_module(item)
        else:
            item()
    _prepared.add(key)


def _normalise_setup(setup: Setup) -> tuple[str | Callable[[], object], ...]:
    if setup is None:
        return ()
    if isinstance(setup, str) or callable(setup):
        return (setup,)
    items = tuple(setup)
    for item in items:
        if not (isinstance(item, str) or callable(item)):
            raise SearchError(f"setup must be module names or callables, got {item!r}")
    return items


# -- executors ----------------------------------------------------------------


class InlineExecutor(Executor):
    """Runs each submitted call at once in the calling thread (the runner's default: one trial at a time).

    The trial's ``timeout`` is a soft limit here (see the module docs): called
    from the main thread, :class:`TrialTimeout` is raised into the objective at
    the limit, which stops Python code at its next bytecode but not a long
    native call (a torch op runs to its end first) nor an objective that
    catches the exception; off the main thread there is no interruption at
    all. Either way a trial that returns past its limit is failed as timed out,
    not recorded as a success; but the search waits for it. For a hard limit
    use :class:`ProcessPool`.
    """

    max_workers = 1

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        future.set_running_or_notify_cancel()
        try:
            result = fn(*args, **kwargs)
        except Exception as error:
            future.set_exception(error)
        else:
            future.set_result(result)
        return future


class ProcessPool(WorkerPool):
    """A process pool for trials: ``max_workers`` processes, ``torch_threads`` torch threads each.

    ``torch_threads="auto"`` (the default) gives each worker its share of the
    cores, :func:`~wiring.threads.threads_per_worker` ``(max_workers)`` =
    ``max(1, cores // max_workers)`` (cores: this process's CPU affinity), so
    that workers × threads ≤ cores; an int sets that many threads in every
    worker, and None leaves torch's default (all the cores, in every worker).
    :attr:`torch_threads` holds the count the workers get. A trial that asks
    ``wiring.train`` for ``threads="auto"`` measures up to its worker's count.

    ``setup`` (module names and/or picklable callables) runs once in each
    worker before its first trial: import the modules that register your
    custom ops there. ``mp_context`` defaults to ``"spawn"``: fresh
    interpreters, safe with torch's thread pools (forking a process that has
    run torch code can hang), and the start method Python is moving to. With
    spawn, a script that creates the pool needs the usual
    ``if __name__ == "__main__":`` guard. ``max_workers`` defaults to the cores this process may
    use (:func:`~wiring.threads.available_cores`: its CPU affinity, else the CPU count).

    The runner's ``timeout`` is a hard limit here. At the limit the worker
    raises :class:`TrialTimeout` into the objective; if the trial has not
    answered ``kill_grace`` seconds later (it caught the exception, or is stuck
    in native code), its worker is killed with ``SIGKILL`` and the trial is
    failed as timed out, naming the limit, the worker's pid and the
    architecture. A worker that dies (a crash, the OOM killer) fails its own
    trial only. Either way a fresh worker is started for the remaining trials,
    and no finished trial is lost. Workers are killed at :meth:`shutdown` if
    they do not exit on their own.
    """

    def __init__(self, max_workers: int | None = None, *, setup: Setup = None, torch_threads: Threads = AUTO,
                 mp_context: str | Any = "spawn", kill_grace: float = KILL_GRACE) -> None:
        positive_int("max_workers", max_workers, allow_none=True, error=SearchError)
        torch_threads = check_threads(torch_threads, name="torch_threads", error=SearchError)
        if (isinstance(kill_grace, bool) or not isinstance(kill_grace, Real) or not math.isfinite(kill_grace)
                or kill_grace < 0):
            raise SearchError(f"kill_grace must be a finite number of seconds >= 0, got kill_grace={kill_grace!r}")
        context = multiprocessing.get_context(mp_context) if isinstance(mp_context, str) else mp_context
        workers = max_workers or available_cores()
        self.torch_threads: int | None = threads_per_worker(workers) if torch_threads == AUTO else torch_threads
        super().__init__(workers, context=context, initializer=prepare_worker,
                         initargs=(_normalise_setup(setup), self.torch_threads), kill_grace=float(kill_grace))

    def limit_of(self, fn: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> float | None:
        """A trial's ``timeout`` (the third argument of :func:`execute_trial`); other calls have no limit."""
        if fn is not execute_trial:
            return None
        timeout = args[2] if len(args) > 2 else kwargs.get("timeout")
        return timeout if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) else None

    def lost(self, fn: Callable[..., Any], args: tuple, kwargs: dict[str, Any], error: WorkerLost,
             started: float | None, duration: float | None) -> Any:
        """A failed :class:`Outcome` for a trial whose worker was killed or died (other calls raise ``error``)."""
        if fn is not execute_trial:
            raise error
        arch = args[1] if len(args) > 1 else kwargs.get("arch")
        if error.timed_out:
            text = (f"timed out: the trial of {_short(arch)} ran past the {self.limit_of(fn, args, kwargs):g} s "
                    f"time limit and did not stop within {self.kill_grace:g} s more (it caught TrialTimeout, or "
                    f"was stuck in native code), so its worker process (pid {error.pid}) was killed")
        else:
            text = f"crashed: the trial of {_short(arch)}: {error}"
        return Outcome("failed", None, {}, text, started, time.time(), duration)


def ray_task_threads(cpus_per_trial: float, cores: int | None = None) -> int:
    """Torch threads for a Ray task that reserved ``cpus_per_trial`` CPUs on a node with ``cores`` cores.

    ``max(1, min(floor(cpus_per_trial), cores))``: Ray runs at most its CPUs ÷
    ``cpus_per_trial`` tasks on a node at once, so with Ray's default CPU count
    (the node's cores) tasks × threads ≤ cores. ``cores`` defaults to the
    calling process's :func:`~wiring.threads.available_cores` (the task's node).
    """
    cores = available_cores() if cores is None else cores
    return max(1, min(int(cpus_per_trial), cores))


def _ray_call(setup: tuple, torch_threads: int | str | None, cpus_per_trial: float, paths: tuple[str, ...],
              payload: bytes) -> Any:
    """Run a pickled call in a Ray worker, after making the driver's folders importable and preparing the worker.

    ``torch_threads="auto"`` is resolved here, on the task's node (:func:`ray_task_threads`).
    """
    for path in paths:  # folders missing on this node (a remote one) are harmless
        if path not in sys.path:
            sys.path.append(path)
    prepare_worker(setup, ray_task_threads(cpus_per_trial) if torch_threads == AUTO else torch_threads)
    from ray import cloudpickle

    fn, args, kwargs = cloudpickle.loads(payload)
    return fn(*args, **kwargs)


class _RayFuture(Future):
    """A future over a Ray ``ObjectRef``; :meth:`cancel` also kills the task (``ray.cancel(force=True)``)."""

    def __init__(self, ray: Any, ref: Any) -> None:
        super().__init__()
        self._ray = ray
        self._ref = ref
        ref.future().add_done_callback(self._copy)

    def _copy(self, inner: Future) -> None:
        try:
            if inner.cancelled():
                self.cancel()
            elif inner.exception() is not None:
                self.set_exception(inner.exception())
            else:
                self.set_result(inner.result())
        except InvalidStateError:  # already cancelled from our side
            pass

    def cancel(self) -> bool:
        if not super().cancel():
            return False
        try:
            self._ray.cancel(self._ref, force=True)
        except Exception:  # the task may have just finished
            pass
        return True


LOCAL_RAY_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
"""Set to ``0`` while a local Ray starts: Ray then takes the loopback address as the node address and binds its
servers there (otherwise it replaces ``127.0.0.1`` by the machine's outward address and listens on every interface)."""


class RayExecutor(Executor):
    """Trials as Ray remote tasks (``cpus_per_trial`` CPUs each, no retries).

    With ``address=None`` and no Ray running yet, starts a local Ray with
    ``num_cpus`` CPUs (default: all), no dashboard, bound to the loopback
    interface only (a :class:`SearchError` if Ray would expose an outward
    address), and shuts it down on :meth:`shutdown`. With ``address=`` (e.g.
    ``"auto"`` or ``"ray://head:10001"``) it joins that cluster; with Ray
    already initialised it uses it as it is. ``runtime_env`` is Ray's
    (``{"py_modules": [...], "pip": [...]}``): on a cluster, ship your
    objective's and custom ops' modules with it. Workers also get the driver's
    own ``sys.path`` folders appended to theirs (as a spawned process pool
    does), so on a local Ray whatever the driver imports, workers import.
    ``setup`` is as for :class:`ProcessPool`, run once per Ray worker process.
    ``torch_threads`` is set at the start of every task: ``"auto"`` (the
    default) gives a task as many threads as the CPUs it reserved,
    :func:`ray_task_threads` (``max(1, floor(cpus_per_trial))``, at most the
    node's cores); an int that many; None leaves the worker's setting (Ray
    sets ``OMP_NUM_THREADS`` in its workers). ``init_kwargs`` go to ``ray.init``.

    ``max_workers`` (trials kept in flight by the runner) defaults to the
    cluster's CPUs divided by ``cpus_per_trial``.
    """

    def __init__(self, num_cpus: int | None = None, address: str | None = None, *, setup: Setup = None,
                 torch_threads: Threads = AUTO, cpus_per_trial: float = 1, max_workers: int | None = None,
                 runtime_env: dict[str, Any] | None = None, **init_kwargs: Any) -> None:
        positive_int("num_cpus", num_cpus, allow_none=True, error=SearchError)
        positive_int("max_workers", max_workers, allow_none=True, error=SearchError)
        torch_threads = check_threads(torch_threads, name="torch_threads", error=SearchError)
        if isinstance(cpus_per_trial, bool) or not isinstance(cpus_per_trial, Real) or not cpus_per_trial > 0:
            raise SearchError(f"cpus_per_trial must be a positive number, got cpus_per_trial={cpus_per_trial!r}")
        ray = import_ray()
        self._ray = ray
        self._owner = False
        self._shutdown = False
        if not ray.is_initialized():
            kwargs = {"logging_level": logging.WARNING, **init_kwargs}
            if runtime_env is not None:
                kwargs["runtime_env"] = runtime_env
            if address is None:
                _start_local_ray(ray, num_cpus, {"include_dashboard": False, **kwargs})
            else:
                ray.init(address=address, **kwargs)
            self._owner = True
        cpus = ray.cluster_resources().get("CPU", 1)
        self.max_workers: int = max_workers or max(1, int(cpus // cpus_per_trial))
        self._setup = _normalise_setup(setup)
        self._torch_threads = torch_threads
        self._cpus_per_trial = float(cpus_per_trial)
        self._remote = ray.remote(num_cpus=cpus_per_trial, max_retries=0)(_ray_call)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        if self._shutdown:
            raise RuntimeError("cannot submit to a RayExecutor after shutdown()")
        from ray import cloudpickle

        # Pickled here and unpickled after _ray_call has put the driver's folders on sys.path: Ray would unpickle
        # the arguments before any code of ours runs in the worker.
        payload = cloudpickle.dumps((fn, args, kwargs))
        ref = self._remote.remote(self._setup, self._torch_threads, self._cpus_per_trial, driver_paths(),
                                  payload)
        return _RayFuture(self._ray, ref)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop accepting trials; shut Ray down if this executor started it."""
        if self._shutdown:
            return
        self._shutdown = True
        if self._owner and self._ray.is_initialized():
            self._ray.shutdown()


def import_ray() -> Any:
    """The ``ray`` module, or a :class:`SearchError` saying how to install it."""
    try:
        import ray
    except ImportError as error:
        raise SearchError("the Ray executor needs Ray, an optional extra: pip install 'nas-wiring[ray]' "
                          f"(or pip install ray); import failed: {error}") from None
    return ray


def driver_paths() -> tuple[str, ...]:
    """The driver's own ``sys.path`` folders (not the interpreter's): test folders, ``sys.path.insert``-ed projects."""
    key = tuple(sys.path)
    if _driver_paths_cache.get("key") != key:
        prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
        paths: list[str] = []
        for entry in key:
            path = os.path.realpath(entry or os.getcwd())
            if (os.path.isdir(path) and path not in paths
                    and not any(path == p or path.startswith(p + os.sep) for p in prefixes)):
                paths.append(path)
        _driver_paths_cache.update(key=key, paths=tuple(paths))
    return _driver_paths_cache["paths"]


_driver_paths_cache: dict[str, Any] = {}


def _start_local_ray(ray: Any, num_cpus: int | None, kwargs: dict[str, Any]) -> None:
    saved_env = os.environ.get(LOCAL_RAY_ENV)
    constants = getattr(getattr(ray, "_private", None), "ray_constants", None)
    saved_flag = getattr(constants, "ENABLE_RAY_CLUSTER", None)
    os.environ[LOCAL_RAY_ENV] = "0"
    if saved_flag is not None:
        constants.ENABLE_RAY_CLUSTER = False
    try:
        ray.init(num_cpus=num_cpus, _node_ip_address="127.0.0.1", **kwargs)
    finally:
        if saved_env is None:
            os.environ.pop(LOCAL_RAY_ENV, None)
        else:
            os.environ[LOCAL_RAY_ENV] = saved_env
        if saved_flag is not None:
            constants.ENABLE_RAY_CLUSTER = saved_flag
    address = ray_node_address(ray)
    if address is not None and not (address.startswith("127.") or address in ("::1", "localhost")):
        ray.shutdown()
        raise SearchError(f"the local Ray started on address {address!r}, not the loopback interface; refusing to "
                          "run on it (start Ray yourself, or pass address= to join a cluster on purpose)")


def ray_node_address(ray: Any) -> str | None:
    """The address of the node this driver runs on (``127.0.0.1`` for a local, loopback-only Ray)."""
    try:
        return ray.util.get_node_ip_address()
    except Exception:  # pragma: no cover - older or newer Ray
        return None


EXECUTORS = ("inline", "process", "ray")


def make_executor(name: str, workers: int | None = None, *, setup: Setup = None,
                  torch_threads: Threads = AUTO, address: str | None = None) -> Executor:
    """An executor by name (for the CLI): ``"inline"``, ``"process"`` (a :class:`ProcessPool` of ``workers``),
    or ``"ray"`` (a :class:`RayExecutor` with ``num_cpus=workers`` locally, or joining ``address``).

    ``torch_threads`` is the workers' (see :class:`ProcessPool`); the inline executor leaves threads alone."""
    if name == "inline":
        return InlineExecutor()
    if name == "process":
        return ProcessPool(workers, setup=setup, torch_threads=torch_threads)
    if name == "ray":
        return RayExecutor(workers, address, setup=setup, torch_threads=torch_threads)
    raise SearchError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")


def executor_workers(executor: Executor) -> int:
    """How many trials ``executor`` runs at once: its ``max_workers`` (or ``_max_workers``), else 1."""
    for name in ("max_workers", "_max_workers"):
        value = getattr(executor, name, None)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value
    return 1
