"""wiring.data: the bundled digits dataset, its seeded stratified split, and argument checks."""

import numpy as np
import pytest
import torch

from wiring import GraphError, WiringError
from wiring.data import DATASETS, DataError, Dataset, load_dataset


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset()


def _rows(x: torch.Tensor) -> list[bytes]:
    """One key per image (the 1,797 digits images are all distinct)."""
    return [row.numpy().tobytes() for row in x.flatten(1)]


def test_digits_sizes_shapes_and_values(digits):
    assert DATASETS.keys() >= {"digits"}
    assert (len(digits.y_train), len(digits.y_val), len(digits.y_test)) == (1257, 270, 270)
    assert digits.num_classes == 10 and digits.input_shape == (1, 8, 8) and digits.name == "digits"
    for x, y in ((digits.x_train, digits.y_train), (digits.x_val, digits.y_val), (digits.x_test, digits.y_test)):
        assert x.dtype == torch.float32 and x.shape == (len(y), 1, 8, 8)
        assert y.dtype == torch.int64 and set(y.tolist()) == set(range(10))
        assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    assert repr(digits) == "Dataset('digits', train=1257, val=270, test=270, input_shape=(1, 8, 8), num_classes=10)"


def test_splits_are_disjoint_and_cover_the_dataset(digits):
    from sklearn.datasets import load_digits

    raw = load_digits()
    every = dict(zip(_rows(torch.from_numpy((raw.images / 16).astype(np.float32))), raw.target.tolist()))
    seen = {}
    for x, y in ((digits.x_train, digits.y_train), (digits.x_val, digits.y_val), (digits.x_test, digits.y_test)):
        rows = _rows(x)
        assert not seen.keys() & set(rows)
        seen.update(zip(rows, y.tolist()))
    assert seen == every


def test_split_is_stratified(digits):
    overall = np.bincount(np.concatenate([digits.y_train, digits.y_val, digits.y_test]), minlength=10) / 1797
    for y in (digits.y_train, digits.y_val, digits.y_test):
        counts = np.bincount(y.numpy(), minlength=10)
        assert np.all(np.abs(counts - overall * len(y)) <= 2), counts


def test_limit_subsamples_stratified():
    data = load_dataset(limit=200, seed=3)
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (140, 30, 30)
    for y in (data.y_train, data.y_val, data.y_test):
        assert set(y.tolist()) == set(range(10))
    assert len(set(_rows(torch.cat([data.x_train, data.x_val, data.x_test])))) == 200


def test_same_seed_same_split_other_seed_other_split(digits):
    again = load_dataset(seed=0)
    for key in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        assert torch.equal(getattr(digits, key), getattr(again, key))
    other = load_dataset(seed=1)
    assert not torch.equal(digits.x_test, other.x_test)
    assert set(_rows(digits.x_test)) != set(_rows(other.x_test))


def test_global_rngs_untouched():
    np_state, torch_state = np.random.get_state()[1].copy(), torch.get_rng_state()
    load_dataset(seed=5, limit=100)
    assert np.array_equal(np.random.get_state()[1], np_state) and torch.equal(torch.get_rng_state(), torch_state)


def test_fractions_and_name_normalised():
    data = load_dataset(" Digits ", val_fraction=0.1, test_fraction=0.2)
    assert data.name == "digits"
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (1258, 180, 359)


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"name": "mnist"}, "'mnist'; known datasets: cifar10, cifar100, digits, folder"),
    ({"name": 3}, "3"),
    ({"seed": -1}, "seed=-1"),
    ({"seed": 1.5}, "seed=1.5"),
    ({"seed": True}, "seed=True"),
    ({"val_fraction": 0}, "val_fraction=0"),
    ({"test_fraction": 1.0}, "test_fraction=1.0"),
    ({"test_fraction": "0.1"}, "test_fraction='0.1'"),
    ({"val_fraction": 0.5, "test_fraction": 0.5}, "val_fraction=0.5, test_fraction=0.5"),
    ({"limit": 0}, "limit=0"),
    ({"limit": 1798}, "limit=1798"),
    ({"limit": 2.0}, "limit=2.0"),
    ({"limit": 3}, "train=3, val=0, test=0 from 3 examples (limit=3"),
    ({"val_fraction": 1e-4}, "val=0"),
])
def test_bad_arguments_raise_data_error(kwargs, needle):
    with pytest.raises(DataError) as info:
        load_dataset(**kwargs)
    assert needle in str(info.value)
    assert isinstance(info.value, WiringError) and isinstance(info.value, ValueError)
    assert not isinstance(info.value, GraphError)  # a sibling of the graph error, not a kind of it


def test_dataset_checks_its_tensors(digits):
    fields = {key: getattr(digits, key) for key in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")}
    with pytest.raises(DataError, match=r"x_val must be a float32 tensor of shape \(N, \*\(1, 8, 8\)\)"):
        Dataset("d", **{**fields, "x_val": digits.x_val.double()}, num_classes=10, input_shape=(1, 8, 8))
    with pytest.raises(DataError, match=r"y_train must be an int64 tensor of shape \(1257,\)"):
        Dataset("d", **{**fields, "y_train": digits.y_train[:5]}, num_classes=10, input_shape=(1, 8, 8))
    with pytest.raises(DataError, match=r"y_train must hold labels in \[0, 5\), got values in \[0, 9\]"):
        Dataset("d", **fields, num_classes=5, input_shape=(1, 8, 8))
