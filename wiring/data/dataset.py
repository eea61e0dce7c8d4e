"""A dataset split three ways, and :func:`load_dataset`, which reads one by name (nothing is ever downloaded).

``load_dataset("digits")`` gives scikit-learn's 1,797 handwritten 8×8 digits
(embedded in the package, the default); ``load_dataset("cifar10", path=DIR)``
the official CIFAR-10/100 binary files; ``load_dataset("folder", path=DIR)`` an
image folder. Every split is seeded and stratified by class.
:func:`split_dataset` does the splitting for any images and labels (also
:func:`wiring.data.from_arrays` and :func:`wiring.data.from_torch`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real

import numpy as np
import torch

from .errors import DataError
from .images import Images, Split, channel_statistics, take

Normalise = bool | tuple[Sequence[float], Sequence[float]]
"""``False`` (images in [0, 1] as read), ``True`` (per-channel mean/std of the training split) or ``(mean, std)``."""


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """An image classification dataset split three ways.

    Each ``x_*`` is a float32 tensor ``(N, C, H, W)`` or an :class:`~wiring.data.images.Images`
    (images read when a batch asks for them, indexed like a tensor); labels are
    int64 tensors ``(N,)`` in ``[0, num_classes)``; ``input_shape`` is ``(C, H, W)``.
    Values are in [0, 1] unless normalised: then ``mean`` and ``std`` (per channel) are what was applied.
    """

    name: str
    x_train: Split
    y_train: torch.Tensor
    x_val: Split
    y_val: torch.Tensor
    x_test: Split
    y_test: torch.Tensor
    num_classes: int
    input_shape: tuple[int, int, int]
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        for split in ("train", "val", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if not isinstance(x, (torch.Tensor, Images)) or x.dtype != torch.float32 \
                    or tuple(x.shape[1:]) != self.input_shape:
                raise DataError(f"x_{split} must be a float32 tensor of shape (N, *{self.input_shape}), got "
                                f"{_describe_tensor(x)}")
            if not isinstance(y, torch.Tensor) or y.dtype != torch.int64 or tuple(y.shape) != (len(x),):
                raise DataError(f"y_{split} must be an int64 tensor of shape ({len(x)},), got {_describe_tensor(y)}")
            if len(y) and not 0 <= int(y.min()) <= int(y.max()) < self.num_classes:
                raise DataError(f"y_{split} must hold labels in [0, {self.num_classes}), got values in "
                                f"[{int(y.min())}, {int(y.max())}]")

    @property
    def streamed(self) -> bool:
        """Whether any split reads its images on demand (an :class:`~wiring.data.images.Images`)."""
        return any(isinstance(x, Images) for x in (self.x_train, self.x_val, self.x_test))

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, train={len(self.y_train)}, val={len(self.y_val)}, test={len(self.y_test)}, "
                f"input_shape={self.input_shape}, num_classes={self.num_classes})")


def _describe_tensor(value: object) -> str:
    if isinstance(value, (torch.Tensor, Images)):
        return f"{value.dtype} {type(value).__name__} of shape {tuple(value.shape)}"
    return type(value).__name__


def check_fraction(label: str, fraction: object) -> None:
    if not isinstance(fraction, Real) or isinstance(fraction, bool) or not 0 < fraction < 1:
        raise DataError(f"{label} must be a number with 0 < {label} < 1, got {label}={fraction!r}")


def split_dataset(name: str, images: Split, labels: np.ndarray, *, seed: int = 0, val_fraction: float = 0.15,
                  test_fraction: float | None = None, limit: int | None = None,
                  test: tuple[Split, np.ndarray] | None = None, num_classes: int | None = None,
                  normalise: Normalise = False) -> Dataset:
    """Split ``images`` and their ``labels`` into train, validation and (unless ``test`` is given) test sets.

    Parameters
    ----------
    seed : int
        Fixes the subsample and the split (its own ``numpy.random.default_rng(seed)``; no global RNG is touched).
    val_fraction, test_fraction : float
        Shares of the (subsampled) examples held out for validation and testing,
        each rounded to the nearest count; the rest is for training.
        ``test_fraction`` defaults to 0.15 and must not be given with ``test``.
    limit : int, optional
        Use only this many of ``images``, drawn stratified by class (``test`` is kept whole).
    test : (images, labels), optional
        A test set of its own (CIFAR's test batch).
    num_classes : int, optional
        Defaults to the largest label + 1.
    normalise : bool or (mean, std)
        See :data:`Normalise`; statistics are computed on the training split only.

    Every split is stratified: each class keeps its share of the split's
    examples to within a couple of examples. :class:`DataError` names a bad value.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise DataError(f"seed must be a non-negative int, got seed={seed!r}")
    check_fraction("val_fraction", val_fraction)
    if test is not None and test_fraction is not None:
        raise DataError(f"{name} has a test set of its own; test_fraction does not apply (got "
                        f"test_fraction={test_fraction!r})")
    test_share = 0.0 if test is not None else 0.15 if test_fraction is None else test_fraction
    if test is None:
        check_fraction("test_fraction", test_share)
    if val_fraction + test_share >= 1:
        raise DataError(f"val_fraction + test_fraction must be < 1 to leave training examples, got "
                        f"val_fraction={val_fraction!r}, test_fraction={test_share!r}")
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) != len(images):
        raise DataError(f"{name}: {len(images)} images but {len(labels)} labels")
    if len(labels) == 0:
        raise DataError(f"{name}: no examples")
    if labels.min() < 0:
        raise DataError(f"{name}: labels must be >= 0, got {int(labels.min())}")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)
                              or not 1 <= limit <= len(labels)):
        raise DataError(f"limit must be None or an int with 1 <= limit <= {len(labels)} (the size of {name!r}), "
                        f"got limit={limit!r}")
    n = len(labels) if limit is None else limit
    n_test = math.floor(n * test_share + 0.5) if test is None else 0
    n_val = math.floor(n * val_fraction + 0.5)
    n_train = n - n_test - n_val
    if min(n_train, n_val) < 1 or (test is None and n_test < 1):
        raise DataError(f"every split needs at least one example, got train={n_train}, val={n_val}, test={n_test} "
                        f"from {n} examples (limit={limit!r}, val_fraction={val_fraction!r}, "
                        f"test_fraction={test_share!r})")
    order = _stratified_order(labels, np.random.default_rng(seed))
    cuts = {"test": order[:n_test], "val": order[n_test:n_test + n_val], "train": order[n_test + n_val:n]}
    split = {}
    for key, index in cuts.items():
        if key == "test" and test is not None:
            continue
        index = np.sort(index)
        split[f"x_{key}"], split[f"y_{key}"] = take(images, index), torch.from_numpy(labels[index])
    if test is not None:
        split["x_test"], split["y_test"] = test[0], torch.from_numpy(np.asarray(test[1], dtype=np.int64))
    if num_classes is None:
        num_classes = int(max(labels.max(), split["y_test"].max() if len(split["y_test"]) else 0)) + 1
    mean, std = normalise_splits(name, split, normalise)
    return Dataset(name=name, num_classes=num_classes, input_shape=tuple(images.shape[1:]), mean=mean, std=std,
                   **split)


