"""Checkpoints of one-shot searches (wiring.search.oneshot.checkpoint): kill, resume, the same result."""

from __future__ import annotations

import dataclasses
import re
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

import wiring.search.oneshot.darts as darts_module
from spaces import darts as darts_spaces
from spaces import enas as enas_spaces
from spaces import proxyless as proxyless_spaces
from spaces import spos as spos_spaces
from spaces.constraint import LatencyTable
from wiring.search.oneshot import DARTS, ENAS, GDAS, SPOS, FairDARTS, FairNAS, OneShotModel, ProxylessNAS
from wiring.search.oneshot.checkpoint import FORMAT, Checkpoint, read, read_payload, write
from wiring.search.strategy import SearchError

import tiny_data

DARTS_TINY = {**darts_spaces.SMALL, "layers": 3, "channels": 4, "image_size": 8, "nodes": 2}
DARTS_OPTIONS = {"epochs": 3, "batch_size": 32, "progress": False}
SPOS_OPTIONS = {"epochs": 2, "batch_size": 32, "search_budget": 6, "population": 4, "top_k": 2, "mutations": 2,
                "crossovers": 2, "bn_batches": 1, "val_size": 32, "checkpoint_every": 2, "progress": False}
SAMPLED_OPTIONS = {"epochs": 3, "batch_size": 16, "progress": False}
ENAS_OPTIONS = {"epochs": 2, "batch_size": 16, "controller_steps": 2, "controller_aggregate": 2, "final_samples": 3,
                "progress": False}


def digits(channels: int, size: int, val: int = 32):
    return tiny_data.digits(channels, size, train=64, val=val)


def tiny_darts():
    """The DARTS space and data of these tests (also imported by the killed subprocess)."""
    sp = darts_spaces.space(**DARTS_TINY)
    return sp, digits(sp.in_channels, sp.image_size)


@pytest.fixture(scope="module")
def darts_setup():
    return tiny_darts()


@pytest.fixture(scope="module")
def spos_setup():
    sp = spos_spaces.space(**spos_spaces.SMALL)
    return sp, digits(3, sp.image_size)


@pytest.fixture(scope="module")
def proxyless_setup():
    sp = proxyless_spaces.space(**proxyless_spaces.SMALL)
    return sp, digits(3, sp.image_size)


@pytest.fixture(scope="module")
def enas_setup():
    sp = enas_spaces.space(**enas_spaces.SMALL_MACRO)
    return sp, digits(3, sp.image_size, val=48)  # 4 reward batches an epoch: the cursor stops inside an order


@pytest.fixture(scope="module")
def table(proxyless_setup):
    """A deterministic latency table with the keys the space needs."""
    keys = sorted(LatencyTable().measure(proxyless_setup[0].latency_graphs(), repeats=1).entries)
    return LatencyTable({key: 0.1 * (i + 1) for i, key in enumerate(keys)})


CASES = {  # name: (fixture, build(space, table, **keywords), saves before the simulated kill)
    "DARTS": ("darts_setup", lambda sp, table, **kw: DARTS(sp, **DARTS_OPTIONS, **kw), 1),
    "FairDARTS": ("darts_setup", lambda sp, table, **kw: FairDARTS(sp, seed=2, **DARTS_OPTIONS, **kw), 2),
    "SPOS": ("spos_setup", lambda sp, table, **kw: SPOS(sp, seed=1, **SPOS_OPTIONS, **kw), 3),  # in the evolution
    "FairNAS": ("spos_setup", lambda sp, table, **kw: FairNAS(sp, **SPOS_OPTIONS, **kw), 1),
    "ProxylessNAS": ("proxyless_setup", lambda sp, table, **kw: ProxylessNAS(
        sp, latency=table, latency_weight=0.1, **SAMPLED_OPTIONS, **kw), 1),
    "GDAS": ("proxyless_setup", lambda sp, table, **kw: GDAS(sp, tau_max=5.0, tau_min=1.0, **SAMPLED_OPTIONS, **kw), 2),
    "ENAS": ("enas_setup", lambda sp, table, **kw: ENAS(sp, seed=3, **ENAS_OPTIONS, **kw), 1),
    "OneShotModel": ("enas_setup", lambda sp, table, **kw: OneShotModel(
        sp, seed=4, epochs=3, batch_size=16, samples=3, drop_rate=0.5, progress=False, **kw), 2),
}


class Killed(Exception):
    """Stands for the process dying right after a checkpoint was written."""


