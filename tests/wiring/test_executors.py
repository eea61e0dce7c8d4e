"""wiring.search executors: a process pool and Ray give the same trials as in-process; worker setup; time limits.

Objectives that run in workers live at module level (workers import this
module by name). The kill tests use objectives that catch ``TrialTimeout`` and
would sleep for a minute before leaving a file: no such file shows that the
worker was killed, and a broken kill makes the test last that minute and fail.

One process pool and one local Ray (2 CPUs, loopback only, no dashboard) serve
the whole module. The Ray tests are skipped where Ray is not installed (it is
an optional extra).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import pickle
import re
import sys
import time
from pathlib import Path

import networkx as nx
import pytest
import torch

import wiring
from test_runner import Greedy, Toy, objective, same_trials, score, sleepy
from wiring.search import InlineExecutor, ProcessPool, RandomSearch, RegularizedEvolution, SearchError, load_result, run
from wiring.search.executors import TrialTimeout, execute_trial, executor_workers, make_executor, prepare_worker
from wiring.search.workers import WorkerSetupError

CUSTOM_OPS = "runner_test_custom_ops"

CUSTOM_OPS_SOURCE = f'''
"""A user's module that registers a custom op on import (imported in workers by setup=[{CUSTOM_OPS!r}])."""
from ops import Cost
from ops.registry import OpSpec, register


def triple(x):
    return 3 * x


register(OpSpec("runner_test_triple", function=triple, shape=lambda s, p: s[0],
                cost=lambda s, o, p: Cost(0, 0), doc="3x, for the runner tests"))