def normalise_splits(name: str, split: dict[str, Split], normalise: Normalise
                     ) -> tuple[tuple[float, ...] | None, tuple[float, ...] | None]:
    """Standardise ``split``'s ``x_train`` / ``x_val`` / ``x_test`` in place as ``normalise`` asks (statistics
    of ``x_train`` for True); the per-channel ``(mean, std)`` applied, ``(None, None)`` for False."""
    if normalise is False:
        return None, None
    mean, std = _statistics(name, normalise, split["x_train"], split["x_train"].shape[1])
    for key in ("x_train", "x_val", "x_test"):
        split[key] = _normalised(split[key], mean, std)
    return tuple(mean.tolist()), tuple(std.tolist())


def _statistics(name: str, normalise: Normalise, x_train: Split, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    if normalise is True:
        return channel_statistics(x_train)
    try:
        mean, std = (torch.as_tensor(v, dtype=torch.float32).reshape(-1) for v in normalise)
    except (TypeError, ValueError, RuntimeError):
        raise DataError(f"normalise must be False, True or (mean, std) per channel, got normalise={normalise!r}") \
            from None
    if len(mean) != channels or len(std) != channels or not bool((std > 0).all()) \
            or not bool(torch.isfinite(mean).all()) or not bool(torch.isfinite(std).all()):
        raise DataError(f"{name}: normalise needs {channels} finite means and {channels} positive stds, got "
                        f"normalise={normalise!r}")
    return mean, std


def _normalised(x: Split, mean: torch.Tensor, std: torch.Tensor) -> Split:
    if isinstance(x, Images):
        x = x.subset(np.arange(len(x)))
        x.normalise = (mean, std)
        return x
    return (x - mean[:, None, None]) / std[:, None, None]


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


def check_path(name: str, path: str | os.PathLike | None) -> str:
    """``path`` as a str, or DataError when a dataset that reads files got none or a missing one."""
    if path is None:
        raise DataError(f"dataset {name!r} reads files: give path= (the directory holding them)")
    if not isinstance(path, (str, os.PathLike)):
        raise DataError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file or directory (dataset {name!r})")
    return path
