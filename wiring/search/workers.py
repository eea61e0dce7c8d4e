"""Worker processes that run one call at a time each and can be killed in the middle of one.

The engine under :class:`~wiring.search.executors.ProcessPool`. Unlike a
:class:`concurrent.futures.ProcessPoolExecutor` it knows which worker runs
which call, so it can kill (``SIGKILL``) the worker of a call that runs past
its limit, or whose future is cancelled, fail that call alone, and start a
fresh worker for the calls still queued. A worker that dies fails only its own
call too. Driver and workers talk over pipes (no network).
"""

from __future__ import annotations

import atexit
import pickle
import signal
import threading
import time
import traceback
import weakref
from collections import deque
from collections.abc import Callable
from concurrent.futures import BrokenExecutor, Executor, Future, InvalidStateError
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from .strategy import SearchError

KILL_GRACE = 1.0
"""Seconds a call may run past its limit (to return its own "timed out" result) before its worker is killed."""

STOP_WAIT = 5.0
"""Seconds an idle worker gets to exit on its own at shutdown before it is killed."""


class WorkerLost(SearchError):
    """A call whose worker process was killed (past its limit, or cancelled) or died before it answered."""

    def __init__(self, message: str, *, pid: int, timed_out: bool) -> None:
        super().__init__(message)
        self.pid = pid
        self.timed_out = timed_out


class WorkerSetupError(SearchError, BrokenExecutor):
    """A worker process failed to start or to run its setup: the pool cannot run anything."""


class _RemoteTraceback(Exception):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return "\n" + self.text


# -- what runs in a worker -----------------------------------------------------------


def _send(conn: Connection, message: tuple) -> None:
    conn.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))


def _text(error: BaseException) -> str:
    return "".join(traceback.format_exception(error)).rstrip()


