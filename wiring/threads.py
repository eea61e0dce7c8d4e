"""How many torch threads a computation gets: set and restored, measured for a model, shared among workers.

Small networks train bound by torch's intra-op threads: on a busy 2-core
machine a forward and backward pass of a small RandWire network on 128 digits
took 1.38 s with torch's default 2 threads and 0.19 s with 1 (issue 13): the
threads of convolution and batch-norm kernels wait for each other. Whether more
threads help depends on the model, the batch and the load of the machine, so
the library measures it, on a copy of the model before training
(:func:`choose_threads`) or on a training loop's own first steps
(:class:`ThreadTuner`), or follows a rule (:func:`threads_per_worker` for
parallel workers), and everything that takes a ``threads`` argument reads it
the same way (:func:`check_threads`):

- ``None``: leave torch's setting as it is;
- ``"auto"``: the library decides: for a model, the count :func:`choose_threads`
  measures to be fastest; for an executor's workers, each worker's share of the
  cores (:func:`threads_per_worker`);
- a positive int: exactly that many threads.

Only torch's intra-op thread count (``torch.set_num_threads``) is changed, and
always restored afterwards (:func:`using_threads`). The inter-op pool
(``torch.set_num_interop_threads``) is left alone: torch lets a process set it
once, before its first inter-op parallel work, and never again; it serves
``torch.jit.fork`` and a few ops, not the kernels of a training step.

A measured choice can differ between runs (the machine's load does), and
different thread counts may sum floating-point numbers in a different order
(gradients of the same step differed by ~1e-6 between 1 and 2 threads): runs
that must repeat bit for bit need a fixed count.
"""

from __future__ import annotations

import copy
import os
import statistics
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from generators.checks import int_at_least, positive_int, real_in

from .errors import WiringError

__all__ = ["AUTO", "DROP", "ENVIRONMENT", "ThreadTuner", "available_cores", "check_threads", "choose_threads",
           "configured_threads", "default_candidates", "parse_threads", "pick_threads",
           "threads_per_worker", "time_threads", "using_threads"]

AUTO = "auto"
"""The ``threads`` value that lets the library decide (measured for a model, a share of the cores for workers)."""

Threads = int | str | None
"""A ``threads`` argument: None (torch's setting untouched), ``"auto"``, or a positive int."""

Timer = Callable[[], float]


# -- the argument -----------------------------------------------------------------------------------


def check_threads(value: Any, *, name: str = "threads", error: type[Exception] = WiringError) -> Threads:
    """``value`` as a ``threads`` argument: None, ``"auto"`` (any case, surrounding spaces ignored) or an int >= 1.

    Anything else raises ``error`` (the caller's error class, as in
    :mod:`generators.checks`), naming the parameter and the value, e.g.
    ``threads must be a positive int, 'auto' or None, got threads=0``. A string
    of digits is refused here (use :func:`parse_threads` for text), and so is a bool.
    """
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lower() == AUTO:
        return AUTO
    try:
        return positive_int(name, value, error=error)
    except error:
        raise error(f"{name} must be a positive int, {AUTO!r} or None, got {name}={value!r}") from None


ENVIRONMENT = "WIRING_THREADS"
"""The environment variable that sets what ``threads="auto"`` means for training in this process: a positive
int (a fixed count, e.g. for bit-identical reruns) or ``auto`` (measured, the default)."""


def configured_threads(value: Threads, *, name: str = "threads", error: type[Exception] = WiringError) -> Threads:
    """``value`` checked by :func:`check_threads`, with ``"auto"`` replaced by :data:`ENVIRONMENT`'s value if set."""
    value = check_threads(value, name=name, error=error)
    text = os.environ.get(ENVIRONMENT)
    if value == AUTO and text:
        return parse_threads(text, name=ENVIRONMENT, error=error)
    return value


def parse_threads(text: str, *, name: str = "threads", error: type[Exception] = WiringError) -> int | str:
    """A ``threads`` value from text (a command line): ``"auto"`` or a positive int such as ``"4"``.

    Raises ``error`` (a ``ValueError`` subclass, so it can serve as an
    ``argparse`` ``type=``) naming the text otherwise.
    """
    if not isinstance(text, str):
        raise error(f"{name} must be given as text ({AUTO!r} or a positive int), got {name}={text!r}")
    word = text.strip().lower()
    if word == AUTO:
        return AUTO
    if word.isascii() and word.isdigit() and int(word) >= 1:
        return int(word)
    raise error(f"{name} must be {AUTO!r} or a positive int, got {name}={text!r}")


# -- setting and restoring ----------------------------------------------------------------------------


