"""wiring.search.run: the durable trial runner (SQLite records, failures, time limits, resume, SIGKILL).

The toy space, strategies and objectives live at module level so that worker
processes (tests/wiring/test_executors.py) and the SIGKILL test's subprocess can
import them: pytest's ``prepend`` import mode puts this folder on ``sys.path``.
"""

from __future__ import annotations

import functools
import math
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import networkx as nx
import pytest

import wiring
from spaces import Float, HyperparameterSpace, Joint
from spaces.base import Decision, DecisionSpace
from wiring.search import STRATEGIES, RandomSearch, RegularizedEvolution, SearchError, Strategy
from wiring.search.executors import InlineExecutor, Outcome, execute_trial
from wiring.search.runner import SearchResult, load_result, run
from wiring.search import runner as runner_module
from wiring.search import storage as storage_module

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
OPS = ("identity", "max_pool", "avg_pool", "zero")


# -- module-level fixtures for workers ------------------------------------------


class Toy(DecisionSpace):
    """Four decisions of four values (256 architectures); the graph is a chain of simple ops."""

    name = "toy"

    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.width = width

    def decisions(self) -> list[Decision]:
        return [Decision(f"d{i}", (0, 1, 2, 3)) for i in range(self.width)]

    def to_graph(self, arch: tuple) -> nx.DiGraph:
        self.check(arch)
        G = nx.DiGraph()
        G.add_node("in", op="input", params={"channels": 1, "size": [4, 4]})
        previous = "in"
        for i, v in enumerate(arch):
            G.add_node(i, op=OPS[v], params={})
            G.add_edge(previous, i)
            previous = i
        G.add_node("out", op="output", params={})
        G.add_edge(previous, "out")
        return G

    def encode(self, arch: tuple) -> str:
        self.check(arch)
        return "-".join(map(str, arch))

    def decode(self, text: str) -> tuple:
        arch = tuple(int(x) for x in text.split("-"))
        self.check(arch)
        return arch


class Greedy(Strategy):
    """An adaptive toy strategy: mutate the best architecture told so far (sample until there is one)."""

    def _ask(self):
        best = self.best
        return self.space.sample(self.rng) if best is None else self.space.mutate(best[0], self.rng)


def score(arch: tuple) -> float:
    """A deterministic synthetic score with a unique maximum at (3, 3, 3, 3)."""
    return sum((i + 1) * v for i, v in enumerate(arch)) + 0.01 * arch[0]


def objective(arch: tuple) -> dict:
    return {"score": score(arch), "params": 100 * arch[1], "name": f"a{arch[0]}"}


def flaky(arch: tuple) -> float:
    """Raises for d0 == 3, returns NaN for d1 == 3, a dict without score for d2 == 3."""
    if arch[0] == 3:
        raise RuntimeError(f"boom on {arch}")
    if arch[1] == 3:
        return math.nan
    if arch[2] == 3:
        return {"accuracy": 0.5}
    return score(arch)


def slow_objective(arch: tuple) -> float:
    """``score`` after ``$RUNNER_TEST_SLEEP`` seconds, logging each call to ``$RUNNER_TEST_LOG``."""
    log = os.environ.get("RUNNER_TEST_LOG")
    if log:
        with open(log, "a") as f:
            f.write(f"{'-'.join(map(str, arch))}\n")
    time.sleep(float(os.environ.get("RUNNER_TEST_SLEEP", "0")))
    return score(arch)


def sleepy(marks: str, arch: tuple) -> float:
    """Sleeps 5 s for d0 == 3 (to be timed out), then leaves a file in ``marks``; else returns at once."""
    if arch[0] == 3:
        time.sleep(5)
        Path(marks, "-".join(map(str, arch))).touch()  # reached only by a trial that was not interrupted
    return score(arch)


def busy(marks: str, arch: tuple) -> float:
    """A pure-Python busy loop of 5 s for d0 == 3, then a file in ``marks``."""
    if arch[0] == 3:
        end = time.perf_counter() + 5
        while time.perf_counter() < end:
            pass
        Path(marks, "-".join(map(str, arch))).touch()
    return score(arch)


class Interrupter:
    """An objective that raises KeyboardInterrupt on its ``at``-th call (simulating Ctrl-C mid-search)."""

    __qualname__ = "objective"  # same setup name as `objective`, so a resume with `objective` is accepted

    def __init__(self, at: int) -> None:
        self._at, self._calls = at, 0  # private: not part of the setup fingerprint

    def __call__(self, arch: tuple) -> dict:
        self._calls += 1
        if self._calls == self._at:
            raise KeyboardInterrupt
        return objective(arch)


