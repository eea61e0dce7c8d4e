"""Suite-wide set-up.

Hypothesis profiles for the whole suite ("ci" when $CI is set, else $HYPOTHESIS_PROFILE, else "dev").

One torch thread: the suite runs many tiny tensors, for which thread start-up
and contention cost far more than they save (on a busy 2-core machine each
small conv took ~30 ms with 2 threads, ~0.2 ms with 1).

``fake_timer`` replaces the latency table's op timer by a counter (latency tables, constraints).

Every test starts from the same global random state (torch, numpy, random), so a
test that draws its inputs from the global generators gives the same result on
every run and in any order.
"""

import random

import numpy as np
import pytest
import torch

from wiring import latency, testing

testing.load_profile()
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed_global_generators() -> None:
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture
def fake_timer(monkeypatch):
    """``latency._time_op`` replaced by a counter: call i takes 2**i ms; returns the list of timed labels."""
    timed = []

    def time_op(info, device, repeats):
        timed.append(info.label)
        return float(2 ** (len(timed) - 1))

    monkeypatch.setattr(latency, "_time_op", time_op)
    return timed