def serve(conn: Connection, initializer: Callable[..., object] | None, initargs: tuple) -> None:
    """A worker's main loop: run ``initializer`` once, then run the calls the driver sends until the pipe closes.

    Messages to the driver: ``("ready",)`` or ``("setup", text)``, then per call
    ``("started", wall_time)`` and ``("result", value)`` or ``("error", exception, text)``.
    SIGINT is ignored: Ctrl-C is the driver's to handle (it kills its workers).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        try:
            if initializer is not None:
                initializer(*initargs)
        except BaseException as error:
            _send(conn, ("setup", _text(error)))
            return
        _send(conn, ("ready",))
    except (EOFError, OSError):  # the pool was shut down while this worker started
        return
    while True:
        try:
            payload = conn.recv_bytes()
        except (EOFError, OSError):  # the driver closed the pipe (shutdown) or is gone
            return
        try:
            fn, args, kwargs = pickle.loads(payload)
            _send(conn, ("started", time.time()))
            reply: tuple = ("result", fn(*args, **kwargs))
        except BaseException as error:  # SystemExit too: the call failed, the worker goes on
            reply = ("error", error, _text(error))
        try:
            _send(conn, reply)
        except (EOFError, OSError):  # the driver is gone
            return
        except Exception as error:  # an unpicklable result or exception: send its text instead
            text = _text(error) + (f"\n{reply[2]}" if reply[0] == "error" else "")
            try:
                _send(conn, ("error", None, f"the worker could not send back its {reply[0]}: {text}"))
            except (EOFError, OSError):
                return


# -- the driver side ---------------------------------------------------------------------


class _CallFuture(Future):
    """A call's future; it stays pending until the call answers, and :meth:`cancel` kills a running call's worker."""

    def __init__(self, pool: WorkerPool) -> None:
        super().__init__()
        self._pool = pool

    def cancel(self) -> bool:
        if not super().cancel():
            return False
        self._pool._wake()  # the dispatcher drops the call, or kills the worker running it
        return True


@dataclass(eq=False)
class _Call:
    future: _CallFuture
    fn: Callable[..., Any]
    args: tuple
    kwargs: dict[str, Any]
    payload: bytes
    limit: float | None
    started: float | None = None  # wall clock, as the worker reported it
    t0: float | None = None  # monotonic, when the driver heard it started
    deadline: float | None = None  # monotonic: kill the worker then


@dataclass(eq=False)
class _Worker:
    process: Any
    conn: Connection
    ready: bool = False
    call: _Call | None = None


_live_pools: weakref.WeakSet[WorkerPool] = weakref.WeakSet()


@atexit.register
def _stop_live_pools() -> None:
    """At interpreter exit, stop the pools nobody shut down (their workers would otherwise keep it waiting)."""
    for pool in list(_live_pools):
        pool._exit()


class WorkerPool(Executor):
    """``max_workers`` worker processes, each running one call at a time; a call past its limit is killed.

    ``initializer(*initargs)`` runs once in each worker before its first call.
    :meth:`limit_of` says how many seconds a call may run (none by default);
    a call still running ``kill_grace`` seconds past that has its worker
    killed and its future resolved by :meth:`lost` (a :class:`WorkerLost`
    exception by default). Futures stay pending until their call answers;
    cancelling one kills the worker running it.
    """

    def __init__(self, max_workers: int, *, context: Any, initializer: Callable[..., object] | None = None,
                 initargs: tuple = (), kill_grace: float = KILL_GRACE) -> None:
        self.max_workers = max_workers
        self.kill_grace = kill_grace
        self._context = context
        self._initializer = initializer
        self._initargs = initargs
        self._lock = threading.Lock()
        self._queue: deque[_Call] = deque()
        self._workers: list[_Worker] = []
        self._shutdown = False
        self._exiting = False
        self._broken: WorkerSetupError | None = None
        self._thread: threading.Thread | None = None
        self._wake_reader, self._wake_writer = context.Pipe(duplex=False)

    # -- what a subclass decides -------------------------------------------------------------

    def limit_of(self, fn: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> float | None:
        """Seconds the call ``fn(*args, **kwargs)`` may run before :attr:`kill_grace` starts (None: no limit)."""
        return None

    def lost(self, fn: Callable[..., Any], args: tuple, kwargs: dict[str, Any], error: WorkerLost,
             started: float | None, duration: float | None) -> Any:
        """What a call whose worker was killed or died returns; raising (the default: ``error``) fails its future."""
        raise error

    # -- Executor -------------------------------------------------------------------------------

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        payload = _payload(fn, args, kwargs)
        limit = self.limit_of(fn, args, kwargs)
        with self._lock:
            if self._broken is not None:
                raise self._broken
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            future = _CallFuture(self)
            self._queue.append(_Call(future, fn, args, kwargs, payload, limit))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="wiring-worker-pool", daemon=True)
                self._thread.start()
                _live_pools.add(self)
        self._wake()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking calls; the workers exit once the calls queued and running are done (``wait``: wait for that)."""
        with self._lock:
            self._shutdown = True
            if cancel_futures:
                for call in self._queue:
                    call.future.cancel()
            if self._thread is None:  # never used: no dispatcher to close the wake-up pipe
                self._wake_reader.close()
                self._wake_writer.close()
                return
        self._wake()
        if wait and self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def pids(self) -> list[int]:
        """The process ids of the workers alive now."""
        return [w.process.pid for w in list(self._workers)]

    # -- the dispatcher thread ---------------------------------------------------------------

    def _wake(self) -> None:
        try:
            self._wake_writer.send_bytes(b"")
        except OSError:  # closed: the dispatcher has stopped
            pass

    def _exit(self) -> None:
        self._exiting = True
        self._wake()
        if self._thread is not None:
            self._thread.join(STOP_WAIT + 1)
        for worker in list(self._workers):  # the dispatcher did not get to them
            worker.process.kill()

    def _run(self) -> None:
        try:
            while self._step():
                pass
        except BaseException as error:  # a bug here must not leave callers waiting forever
            with self._lock:
                calls = list(self._queue) + [w.call for w in self._workers if w.call is not None]
                self._queue.clear()
            for call in calls:
                _resolve(call.future, error=SearchError(f"the worker pool's dispatcher failed: {error!r}"))
        finally:
            self._stop_workers()
            self._wake_reader.close()
            self._wake_writer.close()
            _live_pools.discard(self)

    def _step(self) -> bool:
        """Start, feed, read and kill workers once; False when the pool is done."""
        with self._lock:
            if self._exiting:
                return False
            self._queue = deque(call for call in self._queue if not call.future.cancelled())
            for worker in [w for w in self._workers if w.call is not None and w.call.future.cancelled()]:
                self._kill(worker)
            if self._shutdown and not self._queue and not any(w.call for w in self._workers):
                return False
            self._assign()
            self._grow()
        deadlines = [w.call.deadline for w in self._workers if w.call is not None and w.call.deadline is not None]
        timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
        ready = wait([self._wake_reader] + [w.conn for w in self._workers]
                     + [w.process.sentinel for w in self._workers], timeout)
        if self._wake_reader in ready:
            while self._wake_reader.poll():
                self._wake_reader.recv_bytes()
        for worker in list(self._workers):
            if worker.conn in ready or worker.process.sentinel in ready:
                self._read(worker)
        self._expire()
        return True

    def _assign(self) -> None:
        for worker in self._workers:
            if not self._queue:
                return
            if worker.ready and worker.call is None:
                call = self._queue.popleft()
                try:
                    worker.conn.send_bytes(call.payload)
                except OSError:  # the worker just died: its sentinel says so next round
                    self._queue.appendleft(call)
                    continue
                worker.call = call

    def _grow(self) -> None:
        free = sum(1 for w in self._workers if w.call is None)
        for _ in range(min(len(self._queue) - free, self.max_workers - len(self._workers))):
            mine, theirs = self._context.Pipe(duplex=True)
            process = self._context.Process(target=serve, args=(theirs, self._initializer, self._initargs),
                                            name="wiring-worker")
            process.start()
            theirs.close()
            self._workers.append(_Worker(process, mine))

    def _read(self, worker: _Worker) -> None:
        try:
            while worker.conn.poll():
                self._handle(worker, pickle.loads(worker.conn.recv_bytes()))
        except (EOFError, OSError):
            pass
        except Exception as error:  # a reply the driver cannot unpickle
            if worker.call is not None:
                call, worker.call = worker.call, None
                _resolve(call.future, error=SearchError(f"the driver could not read a worker's reply: {error!r}"))
        if worker.process.is_alive():
            return
        worker.process.join()
        worker.conn.close()
        self._workers.remove(worker)
        code = worker.process.exitcode
        if not worker.ready:
            with self._lock:
                self._fail_pool(f"a worker process (pid {worker.process.pid}) exited with code {code} before it "
                                "was ready: its start-up failed (see its stderr)")
        elif worker.call is not None:
            call = worker.call
            self._lose(call, WorkerLost(f"its worker process (pid {worker.process.pid}) died with exit code {code} "
                                        "before it answered (a crash, os._exit, the OOM killer); a fresh worker "
                                        "runs the next calls", pid=worker.process.pid, timed_out=False))

    def _handle(self, worker: _Worker, message: tuple) -> None:
        kind = message[0]
        if kind == "ready":
            worker.ready = True
        elif kind == "setup":  # the worker exits next
            with self._lock:
                self._fail_pool(f"the setup of a worker process failed:\n{message[1]}")
        elif kind == "started" and worker.call is not None:
            call = worker.call
            call.started, call.t0 = message[1], time.monotonic()
            if call.limit is not None:
                call.deadline = call.t0 + call.limit + self.kill_grace
        elif kind in ("result", "error") and worker.call is not None:
            call, worker.call = worker.call, None
            if kind == "result":
                _resolve(call.future, result=message[1])
            else:
                error = message[1]
                if error is None:
                    error = SearchError(message[2])
                else:
                    error.__cause__ = _RemoteTraceback(message[2])
                _resolve(call.future, error=error)

    def _expire(self) -> None:
        now = time.monotonic()
        for worker in [w for w in self._workers if w.call is not None and w.call.deadline is not None]:
            if now >= worker.call.deadline:
                call = worker.call
                self._kill(worker)
                self._lose(call, WorkerLost(
                    f"ran past its {call.limit:g} s limit and did not stop within {self.kill_grace:g} s more, so "
                    f"its worker process (pid {worker.process.pid}) was killed; a fresh worker runs the next calls",
                    pid=worker.process.pid, timed_out=True))

    def _lose(self, call: _Call, error: WorkerLost) -> None:
        duration = None if call.t0 is None else time.monotonic() - call.t0
        try:
            result = self.lost(call.fn, call.args, call.kwargs, error, call.started, duration)
        except Exception as raised:
            _resolve(call.future, error=raised)
        else:
            _resolve(call.future, result=result)

    def _kill(self, worker: _Worker) -> None:
        """SIGKILL ``worker`` and reap it (its call, if any, is the caller's to resolve)."""
        worker.process.kill()
        worker.process.join(STOP_WAIT)
        worker.conn.close()
        self._workers.remove(worker)

    def _fail_pool(self, reason: str) -> None:
        """Under the lock: the pool is broken; fail every queued call (running ones still answer)."""
        if self._broken is None:
            self._broken = WorkerSetupError(reason)
        while self._queue:
            _resolve(self._queue.popleft().future, error=self._broken)

    def _stop_workers(self) -> None:
        for worker in self._workers:
            if worker.call is not None or self._exiting:
                worker.process.kill()
            worker.conn.close()  # an idle worker reads EOF and exits
        for worker in self._workers:
            worker.process.join(STOP_WAIT)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
        self._workers.clear()


def _payload(fn: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> bytes:
    """The pickled call, or a :class:`SearchError` naming the part that cannot be pickled."""
    try:
        return pickle.dumps((fn, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as error:
        culprit = next((part for part in (fn, *args, *kwargs.values()) if not _picklable(part)), (fn, args, kwargs))
        raise SearchError(
            f"{culprit!r} cannot be pickled, so it cannot be sent to a worker process ({error}); define it as a "
            "module-level function (or object) of an importable module, not a lambda or a local function") from None


def _picklable(value: Any) -> bool:
    try:
        pickle.dumps(value)
    except Exception:
        return False
    return True


def _resolve(future: Future, *, result: Any = None, error: BaseException | None = None) -> None:
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
    except InvalidStateError:  # cancelled meanwhile
        pass