def scaled(arch: tuple, factor: float) -> float:
    return factor * score(arch)


class Scaled:
    """A callable-object objective with a setting."""

    def __init__(self, factor: float) -> None:
        self.factor = factor

    def __call__(self, arch: tuple) -> float:
        return scaled(arch, self.factor)


def same_trials(a: SearchResult, b: SearchResult) -> bool:
    key = lambda r: [(t.number, t.encoding, t.status, t.score, t.metrics, t.graph_hash) for t in r.trials]
    return key(a) == key(b)


# -- recording ------------------------------------------------------------------------


def test_records_every_trial_with_hash_metrics_and_timings(tmp_path):
    result = run(RandomSearch(Toy(), seed=0), objective, budget=12, storage=tmp_path / "s.db", progress=False)
    assert [t.number for t in result.trials] == list(range(12))
    space = Toy()
    for t in result.trials:
        assert t.status == "complete" and t.error is None
        assert t.arch == space.decode(t.encoding)
        assert t.score == score(t.arch)
        assert t.metrics == {"params": 100 * t.arch[1], "name": f"a{t.arch[0]}"}
        assert t.graph_hash == wiring.graph_hash(space.to_graph(t.arch))
        assert t.started <= t.finished and t.duration >= 0
    assert result.best == max(result.trials, key=lambda t: (t.score, -t.number))
    stored = load_result(tmp_path / "s.db", Toy())
    assert stored.trials == result.trials and [t.arch for t in stored.trials] == [t.arch for t in result.trials]
    assert stored.setup["strategy"] == "wiring.search.strategy.RandomSearch" and stored.setup["seed"] == "0"
    # the file is plain SQLite that other tools can read
    with sqlite3.connect(tmp_path / "s.db") as db:
        assert db.execute("SELECT COUNT(*) FROM trials WHERE status='complete'").fetchone() == (12,)


def test_same_seed_same_trials_and_the_strategy_sees_every_result():
    a = run(Greedy(Toy(), seed=5), objective, budget=15, progress=False)
    b = run(Greedy(Toy(), seed=5), objective, budget=15, progress=False)
    assert same_trials(a, b)
    assert [(arch, v) for arch, v in a.strategy.history] == [(t.arch, t.score) for t in a.trials]
    assert not a.strategy.pending


def test_failed_trials_are_recorded_and_the_search_goes_on():
    result = run(RandomSearch(Toy(), seed=1), flaky, budget=40, progress=False)
    assert len(result.trials) == 40
    by_kind = {"raise": [], "nan": [], "no score": [], "ok": []}
    for t in result.trials:
        kind = ("raise" if t.arch[0] == 3 else "nan" if t.arch[1] == 3 else "no score" if t.arch[2] == 3 else "ok")
        by_kind[kind].append(t)
    assert all(by_kind.values()), "the seed should hit every failure kind"
    for t in by_kind["raise"]:
        assert t.status == "failed" and t.score is None and "RuntimeError: boom" in t.error
        assert "Traceback" in t.error
    for t in by_kind["nan"]:
        assert t.status == "failed" and "non-finite score: nan" in t.error
    for t in by_kind["no score"]:
        assert t.status == "failed" and "without a 'score'" in t.error and t.metrics == {"accuracy": 0.5}
    for t in by_kind["ok"]:
        assert t.status == "complete"
    # failures are told to the strategy as None
    told = dict(zip(range(40), (v for _, v in result.strategy.history)))
    assert all(told[t.number] is None for t in result.failed)
    assert result.best.status == "complete"


@pytest.mark.parametrize("value, problem", [
    (True, "must return a number"), ("0.5", "must return a number"), ({"score": None}, "must return a number"),
    (math.inf, "non-finite"), ({"score": -math.inf}, "non-finite"),
])
def test_bad_return_values_fail_the_trial(value, problem):
    outcome = execute_trial(lambda arch: value, (0,))
    assert outcome.status == "failed" and problem in outcome.error