class SaveCounter:
    """Counts :meth:`Checkpoint.save` calls; raises :class:`Killed` after the ``kill_at``-th."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, kill_at: int | None = None) -> None:
        self.calls, self.kill_at, original = 0, kill_at, Checkpoint.save

        def save(checkpoint: Checkpoint, **loop) -> None:
            original(checkpoint, **loop)
            self.calls += 1
            if self.calls == self.kill_at:
                raise Killed

        monkeypatch.setattr(Checkpoint, "save", save)


def assert_same_state(x: dict, y: dict) -> None:
    assert list(x) == list(y)
    assert all(torch.equal(x[k], y[k]) for k in x), [k for k in x if not torch.equal(x[k], y[k])]


def assert_same_controller(x, y) -> None:
    """Two ENAS controllers (:class:`Reinforce`) alike: LSTM, Adam state, generator, baseline, history."""
    assert_same_state(x.controller.state_dict(), y.controller.state_dict())
    ox, oy = x.optimizer.state_dict()["state"], y.optimizer.state_dict()["state"]
    assert list(ox) == list(oy)
    for k in ox:
        assert_same_state(ox[k], oy[k])
    assert torch.equal(x.generator.get_state(), y.generator.get_state())
    assert (x.baseline, x.history, x.told, x.pending) == (y.baseline, y.history, y.told, y.pending)


def assert_identical(a, b) -> None:
    """Every field of two search results equal: α tensors, architecture, every weight and buffer, details
    (ENAS' controller compared by :func:`assert_same_controller`)."""
    assert type(a) is type(b)
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if f.name == "model":
            assert_same_state(x.state_dict(), y.state_dict())
        elif f.name == "alpha_history":
            assert [h.keys() for h in x] == [h.keys() for h in y]
            assert all(torch.equal(hx[k], hy[k]) for hx, hy in zip(x, y) for k in hx)
        elif f.name == "details" and "controller" in x:
            assert_same_controller(x["controller"], y["controller"])
            assert {**x, "controller": None} == {**y, "controller": None}
        else:
            assert x == y, f.name


@pytest.mark.parametrize("name", list(CASES))
def test_resume_after_kill_is_identical(name, request, table, tmp_path, monkeypatch):
    fixture, build, kill_at = CASES[name]
    sp, data = request.getfixturevalue(fixture)
    with monkeypatch.context() as m:
        reference_saves = SaveCounter(m)
        reference = build(sp, table).search(data)  # no checkpoint: save() is called but writes nothing
    assert not list(tmp_path.iterdir())
    path = tmp_path / "search.ckpt"
    with monkeypatch.context() as m:
        SaveCounter(m, kill_at=kill_at)
        with pytest.raises(Killed):
            build(sp, table, checkpoint=path).search(data)
    assert read(path)["format"] == FORMAT
    with monkeypatch.context() as m:
        resumed_saves = SaveCounter(m)
        resumed = build(sp, table, checkpoint=path).search(data)
    assert resumed_saves.calls == reference_saves.calls - kill_at  # went on from the checkpoint, did not restart
    assert_identical(resumed, reference)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_finished_darts_search_returns_without_training(darts_setup, tmp_path, monkeypatch):
    sp, data = darts_setup
    stop = lambda epoch, model, history: "enough" if epoch == 1 else None  # noqa: E731
    path = tmp_path / "darts.ckpt"
    first = DARTS(sp, early_stop=stop, checkpoint=path, **DARTS_OPTIONS).search(data)
    assert first.stopped_early and first.epochs_run == 2

    def no_training(*args, **kwargs):
        raise AssertionError("a finished search trained again")

    monkeypatch.setattr(darts_module, "epoch_batches", no_training)
    again = DARTS(sp, early_stop=stop, checkpoint=path, **DARTS_OPTIONS).search(data)
    assert_identical(again, first)


def test_finished_spos_search_returns_without_training_or_scoring(spos_setup, tmp_path, monkeypatch):
    sp, data = spos_setup
    path = tmp_path / "spos.ckpt"
    options = {**SPOS_OPTIONS, "epochs": 1, "checkpoint_every": 4}  # 6 evaluations: the last two only in the final save
    first = SPOS(sp, checkpoint=path, **options).search(data)

    def no_work(*args, **kwargs):
        raise AssertionError("a finished search trained or scored again")

    monkeypatch.setattr(SPOS, "train_step", no_work)
    monkeypatch.setattr(SPOS, "score", no_work)
    again = SPOS(sp, checkpoint=path, **options).search(data)
    assert_identical(again, first)
    told = read(path)["loop"]["told"]
    assert [sp.decode(e) for e, _ in told] == [arch for arch, _ in first.details["history"]]


@pytest.fixture(scope="module")
def enas_one_epoch(enas_setup, tmp_path_factory):
    """A finished one-epoch ENAS search and its checkpoint."""
    sp, data = enas_setup
    path = tmp_path_factory.mktemp("enas") / "enas.ckpt"
    return path, ENAS(sp, checkpoint=path, **{**ENAS_OPTIONS, "epochs": 1}).search(data)


def test_finished_enas_search_returns_without_training(enas_one_epoch, enas_setup, monkeypatch):
    path, first = enas_one_epoch
    sp, data = enas_setup

    def no_work(*args, **kwargs):
        raise AssertionError("a finished search trained the child or the controller again")

    monkeypatch.setattr(ENAS, "child_step", no_work)
    monkeypatch.setattr(ENAS, "controller_step", no_work)
    again = ENAS(sp, checkpoint=path, **{**ENAS_OPTIONS, "epochs": 1}).search(data)
    assert_identical(again, first)
    archs = read(path)["loop"]["archs"]
    assert [sp.decode(e) for step in archs for e in step] == [arch for arch, _ in first.details["controller"].history]


@pytest.mark.parametrize("change, setting", [
    ({"controller_lr": 0.01}, "controller_options.lr was 0.0035, now 0.01"),
    ({"controller_aggregate": 3}, "controller_aggregate was 2, now 3"),
    ({"space": {"layers": 3}}, "space.layers was 4, now 3"),
])
def test_other_enas_setup_is_refused(enas_one_epoch, enas_setup, change, setting):
    path, _ = enas_one_epoch
    sp, data = enas_setup
    if "space" in change:
        sp = enas_spaces.space(**{**enas_spaces.SMALL_MACRO, **change["space"]})
    keywords = {k: v for k, v in change.items() if k != "space"}
    with pytest.raises(SearchError, match=re.escape(setting)):
        ENAS(sp, checkpoint=path, **{**ENAS_OPTIONS, "epochs": 1, **keywords}).search(data)


SCRIPT = """
import sys, time
import torch
torch.set_num_threads(1)
sys.path.insert(0, {tests!r})
import wiring.search.oneshot.darts as darts_module
from test_oneshot_checkpoint import DARTS_OPTIONS, tiny_darts
from wiring.search.oneshot import DARTS

batches = darts_module.epoch_batches

def slow_batches(*args):  # after the first checkpoint, slow enough to be killed in the middle of an epoch
    for pair in batches(*args):
        yield pair
        if {path!r} and __import__("os").path.exists({path!r}):
            time.sleep(0.5)

darts_module.epoch_batches = slow_batches
sp, data = tiny_darts()
DARTS(sp, checkpoint={path!r}, **DARTS_OPTIONS).search(data)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkilled_darts_search_resumes_to_the_same_result(darts_setup, tmp_path):
    sp, data = darts_setup
    path = tmp_path / "killed.ckpt"
    script = SCRIPT.format(tests=str(Path(__file__).parent), path=str(path))
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while not path.exists():
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no checkpoint written in 300 s"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
    assert 1 <= read(path)["loop"]["epoch"] < DARTS_OPTIONS["epochs"]
    resumed = DARTS(sp, checkpoint=path, **DARTS_OPTIONS).search(data)
    assert_identical(resumed, DARTS(sp, **DARTS_OPTIONS).search(data))


@pytest.fixture(scope="module")
def one_epoch(darts_setup, tmp_path_factory):
    """A one-epoch DARTS checkpoint."""
    sp, data = darts_setup
    path = tmp_path_factory.mktemp("ckpt") / "one.ckpt"
    result = DARTS(sp, checkpoint=path, **{**DARTS_OPTIONS, "epochs": 1}).search(data)
    return path, result


def test_checkpoint_is_plain_data(one_epoch):
    path, result = one_epoch
    envelope = torch.load(path, weights_only=True)  # plain data, and so is what it holds
    assert set(envelope) == {"format", "sha256", "payload"} and envelope["format"] == FORMAT
    state = read(path)
    assert set(state) == {"format", "setup", "parts", "loop"}
    assert state["loop"]["epoch"] == 1 and not state["loop"]["stopped"]
    assert torch.equal(state["loop"]["history"][0]["normal"], result.alpha_history[0]["normal"])
    assert state["setup"]["strategy"] == '"DARTS"' and state["setup"]["lr"] == "0.025"


@pytest.mark.parametrize("change, setting", [
    ({"seed": 1}, "seed was 0, now 1"),
    ({"lr": 0.05}, "lr was 0.025, now 0.05"),
    ({"space": {"channels": 8}}, "space.channels was 4, now 8"),
    ({"data": 48}, "data.train was 64, now 48"),
    ({"strategy": FairDARTS}, 'strategy was "DARTS", now "FairDARTS"'),
])
def test_other_setup_is_refused(one_epoch, darts_setup, change, setting):
    path, _ = one_epoch
    sp, data = darts_setup
    if "space" in change:
        sp = darts_spaces.space(**{**DARTS_TINY, **change["space"]})
    if "data" in change:
        data = replace(data, x_train=data.x_train[:change["data"]], y_train=data.y_train[:change["data"]])
    strategy = change.get("strategy", DARTS)
    keywords = {k: v for k, v in change.items() if k not in ("space", "data", "strategy")}
    with pytest.raises(SearchError, match=re.escape(setting)) as info:
        strategy(sp, checkpoint=path, **{**DARTS_OPTIONS, "epochs": 1, **keywords}).search(data)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "foreign"])
def test_damaged_file_is_refused_naming_it(one_epoch, darts_setup, tmp_path, damage):
    sp, data = darts_setup
    good, _ = one_epoch
    path = tmp_path / "damaged.ckpt"
    if damage == "garbage":
        path.write_bytes(b"not a checkpoint at all")
    elif damage == "truncated":
        path.write_bytes(good.read_bytes()[:good.stat().st_size // 2])
    else:
        torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(SearchError, match=re.escape(str(path))):
        DARTS(sp, checkpoint=path, **{**DARTS_OPTIONS, "epochs": 1}).search(data)


def test_failed_write_keeps_the_previous_checkpoint(tmp_path):
    path = tmp_path / "state.ckpt"
    write(path, {"format": FORMAT, "n": torch.arange(3)})
    with pytest.raises(Exception):
        write(path, {"format": FORMAT, "n": lambda: None})  # cannot be saved: fails half way
    assert torch.equal(read_payload(path)["n"], torch.arange(3))
    assert [p.name for p in tmp_path.iterdir()] == ["state.ckpt"]


def test_bad_checkpoint_argument(darts_setup):
    with pytest.raises(SearchError, match="checkpoint must be a file path"):
        DARTS(darts_setup[0], checkpoint=3)


def test_spos_progress_bars(spos_setup, capsys):
    sp, data = spos_setup
    SPOS(sp, **{**SPOS_OPTIONS, "epochs": 1, "search_budget": 2, "progress": True}).search(data)
    err = capsys.readouterr().err
    assert "SPOS: 100%" in err and "SPOS evolution: 100%" in err and "2/2" in err


def test_a_flipped_byte_in_a_weight_is_refused(one_epoch, darts_setup, tmp_path):
    """The checksum: one changed byte anywhere in the saved state, never a search from a different supernet."""
    sp, data = darts_setup
    good, _ = one_epoch
    envelope = torch.load(good, weights_only=True)
    payload = bytearray(envelope["payload"])
    payload[len(payload) // 2] ^= 0x01
    path = tmp_path / "flipped.ckpt"
    torch.save({**envelope, "payload": bytes(payload)}, path)
    with pytest.raises(SearchError, match="fails its checksum"):
        DARTS(sp, checkpoint=path, **{**DARTS_OPTIONS, "epochs": 1}).search(data)


@pytest.mark.parametrize("loop, message", [({"epoch": -3}, "epoch is -3"), ({"epoch": "1"}, "epoch is '1'"),
                                           ({"epoch": 1}, "no 'history'")])
def test_a_crafted_loop_state_is_refused_naming_the_field(one_epoch, darts_setup, tmp_path, loop, message):
    sp, data = darts_setup
    good, _ = one_epoch
    state = read(good)
    path = tmp_path / "crafted.ckpt"
    write(path, {**state, "loop": loop})  # a well-formed file with a valid checksum, but fields no search writes
    with pytest.raises(SearchError, match=message):
        DARTS(sp, checkpoint=path, **{**DARTS_OPTIONS, "epochs": 1}).search(data)
