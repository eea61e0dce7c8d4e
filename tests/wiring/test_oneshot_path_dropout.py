"""The one-shot model (Bender et al. 2018): path-dropout training with a linear schedule, then ranking."""

import pytest
from spaces.nasbench201 import SMALL, space
from wiring import supernet
from wiring.search.oneshot import OneShotModel

from tiny_data import digits

OPTIONS = {"epochs": 2, "batch_size": 16, "samples": 4, "progress": False}


@pytest.fixture(scope="module")
def sp():
    return space(**SMALL)


@pytest.fixture(scope="module")
def data(sp):
    return digits(3, sp.image_size, train=32, val=16)


def test_drop_rate_rises_linearly_from_zero_to_its_final_value(sp):
    strategy = OneShotModel(sp, drop_rate=0.4, progress=False)
    assert [strategy.rate(step, 5) for step in range(5)] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])


def test_training_sets_the_scheduled_rate_before_every_step(sp, data, monkeypatch):
    from wiring.search.oneshot import path_dropout

    rates = []
    original = path_dropout.set_drop_rate
    monkeypatch.setattr(path_dropout, "set_drop_rate", lambda model, rate: (rates.append(rate), original(model, rate)))
    OneShotModel(sp, seed=0, drop_rate=0.3, **OPTIONS).search(data)
    assert rates == pytest.approx([0.3 * i / 3 for i in range(4)])  # 2 epochs × 2 steps of 16


def test_result_is_the_best_ranked_sample_and_deterministic(sp, data):
    a = OneShotModel(sp, seed=1, **OPTIONS).search(data)
    b = OneShotModel(sp, seed=1, **OPTIONS).search(data)
    samples = a.details["samples"]
    assert len(samples) == 4 and a.arch == max(samples, key=lambda s: s[1])[0]
    assert a.arch == b.arch and samples == b.details["samples"]
    sp.check(a.arch)
    # the returned model runs exactly the chosen architecture: every decision's path is set
    states = dict(supernet.states(a.model))
    assert all(state.active.get(row) is not None for key, state in states.items()
               for row in range(supernet.alpha(a.model, key).shape[0]))