def test_numpy_and_torch_scalars_are_scores_and_metrics():
    import numpy as np
    import torch

    outcome = execute_trial(lambda arch: {"score": torch.tensor(0.5), "loss": np.float32(1.5), "shape": (2, 3),
                                          "model": object}, (0,))
    assert outcome == Outcome("complete", 0.5, {"loss": 1.5, "shape": [2, 3], "model": str(object)}, None,
                              outcome.started, outcome.finished, outcome.duration)


@pytest.mark.parametrize("slow", [sleepy, busy], ids=["sleep", "busy-loop"])
def test_in_process_time_limit_interrupts_the_trial(slow, tmp_path):
    result = run(RandomSearch(Toy(), seed=1), functools.partial(slow, str(tmp_path)), budget=8, timeout=0.3,
                 progress=False)
    timed_out = [t for t in result.trials if t.arch[0] == 3]
    assert timed_out and not list(tmp_path.iterdir())  # no slow objective ran to its end: each was interrupted
    for t in timed_out:
        assert t.status == "failed" and t.error.startswith("timed out")
    assert all(t.status == "complete" for t in result.trials if t.arch[0] != 3)


def test_time_limit_off_the_main_thread_is_checked_when_the_trial_returns():
    def slow(arch):
        time.sleep(0.25 if arch[0] == 3 else 0)
        return score(arch)

    with ThreadPoolExecutor(2) as pool:
        result = run(RandomSearch(Toy(), seed=1), slow, budget=8, timeout=0.1, executor=pool, progress=False)
    for t in result.trials:
        assert (t.status == "failed") == (t.arch[0] == 3)
        if t.arch[0] == 3:
            assert "timed out: ran" in t.error


def test_graph_hash_and_hyperparameters_for_joint_and_hparam_spaces():
    hp = HyperparameterSpace(lr=Float(1e-3, 1e-1, log=True), wd=Float(0.0, 1e-3))
    joint = run(RandomSearch(Joint(Toy(), hp), seed=0), lambda pair: score(pair[0]), budget=4, progress=False,
                graph_hashes=True)
    for t in joint.trials:
        assert t.graph_hash == wiring.graph_hash(Toy().to_graph(t.arch[0]))
        assert t.hyperparameters == dict(t.arch[1]) and set(t.hyperparameters) == {"lr", "wd"}
    only = run(RandomSearch(hp, seed=0), lambda config: -dict(config)["lr"], budget=3, progress=False)
    assert all(t.graph_hash is None and t.hyperparameters == dict(t.arch) for t in only.trials)
    plain = run(RandomSearch(Toy(), seed=0), objective, budget=2, progress=False, graph_hashes=False)
    assert all(t.graph_hash is None and t.hyperparameters is None for t in plain.trials)


def counting_graph_hash(monkeypatch) -> list[str]:
    """Make the runner's hash log the graph hashed on each call (its encoding, from ``Toy``'s labels)."""
    calls = []

    def counted(G):
        calls.append("-".join(str(OPS.index(G.nodes[i]["op"])) for i in range(len(G) - 2)))
        return wiring.graph_hash(G)

    monkeypatch.setattr(runner_module, "structural_hash", counted)
    return calls


def test_graph_hash_is_computed_once_per_distinct_architecture(monkeypatch, tmp_path):
    calls = counting_graph_hash(monkeypatch)
    space = Toy(width=2)  # 16 architectures: 40 random trials repeat some
    result = run(RandomSearch(space, seed=0), objective, budget=40, storage=tmp_path / "s.db", progress=False)
    encodings = [t.encoding for t in result.trials]
    assert len(set(encodings)) < len(encodings)
    assert calls == list(dict.fromkeys(encodings))  # each distinct architecture once, when first asked
    for t in load_result(tmp_path / "s.db", space).trials:
        assert t.graph_hash == wiring.graph_hash(space.to_graph(t.arch))


def cache_misses(encodings: list[str], size: int, *, lru: bool = True) -> list[str]:
    """The encodings a cache of ``size`` entries misses, dropping the least recently asked (``lru``) or the
    first stored."""
    kept, missed = [], []
    for encoding in encodings:
        if encoding not in kept:
            missed.append(encoding)
        elif lru:
            kept.remove(encoding)
        else:
            continue
        kept = (kept + [encoding])[-size:]
    return missed


