"""Small image classification datasets that ship with the installed packages (never downloaded).

``load_dataset("digits")`` gives scikit-learn's 1,797 handwritten 8×8 digits as
1-channel images split into train, validation and test sets, stratified by
class and fixed by ``seed``. :data:`DATASETS` maps each name to its loader.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Real

import numpy as np
import torch

from .errors import WiringError

Loader = Callable[[], tuple[np.ndarray, np.ndarray]]
"""Returns every example of a dataset: images ``(N, C, H, W)`` float32 in [0, 1] and labels ``(N,)`` int64."""


class DataError(WiringError):
    """A bad dataset name or argument, or inconsistent dataset tensors.

    A sibling of :class:`GraphError` (not a kind of it): both derive from :class:`WiringError`.
    """


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """An image classification dataset split three ways.

    Images are float32 tensors ``(N, C, H, W)`` with values scaled to [0, 1]
    (not standardised); labels are int64 tensors ``(N,)`` in ``[0, num_classes)``.
    ``input_shape`` is ``(C, H, W)``.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    input_shape: tuple[int, int, int]

    def __post_init__(self) -> None:
        for split in ("train", "val", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if not isinstance(x, torch.Tensor) or x.dtype != torch.float32 or tuple(x.shape[1:]) != self.input_shape:
                raise DataError(f"x_{split} must be a float32 tensor of shape (N, *{self.input_shape}), got "
                                f"{_describe_tensor(x)}")
            if not isinstance(y, torch.Tensor) or y.dtype != torch.int64 or tuple(y.shape) != (len(x),):
                raise DataError(f"y_{split} must be an int64 tensor of shape ({len(x)},), got {_describe_tensor(y)}")
            if len(y) and not 0 <= int(y.min()) <= int(y.max()) < self.num_classes:
                raise DataError(f"y_{split} must hold labels in [0, {self.num_classes}), got values in "
                                f"[{int(y.min())}, {int(y.max())}]")

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, train={len(self.y_train)}, val={len(self.y_val)}, test={len(self.y_test)}, "
                f"input_shape={self.input_shape}, num_classes={self.num_classes})")


def _describe_tensor(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"{value.dtype} tensor of shape {tuple(value.shape)}"
    return type(value).__name__


def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits  # bundled with scikit-learn: no download

    bunch = load_digits()
    images = (bunch.images / 16.0).astype(np.float32)[:, None, :, :]  # pixel values 0..16
    return images, bunch.target.astype(np.int64)


DATASETS: dict[str, Loader] = {"digits": _load_digits}
"""Dataset name -> loader. ``digits``: scikit-learn's 8×8 handwritten digits (1,797 images, 10 classes)."""


def load_dataset(name: str = "digits", *, seed: int = 0, val_fraction: float = 0.15, test_fraction: float = 0.15,
                 limit: int | None = None) -> Dataset:
    """Load dataset ``name`` and split it into train, validation and test sets.

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS` (case and surrounding spaces ignored).
    seed : int
        Fixes the subsample and the split: the same seed gives the same split.
        Uses its own ``numpy.random.default_rng(seed)``; no global RNG is touched.
    val_fraction, test_fraction : float
        Shares of the (subsampled) examples held out for validation and testing,
        each rounded to the nearest count; the rest is for training.
    limit : int, optional
        Use only this many examples, drawn stratified by class.

    Every split is stratified: each class keeps its share of the split's
    examples to within a couple of examples. Raises :class:`DataError` for an
    unknown name or a bad argument, naming the value.
    """
    if not isinstance(name, str) or name.strip().lower() not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))}")
    name = name.strip().lower()
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise DataError(f"seed must be a non-negative int, got seed={seed!r}")
    for label, fraction in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not isinstance(fraction, Real) or isinstance(fraction, bool) or not 0 < fraction < 1:
            raise DataError(f"{label} must be a number with 0 < {label} < 1, got {label}={fraction!r}")
    if val_fraction + test_fraction >= 1:
        raise DataError(f"val_fraction + test_fraction must be < 1 to leave training examples, got "
                        f"val_fraction={val_fraction!r}, test_fraction={test_fraction!r}")
    images, labels = DATASETS[name]()
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)
                              or not 1 <= limit <= len(labels)):
        raise DataError(f"limit must be None or an int with 1 <= limit <= {len(labels)} (the size of {name!r}), "
                        f"got limit={limit!r}")
    n = len(labels) if limit is None else limit
    n_test, n_val = math.floor(n * test_fraction + 0.5), math.floor(n * val_fraction + 0.5)
    n_train = n - n_test - n_val
    if min(n_train, n_val, n_test) < 1:
        raise DataError(f"every split needs at least one example, got train={n_train}, val={n_val}, test={n_test} "
                        f"from {n} examples (limit={limit!r}, val_fraction={val_fraction!r}, "
                        f"test_fraction={test_fraction!r})")
    order = _stratified_order(labels, np.random.default_rng(seed))
    cuts = {"test": order[:n_test], "val": order[n_test:n_test + n_val], "train": order[n_test + n_val:n]}
    split = {}
    for key, index in cuts.items():
        index = np.sort(index)
        split[f"x_{key}"] = torch.from_numpy(images[index])
        split[f"y_{key}"] = torch.from_numpy(labels[index])
    return Dataset(name=name, num_classes=int(labels.max()) + 1, input_shape=tuple(images.shape[1:]), **split)


def _stratified_order(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random order of all examples in which every contiguous run is stratified by class.

    The j-th example of a class of size m (in a random order within the class)
    gets the key (j + u) / m, u uniform in [0, 1); sorting by key interleaves
    the classes in proportion, so any run of k of the N examples holds k·m/N
    of each class, give or take a couple.
    """
    keys = np.empty(len(labels))
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        keys[members] = (np.arange(len(members)) + rng.random(len(members))) / len(members)
    return np.argsort(keys, kind="stable")
