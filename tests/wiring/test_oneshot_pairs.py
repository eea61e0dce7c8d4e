"""Every (one-shot strategy, space) pair the CLI lists as supported (derived from the strategies' ``needs``)
runs one epoch and derives a valid member of the space; every other image space is refused at construction."""

from importlib import import_module

import pytest
import torch

import wiring
from wiring.cli.oneshot import IMAGE_SPACES, STRATEGIES, strategy_class
from wiring.data import from_torch
from wiring.search.strategy import SearchError

from tiny_data import digits

FAST = {  # the smallest settings that still run every stage of each strategy
    "SPOS": {"search_budget": 2, "population": 2, "top_k": 1, "mutations": 1, "crossovers": 1, "bn_batches": 1,
             "bn_batch_size": 8, "val_size": 8},
    "ENAS": {"controller_steps": 1, "controller_aggregate": 2, "final_samples": 1},
    "ProxylessNAS": {"warmup_epochs": 0, "arch_every": 1},
    "OneShotModel": {"samples": 2},
}
FAST["FairNAS"] = FAST["SPOS"]
PAIRS = [(key, space) for key, entry in STRATEGIES.items() if key != "darts+" for space in entry.spaces]
REFUSED = [(key, space) for key, entry in STRATEGIES.items() for space in IMAGE_SPACES if space not in entry.spaces]


def small(name):
    module = import_module(f"spaces.{name}")
    return module.space(**module.SMALL)


@pytest.mark.parametrize("key, name", PAIRS)
def test_every_listed_pair_runs(key, name):
    space = small(name)
    inputs = [d["params"] for _, d in space.supernet().nodes(data=True) if d["op"] == "input"]
    data = digits(inputs[0]["channels"], inputs[0]["size"][0], train=16, val=8)
    cls = strategy_class(key)
    result = cls(space, seed=0, epochs=1, batch_size=8, progress=False, **FAST.get(cls.__name__, {})).search(data)
    wiring.validate(space.to_graph(result.arch))


def test_the_streamed_strategies_cover_every_search_loop():
    loops = {strategy_class(key).__module__ for key in STREAMED}
    assert loops == {strategy_class(key).__module__ for key, _ in PAIRS}


@pytest.mark.parametrize("key, name", REFUSED)
def test_every_other_pair_is_refused_saying_what_is_missing(key, name):
    with pytest.raises(SearchError, match=f"{strategy_class(key).__name__} cannot search .*: it needs "):
        strategy_class(key)(small(name), progress=False)


class _Items(torch.utils.data.Dataset):
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], int(self.y[i])


STREAMED = ["darts", "enas", "gdas", "oneshot", "spos"]
"""One strategy per search loop (darts.py, enas.py, proxyless.py, path_dropout.py, single_path.py): the others
(fairdarts, proxyless, fairnas) read their batches through the same loops."""


@pytest.mark.parametrize("key", STREAMED)
def test_streamed_data_searches_exactly_as_tensors(key):
    """A user's torch dataset (splits read on demand) gives every search loop the very batches of the tensors."""
    name = STRATEGIES[key].spaces[0]
    space = small(name)
    inputs = [d["params"] for _, d in space.supernet().nodes(data=True) if d["op"] == "input"]
    data = digits(inputs[0]["channels"], inputs[0]["size"][0], train=16, val=8)
    streamed = from_torch(_Items(data.x_train, data.y_train), val=_Items(data.x_val, data.y_val),
                          test=_Items(data.x_test, data.y_test), num_classes=data.num_classes)
    cls = strategy_class(key)
    options = dict(seed=0, epochs=1, batch_size=8, progress=False, **FAST.get(cls.__name__, {}))
    assert streamed.streamed
    assert cls(space, **options).search(streamed).arch == cls(space, **options).search(data).arch