def test_graph_hash_cache_is_bounded_least_recently_asked_first(monkeypatch):
    calls = counting_graph_hash(monkeypatch)
    monkeypatch.setattr(runner_module, "GRAPH_HASH_CACHE", 3)
    space = Toy(width=2)
    result = run(RandomSearch(space, seed=3), objective, budget=40, progress=False)
    encodings = [t.encoding for t in result.trials]
    expected = cache_misses(encodings, 3)
    assert len(set(encodings)) < len(expected) < len(encodings)  # hashes dropped and hashes kept
    assert expected != cache_misses(encodings, 3, lru=False)  # this search tells LRU from first-in-first-out
    assert calls == expected
    assert all(t.graph_hash == wiring.graph_hash(space.to_graph(t.arch)) for t in result.trials)


def test_graph_hashes_off_hashes_nothing(monkeypatch):
    calls = counting_graph_hash(monkeypatch)
    result = run(RandomSearch(Toy(), seed=0), objective, budget=5, progress=False, graph_hashes=False)
    assert calls == [] and all(t.graph_hash is None for t in result.trials)


def test_table_and_plot(tmp_path):
    result = run(RandomSearch(Toy(), seed=1), flaky, budget=20, progress=False)
    table = result.table()
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["#", "status", "score"] and len(lines) == 2 + 20 + 1
    assert "RuntimeError: boom" in table and f"best #{result.best.number}" in lines[-1]
    top = result.table(sort="score", limit=3).splitlines()
    assert top[2].split()[0] == str(result.best.number) and len(top) == 2 + 3 + 1
    curve = result.best_so_far()
    assert len(curve) == 20 and curve[-1] == result.best.score
    assert all(a is None or (b is not None and b >= a) for a, b in zip(curve, curve[1:]))
    path = result.plot(tmp_path / "progress.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert "20 trials" in repr(result)


def test_progress_bar_shows_trials_and_best(capsys):
    run(RandomSearch(Toy(), seed=0), objective, budget=5, progress=True)
    err = capsys.readouterr().err
    assert "5/5" in err and "best=" in err and "failed=0" in err


# -- resume -----------------------------------------------------------------------------


def test_resume_continues_to_the_same_result_as_an_uninterrupted_run(tmp_path):
    db = tmp_path / "s.db"
    reference = run(RegularizedEvolution(Toy(), seed=2, population=5, sample=2), objective, budget=30,
                    progress=False)
    first = run(RegularizedEvolution(Toy(), seed=2, population=5, sample=2), objective, budget=12, storage=db,
                progress=False)
    assert len(first.trials) == 12
    resumed = run(RegularizedEvolution(Toy(), seed=2, population=5, sample=2), objective, budget=30, storage=db,
                  progress=False)
    assert same_trials(resumed, reference)
    assert resumed.trials[:12] == first.trials  # not re-run: same timings
    again = run(RegularizedEvolution(Toy(), seed=2, population=5, sample=2), objective, budget=30, storage=db,
                progress=False)
    assert again.trials == resumed.trials  # a finished storage runs nothing more


SMALL = {"BayesianOptimization": dict(initial=3, candidates=10),
         "PredictorSearch": dict(initial=3, candidates=10, epochs=2, hidden=8, layers=1),
         "Reinforce": dict(batch=2, hidden=8), "RegularizedEvolution": dict(population=4, sample=2),
         "ConstrainedEvolution": dict(population=4, top_k=2, mutations=2, crossovers=2)}
"""Settings that keep each strategy of wiring.search.STRATEGIES quick here (and past its random start-up)."""


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_strategy_resumes_by_replay(tmp_path, name):
    def make():
        return STRATEGIES[name](Toy(), seed=0, **SMALL.get(name, {}))

    reference = run(make(), objective, budget=8, progress=False)
    run(make(), objective, budget=5, storage=tmp_path / "s.db", progress=False)
    resumed = run(make(), objective, budget=8, storage=tmp_path / "s.db", progress=False)
    assert same_trials(resumed, reference)


@pytest.mark.parametrize("batch", [None, 4])
def test_resume_after_an_interrupt_mid_trial_and_mid_batch(tmp_path, batch):
    db = tmp_path / "s.db"
    reference = run(Greedy(Toy(), seed=4), objective, budget=20, batch=batch, progress=False)
    with pytest.raises(KeyboardInterrupt):
        run(Greedy(Toy(), seed=4), Interrupter(at=11), budget=20, storage=db, batch=batch, progress=False)
    stored = load_result(db)
    assert stored.trials[10].status == "stopped"
    if batch:  # trials 8, 9 of the interrupted batch finished but were not yet told
        assert [t.status for t in stored.trials[8:]] == ["complete", "complete", "stopped", "stopped"]
        with sqlite3.connect(db) as con:
            assert con.execute("SELECT tell_seq FROM trials WHERE number IN (8, 9)").fetchall() == [(None,), (None,)]
    resumed = run(Greedy(Toy(), seed=4), objective, budget=20, storage=db, batch=batch, progress=False)
    assert same_trials(resumed, reference)
    assert resumed.trials[:10] == stored.trials[:10]


class FailOn:
    """``objective``, raising for the architecture encoded ``fail``; KeyboardInterrupt on its ``at``-th call (as
    Ctrl-C); each call's encoding appended to ``log``. Only ``fail`` is a setting (the rest is private)."""

    def __init__(self, fail: str, *, at: int | None = None, log: list[str] | None = None) -> None:
        self.fail = fail
        self._at, self._log = at, [] if log is None else log

    def __call__(self, arch: tuple) -> dict:
        encoding = "-".join(map(str, arch))
        self._log.append(encoding)
        if len(self._log) == self._at:
            raise KeyboardInterrupt
        if encoding == self.fail:
            raise RuntimeError(f"{encoding} fails")
        return objective(arch)


class Recording(Greedy):
    """Greedy that logs what it is told, replayed tells included: ``(encoding, value)`` in order."""

    def __init__(self, space, *, seed: int | None = None) -> None:
        super().__init__(space, seed=seed)
        self._told: list[tuple[str, float | None]] = []

    def tell(self, arch, value) -> None:
        super().tell(arch, value)
        self._told.append((self.space.encode(arch), value))


def test_resume_mid_batch_with_a_failed_trial_tells_each_finished_trial_once_and_reruns_only_the_unfinished(
        tmp_path):
    db, calls, fail = tmp_path / "s.db", [], "1-2-1-3"  # trial 8 of Recording(Toy(), seed=4): it fails
    reference = run(Recording(Toy(), seed=4), FailOn(fail), budget=20, batch=4, progress=False)
    # calls 1-8: trials 0-7 (batches 0, 1); 9: trial 8 (fails); 10: trial 9; 11: trial 10, interrupted
    with pytest.raises(KeyboardInterrupt):
        run(Recording(Toy(), seed=4), FailOn(fail, at=11, log=calls), budget=20, storage=db, batch=4,
            progress=False)
    stored = load_result(db)
    assert [(t.encoding == fail, t.status) for t in stored.trials[8:]] == [
        (True, "failed"), (False, "complete"), (False, "stopped"), (False, "stopped")]
    assert all(t.encoding != fail and t.status == "complete" for t in stored.trials[:8])
    with sqlite3.connect(db) as con:
        untold = [n for n, seq in con.execute("SELECT number, tell_seq FROM trials ORDER BY number") if seq is None]
    con.close()
    assert untold == [8, 9, 10, 11] and len(calls) == 11

    strategy = Recording(Toy(), seed=4)
    resumed = run(strategy, FailOn(fail, log=calls), budget=20, storage=db, batch=4, progress=False)
    # exactly one more call than the budget: trial 10, interrupted, runs again; the failed 8 and the complete 9 do not
    assert len(calls) == 21 and calls[11:13] == [stored.trials[10].encoding, stored.trials[11].encoding]
    assert same_trials(resumed, reference)
    assert resumed.trials[:10] == stored.trials[:10]  # the very same records (timings included)
    # the strategy was told every trial exactly once, with its value, in the uninterrupted run's order
    values = [(t.encoding, t.score if t.status == "complete" else None) for t in resumed.trials]
    assert len(strategy._told) == 20 and sorted(strategy._told, key=repr) == sorted(values, key=repr)
    assert strategy._told == reference.strategy._told
    assert (fail, None) in strategy._told[8:12] and not strategy.pending
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT status, tell_seq FROM trials").fetchall()
    con.close()
    assert len(rows) == 20 and all(status in ("complete", "failed") and seq is not None for status, seq in rows)


def forge(db, edit: str) -> None:
    """Edit a storage with SQL and forge the rows' digests, as a deliberate forger would: what the digest cannot
    catch, the field checks and the replay must."""
    with sqlite3.connect(db) as connection:
        connection.execute(edit)
        rows = connection.execute(f"SELECT {', '.join(storage_module.COLUMNS)} FROM trials").fetchall()
        connection.executemany("UPDATE trials SET digest=? WHERE number=?",
                               [(storage_module.row_digest(values), values[0]) for values in rows])
    connection.close()


def test_different_setup_is_refused_naming_the_field(tmp_path):
    db = tmp_path / "s.db"
    run(RegularizedEvolution(Toy(), seed=2, population=5, sample=2), objective, budget=6, storage=db, progress=False)
    cases = [
        (RegularizedEvolution(Toy(), seed=3, population=5, sample=2), objective, "seed was 2, now 3"),
        (RegularizedEvolution(Toy(), seed=2, population=6, sample=2), objective, "settings was"),
        (Greedy(Toy(), seed=2), objective, "strategy was wiring.search.evolution.RegularizedEvolution"),
        (RegularizedEvolution(Toy(width=5), seed=2, population=5, sample=2), objective, "space_settings was"),
        (RegularizedEvolution(Toy(), seed=2, population=5, sample=2), flaky, "objective was objective, now flaky"),
    ]
    for strategy, obj, message in cases:
        with pytest.raises(SearchError, match="written by a different search setup") as info:
            run(strategy, obj, budget=10, storage=db, progress=False)
        assert message in str(info.value)
    # callable objects and partials are compared by their settings too
    for first, second, message in [
        (Scaled(1.0), Scaled(2.0), 'objective_settings was {"factor": 1.0}, now {"factor": 2.0}'),
        (functools.partial(scaled, factor=1.0), functools.partial(scaled, factor=3.0), "objective_settings was"),
    ]:
        other = tmp_path / f"{type(first).__name__}.db"
        run(RandomSearch(Toy(), seed=0), first, budget=2, storage=other, progress=False)
        assert len(run(RandomSearch(Toy(), seed=0), first, budget=3, storage=other, progress=False).trials) == 3
        with pytest.raises(SearchError, match="written by a different search setup") as info:
            run(RandomSearch(Toy(), seed=0), second, budget=4, storage=other, progress=False)
        assert message in str(info.value)
    # a replay that proposes other architectures is refused too (here: the recorded encodings were changed)
    forge(db, "UPDATE trials SET encoding='0-0-0-0' WHERE number=3")
    with pytest.raises(SearchError, match=r"trial 3 was asked as '0-0-0-0', but replaying the search now asks"):
        run(RegularizedEvolution(Toy(), seed=2, population=5, sample=2), objective, budget=10, storage=db,
            progress=False)


def test_unseeded_strategy_cannot_replay(tmp_path):
    db = tmp_path / "s.db"
    run(RandomSearch(Toy()), objective, budget=5, storage=db, progress=False)
    with pytest.raises(SearchError, match="seed=None"):
        run(RandomSearch(Toy()), objective, budget=10, storage=db, progress=False)


def test_resume_false_refuses_a_used_storage_and_a_locked_one(tmp_path):
    db = tmp_path / "s.db"
    run(RandomSearch(Toy(), seed=0), objective, budget=3, storage=db, progress=False)
    with pytest.raises(SearchError, match="already holds 3 trials"):
        run(RandomSearch(Toy(), seed=0), objective, budget=5, storage=db, resume=False, progress=False)

    other = tmp_path / "locked.db"
    assert "in use by another running search" in second_search_error(other, other)


def second_search_error(first: Path, second: Path) -> str:
    """The error a second search on ``second`` raises while a first one runs on ``first``."""
    seen = {}

    def nested(arch):  # the second search starts from inside the first one's objective
        if "error" not in seen:
            try:
                run(RandomSearch(Toy(), seed=9), objective, budget=5, storage=second, progress=False)
            except SearchError as error:
                seen["error"] = str(error)
        return score(arch)

    run(RandomSearch(Toy(), seed=9), nested, budget=1, storage=first, progress=False)
    return seen["error"]


def test_not_a_storage_file(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_text("not sqlite " * 100)
    with pytest.raises(SearchError, match="not a search storage"):
        run(RandomSearch(Toy(), seed=0), objective, budget=2, storage=junk, progress=False)
    with pytest.raises(SearchError, match="no search storage"):
        load_result(tmp_path / "missing.db")
    with pytest.raises(SearchError, match="storage folder .* does not exist"):
        run(RandomSearch(Toy(), seed=0), objective, budget=2, storage=tmp_path / "no" / "s.db", progress=False)


@pytest.mark.parametrize("kwargs, message", [
    ({"budget": 0}, "budget must be a positive int"), ({"budget": 2.5}, "budget must be"),
    ({"budget": 3, "batch": 0}, "batch must be"), ({"budget": 3, "parallel": True}, "parallel must be"),
    ({"budget": 3, "timeout": -1}, "timeout must be"), ({"budget": 3, "timeout": math.inf}, "timeout must be"),
    ({"budget": 3, "executor": "ray"}, "executor must be a concurrent.futures.Executor"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(SearchError, match=message):
        run(RandomSearch(Toy(), seed=0), objective, progress=False, **kwargs)


def test_needs_a_fresh_strategy_and_a_callable_objective():
    strategy = RandomSearch(Toy(), seed=0)
    strategy.ask()
    with pytest.raises(SearchError, match="freshly built strategy"):
        run(strategy, objective, budget=2, progress=False)
    with pytest.raises(SearchError, match="objective must be callable"):
        run(RandomSearch(Toy(), seed=0), "objective", budget=2, progress=False)
    with pytest.raises(SearchError, match="ask"):
        run(object(), objective, budget=2, progress=False)


def test_threads_run_trials_concurrently_and_record_all():
    active, peak = [0], [0]
    lock = threading.Lock()

    def tracked(arch):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.02)
        with lock:
            active[0] -= 1
        return score(arch)

    with ThreadPoolExecutor(3) as pool:
        result = run(RandomSearch(Toy(), seed=0), tracked, budget=12, executor=pool, progress=False)
    inline = run(RandomSearch(Toy(), seed=0), objective, budget=12, executor=InlineExecutor(), progress=False)
    assert [(t.encoding, t.score) for t in result.trials] == [(t.encoding, t.score) for t in inline.trials]
    assert peak[0] == 3


# -- a real SIGKILL ------------------------------------------------------------------------------

SCRIPT = """\
import sys
sys.path[:0] = {paths!r}
from test_runner import Greedy, Toy, slow_objective
from wiring.search import run
run(Greedy(Toy(), seed=7), slow_objective, budget={budget}, storage={db!r}, progress=False)
"""


def _finished(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=1) as con:
            return con.execute("SELECT COUNT(*) FROM trials WHERE status IN ('complete', 'failed')").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def test_resume_after_sigkill_loses_and_repeats_nothing(tmp_path, monkeypatch):
    budget, kill_after = 40, 10
    db, log, script = tmp_path / "search.db", tmp_path / "calls.log", tmp_path / "search.py"
    script.write_text(SCRIPT.format(paths=[str(HERE), str(ROOT)], budget=budget, db=str(db)))
    env = {**os.environ, "RUNNER_TEST_LOG": str(log), "RUNNER_TEST_SLEEP": "0.05"}
    with open(tmp_path / "stderr.txt", "w") as stderr:
        proc = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            deadline = time.monotonic() + 60
            while _finished(db) < kill_after:
                assert proc.poll() is None, (tmp_path / "stderr.txt").read_text()
                assert time.monotonic() < deadline, "the search subprocess made no progress"
                time.sleep(0.02)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    before = load_result(db)
    finished = {t.number: t for t in before.trials if t.status in ("complete", "failed")}
    interrupted = [t for t in before.trials if t.status == "running"]
    assert kill_after <= len(finished) < budget and len(interrupted) <= 1
    assert sorted(finished) == list(range(len(finished)))

    monkeypatch.setenv("RUNNER_TEST_LOG", str(log))
    monkeypatch.setenv("RUNNER_TEST_SLEEP", "0")
    resumed = run(Greedy(Toy(), seed=7), slow_objective, budget=budget, storage=db, progress=False)
    monkeypatch.delenv("RUNNER_TEST_LOG")
    reference = run(Greedy(Toy(), seed=7), slow_objective, budget=budget, progress=False)

    assert same_trials(resumed, reference)
    assert (resumed.best.number, resumed.best.score) == (reference.best.number, reference.best.score)
    for number, trial in finished.items():  # not lost, not re-run: the very same record
        assert resumed.trials[number] == trial
    calls = log.read_text().split()
    assert budget <= len(calls) <= budget + len(interrupted)  # each finished trial evaluated exactly once


# -- the documentation's example: a real training objective ------------------------------------------


def test_docs_example_trains_and_records(capsys, monkeypatch, tmp_path):
    import re
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    text = (ROOT / "docs" / "search" / "runner.md").read_text()
    example = re.findall(r"```python\n(.*?)```", text, flags=re.S)[0]
    namespace = {"__name__": "__main__"}
    exec(compile(example, "docs/search/runner.md", "exec"), namespace)
    result = namespace["result"]
    assert len(result.trials) == 4 and all(t.status == "complete" for t in result.trials)
    assert all(0 <= t.score <= 1 and 0 <= t.metrics["test_accuracy"] <= 1 for t in result.trials)
    assert all(t.graph_hash == wiring.graph_hash(namespace["SPACE"].to_graph(t.arch)) for t in result.trials)
    out = capsys.readouterr().out
    assert "4 trials: 4 complete, 0 failed" in out and result.best.encoding in out
    assert (result.storage.parent / "progress.png").exists()


@pytest.mark.parametrize("storage, message", [("", "a file path or None"), (5, "a file path or None")])
def test_bad_storage_arguments_are_refused(storage, message):
    with pytest.raises(SearchError, match=message):
        run(RandomSearch(Toy(), seed=0), objective, budget=1, storage=storage, progress=False)


def test_a_directory_or_an_empty_file_is_not_a_storage(tmp_path):
    with pytest.raises(SearchError, match="is a directory"):
        run(RandomSearch(Toy(), seed=0), objective, budget=1, storage=tmp_path, progress=False)
    empty = tmp_path / "empty.db"
    empty.touch()
    with pytest.raises(SearchError, match="empty file.*delete it"):
        run(RandomSearch(Toy(), seed=0), objective, budget=1, storage=empty, progress=False)


def test_the_lock_holds_through_a_symlink_and_without_a_lock_file(tmp_path):
    """The database file itself is locked: a second driver through a symlink is refused."""
    db, link = tmp_path / "s.db", tmp_path / "link.db"
    link.symlink_to(db)
    assert "in use by another running search" in second_search_error(db, link)
    assert not list(tmp_path.glob("*.lock"))


@pytest.mark.parametrize("edit, message", [
    ("UPDATE trials SET metrics = '{bad' WHERE number = 1", "trial 1: metrics is not JSON"),
    ("UPDATE trials SET score = 'high' WHERE number = 0", "trial 0: score is 'high', not a number"),
    ("UPDATE trials SET score = NULL WHERE number = 2", "trial 2: a complete trial without a score"),
    ("UPDATE trials SET ask_seq = 100 WHERE number = 0", "trial 0 is told .* before it is asked"),
])
def test_an_edited_storage_gives_one_error_naming_file_trial_and_field(tmp_path, edit, message):
    db = tmp_path / "s.db"
    run(RandomSearch(Toy(), seed=0), objective, budget=3, storage=db, progress=False)
    forge(db, edit)
    with pytest.raises(SearchError, match=message) as info:
        run(RandomSearch(Toy(), seed=0), objective, budget=4, storage=db, progress=False)
    assert "s.db" in str(info.value)
    if "ask_seq" not in edit:
        with pytest.raises(SearchError, match=message):
            load_result(db).best


@pytest.mark.parametrize("edit, message", [
    ("DELETE FROM trials WHERE number = 1", "trial 1 is missing"),
    ("UPDATE trials SET status = 'running', score = NULL, metrics = NULL WHERE number = 1",
     r"trial 1 is told \(tell_seq 3\) but its status is 'running', not finished"),
    ("UPDATE trials SET status = 'stopped', score = NULL, metrics = NULL WHERE number = 2",
     r"trial 2 is told \(tell_seq 5\) but its status is 'stopped', not finished"),
])
def test_rows_that_replay_cannot_follow_are_refused_as_damaged_naming_the_file(tmp_path, edit, message):
    """Rows each valid alone but not a search's record together (a lost trial; a trial told but not finished,
    which the runner never writes) are refused before anything runs, not replayed into a result."""
    db = tmp_path / "s.db"
    run(RandomSearch(Toy(), seed=0), objective, budget=3, storage=db, progress=False)
    forge(db, edit)
    with pytest.raises(SearchError, match=f"storage '{re.escape(str(db))}' is damaged: {message}"):
        run(RandomSearch(Toy(), seed=0), objective, budget=4, storage=db, progress=False)
    assert len(load_result(db).trials) == 3 - edit.startswith("DELETE")  # nothing was run or rewritten
