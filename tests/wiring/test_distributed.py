"""Data-parallel training under torchrun, two gloo processes on 127.0.0.1 (wiring.distributed): the ranks agree
bit for bit, 2 ranks × batch B equal 1 process × batch 2B, and a killed, resumed search ends where the whole one
does."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from wiring import distributed
from wiring.search.oneshot.checkpoint import read

SCRIPT = Path(__file__).with_name("ddp_script.py")
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(out: Path, *args: object, ranks: int = 2, expect: int = 0) -> list[dict]:
    """Run the script under torchrun with ``ranks`` processes (or alone for 1) and load what each rank saved."""
    out.mkdir(exist_ok=True)
    prefix = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", str(ranks),
              "--master-addr", "127.0.0.1", "--master-port", str(free_port())] if ranks > 1 else [sys.executable]
    env = {"PYTHONPATH": f"{ROOT}:{SCRIPT.parent}", "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([*prefix, str(SCRIPT), str(out), *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300)
    if expect == 0:
        assert proc.returncode == 0, proc.stderr[-3000:]
        return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(ranks)]
    assert proc.returncode != 0
    return []


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_a_single_process_is_not_distributed():
    assert not distributed.active() and distributed.world() == 1 and distributed.rank() == 0
    index = torch.arange(5)
    assert torch.equal(distributed.share(index), index) and distributed.all_sum([1.5, 2]) == [1.5, 2]


def test_two_ranks_agree_and_equal_one_process_on_the_doubled_batch(tmp_path):
    two = launch(tmp_path / "two", "train-mlp", 16, 2)
    assert_same(two[0]["weights"], two[1]["weights"])
    assert two[0]["history"] == two[1]["history"] and two[0]["test"] == two[1]["test"]
    (one,) = launch(tmp_path / "one", "train-mlp", 32, 2, ranks=1)
    for key, value in one["weights"].items():
        assert torch.allclose(two[0]["weights"][key], value, atol=1e-5), key
    for (l2, a2, v2), (l1, a1, v1) in zip(two[0]["history"], one["history"]):
        assert l2 == pytest.approx(l1, abs=1e-5) and a2 == a1 and v2 == v1


def test_ranks_agree_bit_for_bit_with_batch_norm(tmp_path):
    two = launch(tmp_path, "train-bn", 16, 2)
    assert_same(two[0]["weights"], two[1]["weights"])  # buffers (running statistics) too
    assert two[0]["history"] == two[1]["history"]


def test_darts_ranks_agree_and_a_killed_search_resumes_to_the_whole_run(tmp_path):
    whole = launch(tmp_path / "whole", "darts", 16, 2)
    for a, b in zip(whole[0]["alphas"], whole[1]["alphas"]):
        assert_same(a, b)  # α identical on every rank after every epoch
    assert_same(whole[0]["weights"], whole[1]["weights"])
    assert whole[0]["arch"] == whole[1]["arch"]
    path = tmp_path / "search.ckpt"
    launch(tmp_path / "killed", "darts", 16, 2, path, 1, expect=1)  # killed after epoch 1's checkpoint
    assert read(path)["loop"]["epoch"] == 1
    resumed = launch(tmp_path / "resumed", "darts", 16, 2, path)
    for r in range(2):
        assert resumed[r]["saves"] == 1  # went on from epoch 1: trained epoch 2 only
        assert resumed[r]["arch"] == whole[0]["arch"]
        for a, b in zip(resumed[r]["alphas"], whole[0]["alphas"]):
            assert_same(a, b)
        assert_same(resumed[r]["weights"], whole[0]["weights"])


def test_strategies_that_run_in_one_process_refuse_torchrun(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", "2", "--master-addr",
         "127.0.0.1", "--master-port", str(free_port()), str(SCRIPT.with_name("ddp_refusal.py"))],
        capture_output=True, text=True, env={"PYTHONPATH": f"{ROOT}:{SCRIPT.parent}", "OMP_NUM_THREADS": "1",
                                             "PATH": "/usr/bin:/bin"}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "SPOS runs in one process; under torchrun (world size 2)" in proc.stdout