@contextmanager
def using_threads(n: int | None) -> Iterator[int]:
    """Run the body with ``torch.set_num_threads(n)``; the previous count is restored on leaving, even on an error.

    ``n=None`` leaves torch's setting as it is. Yields the count in force.
    Whatever the body sets itself is undone too. Torch's thread count is
    process-wide, so two threads of one process that use this at once see each
    other's setting. Raises :class:`WiringError` for an ``n`` that is neither
    None nor a positive int.
    """
    positive_int("n", n, allow_none=True)
    previous = torch.get_num_threads()
    if n is not None and n != previous:
        torch.set_num_threads(n)
    try:
        yield torch.get_num_threads()
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


# -- the rule for parallel workers ---------------------------------------------------------------------


def available_cores() -> int:
    """The CPU cores this process may run on: its affinity mask where the OS has one, else ``os.cpu_count()``."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """Torch threads for each of ``workers`` processes sharing ``cores`` cores: ``max(1, cores // workers)``.

    ``cores`` defaults to :func:`available_cores`. So ``workers × threads ≤
    cores`` whenever there are at least as many cores as workers; with more
    workers than cores each still gets one thread.
    """
    positive_int("workers", workers)
    cores = available_cores() if cores is None else positive_int("cores", cores)
    return max(1, cores // workers)


# -- measuring ----------------------------------------------------------------------------------------


def default_candidates(ceiling: int | None = None) -> tuple[int, ...]:
    """The thread counts :func:`choose_threads` tries by default: 1, the powers of two below ``ceiling``, ``ceiling``.

    ``ceiling`` defaults to torch's current setting (``torch.get_num_threads()``):
    torch's default in a fresh process (the cores), a worker's share in a
    process pool, whatever the caller has set otherwise. ``"auto"`` thus never
    uses more threads than the process was given. On 2 cores: ``(1, 2)``; on 12: ``(1, 2, 4, 8, 12)``.
    """
    ceiling = torch.get_num_threads() if ceiling is None else positive_int("ceiling", ceiling)
    counts = {ceiling}
    power = 1
    while power < ceiling:
        counts.add(power)
        power *= 2
    return tuple(sorted(counts))


def _logits(output: Any) -> torch.Tensor:
    return output[0] if isinstance(output, (tuple, list)) else output


def _step(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None,
          loss: Callable[[Any, torch.Tensor], torch.Tensor] | None) -> Callable[[], None]:
    """A training step without the optimiser (forward, loss, backward), or an inference forward when ``y`` is None."""
    if y is None:
        def forward() -> None:
            with torch.no_grad():
                model(x)
        return forward

    def train_step() -> None:
        model.zero_grad(set_to_none=True)
        output = model(x)
        value = F.cross_entropy(_logits(output), y) if loss is None else loss(output, y)
        value.backward()
    return train_step


DROP = 2.0
"""A thread count whose steps (its warm-up included) all take more than this many times the fastest timed step
is out of the measurement."""


def time_threads(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None, *,
                 candidates: Sequence[int] | None = None, repeats: int = 3, warmup: int = 1,
                 drop: float | None = DROP, loss: Callable[[Any, torch.Tensor], torch.Tensor] | None = None,
                 timer: Timer = time.perf_counter) -> dict[int, float]:
    """Median seconds of one step of ``model`` on the batch ``x`` (``y``) with each thread count in ``candidates``.

    With ``y`` a step is a forward pass, the loss (``loss(output, y)``; default
    cross-entropy of the logits, the first element of a tuple output) and the
    backward pass, in training mode; without ``y`` it is a forward pass in eval
    mode under ``torch.no_grad()``.

    The fewest threads go first: ``warmup`` untimed steps (the model's first
    run: caches, allocator), then ``repeats`` timed rounds run every candidate
    once each, the order reversed every other round, so that a change of the
    machine's load falls on all of them alike. Each other count runs its own
    ``warmup`` steps (its threads start) just before its first timed step. On a
    busy machine a bad count can be many times slower (issue 13: 7× for a step,
    more for an epoch), and timing it again would cost more than all the rest,
    so with ``drop`` (default :data:`DROP`):

    - a count whose warm-up steps all take more than ``drop`` times the fastest
      timed step so far is never timed (its warm-up times stand for it), and
      such a warm-up step is cut short at that limit, at the next call of a
      submodule (forward pre-hooks on the copy read the wall clock,
      ``time.perf_counter``): a pathological count costs about ``drop`` steps;
    - after each round, a count whose fastest timed step is more than ``drop``
      times the fastest of all runs no more rounds (its median is over the
      steps it ran);
    - the rounds stop once a single count is left of several.

    ``drop=None`` times every count in every round, uncut.

    The steps run on a deep copy of ``model`` under a forked torch RNG: the
    model's weights, gradients, buffers (batch-norm running statistics),
    train/eval modes and any other attribute, and the caller's random state,
    are as they were. Torch's thread count is restored afterwards, even when a
    step raises (its error propagates). ``timer`` (seconds, monotonic) is
    replaceable for tests.
    """
    if not isinstance(model, nn.Module):
        raise WiringError(f"model must be an nn.Module, got {type(model).__name__}")
    for label, tensor in (("x", x), ("y", y)):
        if tensor is not None and not isinstance(tensor, torch.Tensor):
            raise WiringError(f"{label} must be a tensor (a batch), got {type(tensor).__name__}")
    counts = _candidates(candidates)
    int_at_least("repeats", repeats, 1)
    int_at_least("warmup", warmup, 0)
    real_in("drop", drop, 1, allow_none=True)
    if loss is not None and not callable(loss):
        raise WiringError(f"loss must be a callable (output, y) -> loss tensor or None, got loss={loss!r}")
    twin = copy.deepcopy(model)
    twin.train(y is not None)
    step = _step(twin, x, y, loss)
    schedule = _schedule(counts, repeats, warmup, drop)
    with torch.random.fork_rng(devices=[]):
        n, timed, limit = next(schedule)
        while True:
            with using_threads(n):
                start = timer() if timed else 0.0
                if limit is None:
                    step()
                else:
                    _run_within(twin, step, limit)
                elapsed = timer() - start if timed else None
            try:
                n, timed, limit = schedule.send(elapsed)
            except StopIteration as done:
                return done.value


class _TooSlow(Exception):
    pass


def _run_within(model: nn.Module, step: Callable[[], None], limit: float) -> None:
    """Run ``step``, cut short at the first call of a submodule of ``model`` after ``limit`` wall-clock seconds."""
    deadline = time.perf_counter() + limit

    def check(module: nn.Module, args: Any) -> None:
        if time.perf_counter() > deadline:
            raise _TooSlow

    handles = [m.register_forward_pre_hook(check) for m in model.modules()]
    try:
        step()
    except _TooSlow:
        pass
    finally:
        for handle in handles:
            handle.remove()


Schedule = Generator[tuple[int, bool, "float | None"], "float | None", dict[int, float]]


def _schedule(counts: tuple[int, ...], repeats: int, warmup: int, drop: float | None) -> Schedule:
    """The steps of :func:`time_threads`: yields ``(threads, timed, limit)`` per step, is sent its seconds (None
    when untimed), returns the medians. ``limit`` (seconds, or None) is set on a warm-up step of a new count: past
    it, the count is dropped anyway, so the step may be cut short there. :class:`ThreadTuner` drives the same
    schedule with a training loop's own steps (never cut short)."""
    times: dict[int, list[float]] = {n: [] for n in counts}
    for _ in range(warmup):
        yield counts[0], False, None
    warmed, running = {counts[0]}, list(counts)
    for r in range(repeats):
        for n in list(running if r % 2 == 0 else running[::-1]):
            if n not in warmed:
                warmed.add(n)
                fastest = min((min(t) for t in times.values() if t), default=None)
                limit = None if drop is None or fastest is None else drop * fastest
                probes = []
                for _ in range(warmup):
                    probes.append((yield n, True, limit))
                if limit is not None and probes and min(probes) > limit:
                    times[n], running = probes, [m for m in running if m != n]
                    continue
            times[n].append((yield n, True, None))
        if drop is not None:
            fastest = min(min(t) for t in times.values())
            running = [n for n in running if min(times[n]) <= drop * fastest]
        if len(running) == 1 < len(counts):  # the others are out: nothing left to compare
            break
    return {n: statistics.median(t) for n, t in times.items()}


def pick_threads(medians: Mapping[int, float], tolerance: float = 0.05) -> int:
    """The decision rule of :func:`choose_threads`: the fewest threads whose time is within ``tolerance`` of the best.

    ``medians`` maps thread counts to seconds (as :func:`time_threads`
    returns); the result is the smallest count ``n`` with ``medians[n] <=
    (1 + tolerance) × min(medians.values())``. More threads must earn their
    cores, and fewer threads suffer less when the machine gets busy.
    """
    real_in("tolerance", tolerance, 0)
    if not medians:
        raise WiringError("medians must time at least one thread count, got none")
    best = min(medians.values())
    return min(n for n, seconds in medians.items() if seconds <= best * (1 + tolerance))


def _candidates(candidates: Sequence[int] | None) -> tuple[int, ...]:
    if candidates is None:
        return default_candidates()
    if isinstance(candidates, (str, bytes)) or not isinstance(candidates, Sequence) or not candidates:
        raise WiringError(f"candidates must be a non-empty sequence of positive ints, got candidates={candidates!r}")
    for n in candidates:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise WiringError(f"candidates must hold positive ints, got {n!r} in candidates={candidates!r}")
    return tuple(sorted(set(candidates)))


def choose_threads(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None, *,
                   candidates: Sequence[int] | None = None, repeats: int = 3, warmup: int = 1,
                   drop: float | None = DROP, tolerance: float = 0.05,
                   loss: Callable[[Any, torch.Tensor], torch.Tensor] | None = None,
                   timer: Timer = time.perf_counter) -> int:
    """The thread count that runs ``model`` on the batch ``x`` (``y``) fastest: the fewest within ``tolerance``.

    Times every count of ``candidates`` (default :func:`default_candidates`:
    1, the powers of two up to torch's current setting, and that setting) with
    :func:`time_threads` (same arguments; with ``y`` a training step, without
    it an inference forward), then returns :func:`pick_threads` of the medians:
    the smallest count whose median time is at most ``(1 + tolerance)`` times
    the fastest median.
    A single candidate is returned without running anything, and so is torch's
    current setting for a batch that is not on the CPU (intra-op threads serve
    CPU kernels only). ``model`` is left untouched (see :func:`time_threads`).

    It costs at most ``len(candidates) × (warmup + repeats)`` steps (8 on two
    cores) and a deep copy of the model; a count that ``drop`` rules out
    costs less (on a busy 2-core machine, where 2 threads are pathological:
    2 steps at 1 thread and a 2-thread warm-up cut short at 2 such steps).
    ``benchmarks/threads.py`` measures it.
    """
    real_in("tolerance", tolerance, 0)
    counts = _candidates(candidates)
    if isinstance(x, torch.Tensor) and x.device.type != "cpu":
        return torch.get_num_threads()
    if len(counts) == 1:
        return counts[0]
    medians = time_threads(model, x, y, candidates=counts, repeats=repeats, warmup=warmup, drop=drop, loss=loss,
                           timer=timer)
    return pick_threads(medians, tolerance)


class ThreadTuner:
    """Chooses the thread count from a training loop's own first steps: :func:`choose_threads` without extra steps.

    Wrap every step of the loop (forward, loss, backward, optimiser step) in
    :meth:`step`: the first steps follow :func:`time_threads`' schedule (the
    same warm-up, alternating rounds and ``drop`` rule; 8 steps for two
    counts, 3 when ``drop`` rules one out at once), each run with the count
    the schedule asks for and timed; then :attr:`choice` is
    :func:`pick_threads` of the medians and every later step runs with it.
    The steps are real training steps, so choosing costs nothing beyond the
    time the slower counts take on those few steps; but a real step cannot be
    cut short, so where a count is pathological one whole slow step is paid
    (there :func:`choose_threads`, which cuts it short on a copy, costs
    less). Steps should be alike (same batch size: a last, smaller batch of
    an epoch times short); a step that raises is not counted.

    ``candidates`` defaults to :func:`default_candidates` when the first step
    starts; a single candidate is the choice at once. :meth:`step` restores
    torch's previous count when the step ends: run other work (evaluation)
    under ``using_threads(tuner.choice)`` (None, i.e. untouched, until chosen).
    The timings differ from run to run, so the choice can too, and different
    thread counts can round floating-point sums differently: for bit-identical
    repeated runs, use a fixed count. ``timer`` is replaceable for tests.
    """

    def __init__(self, candidates: Sequence[int] | None = None, *, repeats: int = 3, warmup: int = 1,
                 drop: float | None = DROP, tolerance: float = 0.05, timer: Timer = time.perf_counter) -> None:
        self._counts = None if candidates is None else _candidates(candidates)
        self._repeats = int_at_least("repeats", repeats, 1)
        self._warmup = int_at_least("warmup", warmup, 0)
        self._drop = real_in("drop", drop, 1, allow_none=True)
        self._tolerance = real_in("tolerance", tolerance, 0)
        self._timer = timer
        self._schedule: Schedule | None = None
        self._next: tuple[int, bool, float | None] | None = None
        self.choice: int | None = None
        """The chosen count once the schedule is done (None before)."""
        self.medians: dict[int, float] = {}
        """The median seconds of a step per count, once chosen (empty for a single candidate)."""

    @contextmanager
    def step(self) -> Iterator[int]:
        """Run one training step in the body with the count the schedule (or the choice) gives; yields that count."""
        if self.choice is None and self._next is None:
            counts = self._counts or default_candidates()
            if len(counts) == 1:
                self.choice = counts[0]
            else:
                self._schedule = _schedule(counts, self._repeats, self._warmup, self._drop)
                self._next = next(self._schedule)
        if self.choice is not None:
            with using_threads(self.choice) as n:
                yield n
            return
        n, timed, _ = self._next
        with using_threads(n):
            start = self._timer() if timed else 0.0
            yield n
            elapsed = self._timer() - start if timed else None
        try:
            self._next = self._schedule.send(elapsed)
        except StopIteration as done:
            self.medians = done.value
            self.choice = pick_threads(self.medians, self._tolerance)
            self._schedule = self._next = None