'''


def custom_op_objective(arch: tuple) -> dict:
    """Compiles a graph with the custom op (registered only where ``CUSTOM_OPS`` was imported) and runs it."""
    G = nx.DiGraph()
    G.add_node("in", op="input", params={"channels": 1, "size": [2, 2]})
    G.add_node("x", op="runner_test_triple", params={})
    G.add_node("out", op="output", params={})
    G.add_edges_from([("in", "x"), ("x", "out")])
    out = wiring.compile(G)(torch.ones(1, 1, 2, 2))
    return {"score": float(out.sum()) + score(arch), "threads": torch.get_num_threads()}


STUBBORN_SLEEP = 60.0
"""Seconds a stubborn objective sleeps, swallowing every TrialTimeout, before it leaves its file."""


def stubborn(marks: str, arch: tuple) -> dict:
    """For d0 == 3: catches every exception for ``STUBBORN_SLEEP`` s (a file for each it caught), then leaves a file."""
    name = "-".join(map(str, arch))
    if arch[0] == 3:
        end = time.monotonic() + STUBBORN_SLEEP
        while time.monotonic() < end:
            try:
                time.sleep(max(0.0, end - time.monotonic()))
            except Exception:  # swallows TrialTimeout
                Path(marks, f"caught-{name}").touch()
        Path(marks, f"done-{name}").touch()  # reached only by a worker that was not killed
    return {"score": score(arch), "pid": os.getpid()}


def swallowing(marks: str, arch: tuple) -> float:
    """For d0 == 3: catches the TrialTimeout of a 5 s sleep (leaving a file) and returns a score anyway."""
    if arch[0] == 3:
        try:
            time.sleep(5)
        except TrialTimeout:
            Path(marks, "caught-" + "-".join(map(str, arch))).touch()
    return score(arch)


def sleep_then_mark(marks: str) -> None:
    """Leaves its pid in ``marks``, sleeps ``STUBBORN_SLEEP`` s, then leaves a ``done`` file."""
    Path(marks, "pid").write_text(str(os.getpid()))
    time.sleep(STUBBORN_SLEEP)
    Path(marks, "done").touch()


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists (a zombie counts: it was not reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def killed_pid(error: str) -> int:
    return int(re.search(r"\(pid (\d+)\)", error).group(1))


STRATEGIES = {
    "random": lambda: RandomSearch(Toy(), seed=11),
    "greedy": lambda: Greedy(Toy(), seed=11),
    "evolution": lambda: RegularizedEvolution(Toy(), seed=11, population=4, sample=2),
}


@pytest.fixture(scope="module")
def custom_ops_path(tmp_path_factory):
    folder = tmp_path_factory.mktemp("custom_ops")
    (folder / f"{CUSTOM_OPS}.py").write_text(CUSTOM_OPS_SOURCE)
    sys.path.insert(0, str(folder))  # workers (spawned processes, local Ray) see the driver's sys.path
    yield folder
    sys.path.remove(str(folder))


@pytest.fixture(scope="module")
def pool(custom_ops_path):
    with ProcessPool(2, setup=[CUSTOM_OPS]) as executor:
        yield executor


@pytest.fixture(scope="module")
def ray_executor(custom_ops_path):
    if importlib.util.find_spec("ray") is None:
        pytest.skip("Ray is an optional extra (pip install ray)")
    from wiring.search import RayExecutor

    import ray

    if ray.is_initialized():
        pytest.skip("a Ray instance is already running in this process")
    executor = RayExecutor(num_cpus=2, setup=[CUSTOM_OPS])
    try:
        yield executor
    finally:
        executor.shutdown()


@pytest.fixture(params=["pool", "ray"])
def executor(request):
    return request.getfixturevalue("pool" if request.param == "pool" else "ray_executor")


# -- same trials as in-process ---------------------------------------------------------------------


def test_random_search_gives_the_same_trials_in_parallel(executor):
    inline = run(STRATEGIES["random"](), objective, budget=12, progress=False)
    result = run(STRATEGIES["random"](), objective, budget=12, executor=executor, progress=False)
    assert executor_workers(executor) == 2
    assert same_trials(result, inline)


@pytest.mark.parametrize("name", ["greedy", "evolution"])
def test_synchronous_batches_give_the_same_trials_for_any_strategy(executor, name):
    inline = run(STRATEGIES[name](), objective, budget=14, batch=4, progress=False)
    result = run(STRATEGIES[name](), objective, budget=14, batch=4, executor=executor, progress=False)
    assert same_trials(result, inline)
    assert [v for _, v in result.strategy.history] == [t.score for t in inline.trials]


def test_parallel_resume_continues_an_inline_search(executor, tmp_path):
    db = tmp_path / "s.db"
    inline = run(STRATEGIES["greedy"](), objective, budget=12, batch=3, progress=False)
    run(STRATEGIES["greedy"](), objective, budget=6, batch=3, storage=db, progress=False)
    resumed = run(STRATEGIES["greedy"](), objective, budget=12, batch=3, storage=db, executor=executor,
                  progress=False)
    assert same_trials(resumed, inline)


# -- workers: custom ops, threads, time limits, failures -----------------------------------------------


def test_custom_ops_reach_workers_through_setup(executor):
    result = run(RandomSearch(Toy(), seed=0), custom_op_objective, budget=4, executor=executor, progress=False)
    share = executor.torch_threads if isinstance(executor, ProcessPool) else 1  # Ray: a thread per reserved CPU
    for t in result.trials:
        assert t.status == "complete", t.error
        assert t.score == 12.0 + score(t.arch) and t.metrics["threads"] == share
    # the driver never imported the op's module: in-process the same objective fails, naming the op
    assert CUSTOM_OPS not in sys.modules
    inline = run(RandomSearch(Toy(), seed=0), custom_op_objective, budget=1, progress=False)
    assert inline.trials[0].status == "failed" and "runner_test_triple" in inline.trials[0].error


def test_workers_get_their_share_of_the_cores(executor):
    from test_threads import worker_threads

    from wiring.search.executors import ray_task_threads
    from wiring.threads import available_cores, threads_per_worker

    expected = threads_per_worker(2) if isinstance(executor, ProcessPool) else ray_task_threads(1)
    assert {f.result(timeout=120) for f in [executor.submit(worker_threads) for _ in range(4)]} == {expected}
    if available_cores() >= 2:
        assert 2 * expected <= available_cores()  # two workers × their threads fit the cores


def test_time_limit_interrupts_trials_in_workers(executor, tmp_path):
    result = run(RandomSearch(Toy(), seed=1), functools.partial(sleepy, str(tmp_path)), budget=8, timeout=0.5,
                 executor=executor, progress=False)
    slow = [t for t in result.trials if t.arch[0] == 3]
    assert slow and not list(tmp_path.iterdir())  # the search ended before any slow objective could finish
    for t in result.trials:
        assert (t.status == "failed") == (t.arch[0] == 3)
    assert all(t.error.startswith("timed out") for t in slow)


def test_in_process_a_trial_that_swallows_the_time_limit_is_failed_when_it_returns(tmp_path):
    result = run(RandomSearch(Toy(), seed=1), functools.partial(swallowing, str(tmp_path)), budget=8, timeout=0.3,
                 progress=False)
    slow = [t for t in result.trials if t.arch[0] == 3]
    assert slow and sorted(p.name for p in tmp_path.iterdir()) == sorted(
        "caught-" + "-".join(map(str, t.arch)) for t in slow)  # each caught TrialTimeout and returned a score
    for t in result.trials:
        assert (t.status == "failed") == (t.arch[0] == 3)
    for t in slow:
        assert t.score is None and t.error.startswith("timed out: ran")
        assert "past the 0.3 s time limit (it caught TrialTimeout and returned anyway)" in t.error


def test_a_process_pool_kills_a_trial_that_swallows_the_time_limit(pool, tmp_path):
    result = run(RandomSearch(Toy(), seed=1), functools.partial(stubborn, str(tmp_path)), budget=8, timeout=0.5,
                 executor=pool, progress=False)
    slow = [t for t in result.trials if t.arch[0] == 3]
    names = {p.name for p in tmp_path.iterdir()}
    assert len(result.trials) == 8 and slow
    assert names == {"caught-" + "-".join(map(str, t.arch)) for t in slow}  # caught, then killed: none done
    for t in result.trials:
        assert (t.status == "failed") == (t.arch[0] == 3)
    for t in slow:
        assert t.error.startswith(f"timed out: the trial of {t.arch} ran past the 0.5 s time limit")
        assert "was killed" in t.error
    killed = {killed_pid(t.error) for t in slow}
    assert len(killed) == len(slow)  # a fresh worker after each kill
    assert not any(alive(pid) for pid in killed) and killed.isdisjoint(pool.pids())


def test_cancelling_a_running_call_kills_its_worker(pool, tmp_path):
    future = pool.submit(sleep_then_mark, str(tmp_path))
    for _ in range(600):  # until the call runs (a worker may have to start first)
        if (tmp_path / "pid").exists():
            break
        time.sleep(0.1)
    pid = int((tmp_path / "pid").read_text())
    assert future.cancel() and future.cancelled()
    for _ in range(600):  # the dispatcher kills it soon; a broken kill fails after the loop
        if not alive(pid):
            break
        time.sleep(0.1)
    assert not alive(pid) and not (tmp_path / "done").exists()


def test_a_process_pool_survives_a_crashing_worker_and_leaves_no_process_behind():
    with ProcessPool(1, torch_threads=None) as one:
        result = run(RandomSearch(Toy(), seed=2), crash, budget=8, executor=one, progress=False)
    crashed = [t for t in result.trials if t.arch[0] == 3]
    assert crashed and len(result.trials) == 8
    for t in result.trials:
        assert (t.status == "failed") == (t.arch[0] == 3)
    for t in crashed:
        assert t.error.startswith(f"crashed: the trial of {t.arch}: its worker process") and "exit code 3" in t.error
    pids = {t.metrics["pid"] for t in result.trials if t.status == "complete"} | {killed_pid(t.error) for t in crashed}
    assert len(pids) >= 2 and one.pids() == []  # a fresh worker after the crash; all gone after shutdown
    assert not any(alive(pid) for pid in pids)


def test_a_failing_worker_setup_stops_the_search_naming_the_error():
    with ProcessPool(1, setup=["no_such_module_for_the_executor_tests"], torch_threads=None) as broken:
        with pytest.raises(SearchError, match=r"the executor broke while running trial 0 \(the setup of a worker"):
            run(RandomSearch(Toy(), seed=0), objective, budget=2, executor=broken, progress=False)
        with pytest.raises(WorkerSetupError, match="No module named 'no_such_module_for_the_executor_tests'"):
            broken.submit(divmod, 7, 2)


def test_failures_in_workers_are_recorded(executor):
    from test_runner import flaky

    inline = run(RandomSearch(Toy(), seed=1), flaky, budget=16, progress=False)
    result = run(RandomSearch(Toy(), seed=1), flaky, budget=16, executor=executor, progress=False)
    assert [(t.status, t.score) for t in result.trials] == [(t.status, t.score) for t in inline.trials]
    assert [t.error.splitlines()[-1] for t in result.failed] == [t.error.splitlines()[-1] for t in inline.failed]


def test_a_process_pool_needs_a_picklable_objective(pool):
    with pytest.raises(SearchError, match="cannot be pickled.*module-level function"):
        run(RandomSearch(Toy(), seed=0), lambda arch: 1.0, budget=2, executor=pool, progress=False)


# -- Ray specifics ---------------------------------------------------------------------------------


LOOPBACK = {"0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"}
"""127.0.0.1, ::ffff:127.0.0.1 and ::1 as /proc/net/tcp{,6} write them."""


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    found, todo = {root}, [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _listening(pids: set[int]) -> list[str]:
    """Local addresses (hex, as in /proc/net/tcp) of the TCP sockets in LISTEN state that ``pids`` hold."""
    inodes = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        except OSError:
            continue
    addresses = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:
                addresses.append(fields[1].rsplit(":", 1)[0])
    return addresses


def test_local_ray_listens_on_loopback_only(ray_executor):
    import ray

    from wiring.search.executors import ray_node_address

    assert ray_node_address(ray) == "127.0.0.1"
    assert {node["NodeManagerAddress"] for node in ray.nodes()} == {"127.0.0.1"}
    assert ray.cluster_resources()["CPU"] == 2
    if not Path("/proc/net/tcp").exists():
        return
    # every server socket of this process and the Ray processes it started (GCS, raylet, workers, agents)
    addresses = _listening(_descendants(os.getpid()))
    assert len(addresses) >= 3 and set(addresses) <= LOOPBACK, addresses


def test_ray_runs_local_functions_and_cancels(ray_executor):
    # Ray pickles by value, so even a local objective works there
    offset = 0.5
    result = run(RandomSearch(Toy(), seed=0), lambda arch: score(arch) + offset, budget=3, executor=ray_executor,
                 progress=False)
    assert all(t.status == "complete" and t.score == score(t.arch) + offset for t in result.trials)
    future = ray_executor.submit(time.sleep, 30)
    assert future.cancel() and future.cancelled()


# -- small pieces ----------------------------------------------------------------------------------------


def test_executor_helpers():
    assert executor_workers(InlineExecutor()) == 1
    assert isinstance(make_executor("inline"), InlineExecutor)
    with pytest.raises(SearchError, match="unknown executor 'dask'; choose one of inline, process, ray"):
        make_executor("dask")
    with pytest.raises(SearchError, match="max_workers must be a positive int"):
        ProcessPool(0)
    with pytest.raises(SearchError, match="torch_threads must be"):
        ProcessPool(1, torch_threads=0)
    with pytest.raises(SearchError, match=r"kill_grace must be a finite number of seconds >= 0, got kill_grace=-1"):
        ProcessPool(1, kill_grace=-1)
    with pytest.raises(SearchError, match="setup must be module names or callables"):
        prepare_worker([3], None)
    outcome = execute_trial(objective, (1, 2, 3, 0))
    assert pickle.loads(pickle.dumps(outcome)) == outcome


def test_missing_ray_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail
    from wiring.search import RayExecutor

    with pytest.raises(SearchError, match=r"optional extra: pip install 'nas-wiring\[ray\]'"):
        RayExecutor(num_cpus=1)


def test_inline_executor_runs_at_once():
    future = InlineExecutor().submit(divmod, 7, 2)
    assert future.done() and future.result() == (3, 1)
    failing = InlineExecutor().submit(divmod, 1, 0)
    assert isinstance(failing.exception(), ZeroDivisionError)


def crash(arch: tuple) -> dict:
    """Kills its worker process for d0 == 3; else the score and the worker's pid."""
    if arch[0] == 3:
        os._exit(3)
    return {"score": score(arch), "pid": os.getpid()}


def test_a_broken_pool_fails_the_trials_in_flight_and_stops(tmp_path):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    db = tmp_path / "s.db"
    # fork: fast to start, and the worker dies before touching torch
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as broken:
        with pytest.raises(SearchError, match="the executor broke while running trial"):
            run(RandomSearch(Toy(), seed=1), crash, budget=8, executor=broken, storage=db, progress=False)
    trials = load_result(db).trials
    assert trials[-1].arch is None and trials[-1].status == "failed" and "crashed its worker" in trials[-1].error
    assert all(t.status == "complete" for t in trials[:-1])


def test_a_shut_down_executor_is_a_clear_error():
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(1)
    pool.shutdown()
    with pytest.raises(SearchError, match=r"the executor refused trial 0 \(RuntimeError: cannot schedule"):
        run(RandomSearch(Toy(), seed=0), objective, budget=2, executor=pool, progress=False)
