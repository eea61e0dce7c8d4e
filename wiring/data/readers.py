"""Readers of the user's data, each giving a :class:`~wiring.data.dataset.Dataset` (nothing is downloaded).

- :func:`from_arrays`: numpy arrays or tensors in memory;
- :func:`from_torch`: any map-style ``torch.utils.data.Dataset`` (or the
  dataset of a ``DataLoader``), streamed: items are read when a batch asks for
  them, only the labels are read up front (from ``targets`` where the dataset
  has it, else in one pass);
- :func:`cifar`: CIFAR-10 / CIFAR-100 from the official *binary* release
  (``cifar-10-batches-bin``: ``data_batch_1.bin`` … ``data_batch_5.bin``,
  ``test_batch.bin``, records of 1 label byte + 3,072 pixel bytes;
  ``cifar-100-binary``: ``train.bin``, ``test.bin``, records of a coarse and a
  fine label byte + 3,072 pixel bytes): plain bytes, no pickle; pixels stay uint8;
- :func:`image_folder`: torchvision's ``ImageFolder`` layout, ``root/<class>/<image>``,
  classes in sorted order, images decoded by Pillow when read;
- :func:`load_dataset`: any of :data:`DATASETS` by name (``digits`` is embedded).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .dataset import Dataset, Normalise, check_path, normalise_splits, split_dataset
from .errors import DataError
from .images import ArrayImages, FileImages, ItemImages, Split, as_image, item_input

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
"""The files :func:`image_folder` reads (case ignored), as torchvision's ``IMG_EXTENSIONS``."""

CIFAR_FILES = {10: (("data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
                     "data_batch_5.bin"), "test_batch.bin", "cifar-10-batches-bin"),
               100: (("train.bin",), "test.bin", "cifar-100-binary")}
"""Per CIFAR variant: its training files, its test file and the directory the official archive unpacks to."""

PIXELS = 3 * 32 * 32


def from_arrays(x: Any, y: Any, *, name: str = "arrays", test: tuple[Any, Any] | None = None,
                seed: int = 0, val_fraction: float = 0.15, test_fraction: float | None = None,
                limit: int | None = None, num_classes: int | None = None,
                normalise: Normalise = False) -> Dataset:
    """A dataset of images ``x`` ``(N, C, H, W)`` or ``(N, H, W)`` (uint8 scaled by 1/255, floats kept) and
    integer labels ``y`` ``(N,)``, split as :func:`~wiring.data.dataset.split_dataset` (``test``: a test set of its own)."""
    images, labels = _arrays(name, x, y)
    held = None if test is None else _arrays(f"{name} test", *test)
    return split_dataset(name, images, labels, seed=seed, val_fraction=val_fraction, test_fraction=test_fraction,
                         limit=limit, test=held, num_classes=num_classes, normalise=normalise)


def _arrays(name: str, x: Any, y: Any) -> tuple[torch.Tensor, np.ndarray]:
    try:
        images, labels = torch.as_tensor(np.asarray(x)), np.asarray(y)
    except (TypeError, ValueError, RuntimeError) as error:
        raise DataError(f"{name}: x and y must be arrays ({error})") from None
    if images.dim() == 3:
        images = images[:, None]
    if images.dim() != 4:
        raise DataError(f"{name}: images must have shape (N, C, H, W) or (N, H, W), got {tuple(images.shape)}")
    if images.dtype == torch.uint8:
        images = images.float().div_(255)
    elif images.is_floating_point():
        images = images.float()
    else:
        raise DataError(f"{name}: images must be uint8 or floating point, got {images.dtype}")
    if not bool(torch.isfinite(images).all()):
        raise DataError(f"{name}: images hold NaN or infinite values")
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{name}: labels must be a 1-d integer array, got {labels.dtype} of shape {labels.shape}")
    return images, labels.astype(np.int64)


def from_torch(train: Any, *, val: Any = None, test: Any = None, name: str = "torch", seed: int = 0,
               val_fraction: float = 0.15, test_fraction: float | None = None, limit: int | None = None,
               num_classes: int | None = None, normalise: Normalise = False) -> Dataset:
    """A dataset streamed from map-style torch datasets of ``(image, label)`` items (or DataLoaders of them).

    Images may be tensors, arrays (uint8 scaled by 1/255) or PIL images, all of
    one shape. Without ``val`` / ``test``, they are split off ``train`` (seeded,
    stratified); with ``val``, ``train`` is used whole for training and
    ``test`` is then required. Only labels are read up front."""
    splits = {"train": train, "val": val, "test": test}
    if val is not None and test is None:
        raise DataError(f"{name}: with val=, give test= too (or neither, to split them off train)")
    read = {key: _torch_split(f"{name} {key}", value) for key, value in splits.items() if value is not None}
    if val is None:
        images, labels = read["train"]
        return split_dataset(name, images, labels, seed=seed, val_fraction=val_fraction,
                             test_fraction=test_fraction, limit=limit, test=read.get("test"),
                             num_classes=num_classes, normalise=normalise)
    shapes = {key: tuple(x.shape[1:]) for key, (x, _) in read.items()}
    if len(set(shapes.values())) != 1:
        raise DataError(f"{name}: the splits hold images of different shapes: {shapes}")
    top = max(int(labels.max()) for _, labels in read.values() if len(labels)) + 1
    classes = num_classes if num_classes is not None else top
    split = {}
    for key, (x, labels) in read.items():
        split[f"x_{key}"], split[f"y_{key}"] = x, torch.from_numpy(labels)
    mean, std = normalise_splits(name, split, normalise)
    return Dataset(name=name, num_classes=classes, input_shape=shapes["train"], mean=mean, std=std, **split)


def _torch_split(name: str, source: Any) -> tuple[ItemImages, np.ndarray]:
    dataset = source.dataset if isinstance(source, torch.utils.data.DataLoader) else source
    if isinstance(dataset, torch.utils.data.IterableDataset) or not hasattr(dataset, "__getitem__") \
            or not hasattr(dataset, "__len__"):
        raise DataError(f"{name}: needs a map-style dataset (with __len__ and __getitem__), got "
                        f"{type(dataset).__name__}")
    n = len(dataset)
    if n == 0:
        raise DataError(f"{name}: the dataset is empty")
    targets = getattr(dataset, "targets", None)
    if targets is not None and len(targets) == n:
        labels = np.asarray(targets.tolist() if isinstance(targets, torch.Tensor) else targets)
    else:
        labels = np.asarray([_label(dataset[i], f"{name}: item {i}") for i in range(n)])
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
        raise DataError(f"{name}: labels must be non-negative ints, got {labels.dtype} values")
    shape = tuple(as_image(item_input(dataset[0], f"{name}: item 0")).shape)
    return ItemImages(dataset, np.arange(n), shape, name), labels.astype(np.int64)


def _label(item: Any, where: str) -> int:
    item_input(item, where)
    label = item[1]
    value = label.item() if isinstance(label, torch.Tensor) and label.numel() == 1 else label
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise DataError(f"{where}: a label must be an int, got {label!r}")
    return int(value)


def cifar(path: str | os.PathLike, *, classes: int = 10, label: str = "fine", **split: Any) -> Dataset:
    """CIFAR-``classes`` (10 or 100) from the official binary files in ``path`` (the unpacked directory, or
    the directory holding it); ``label`` picks CIFAR-100's ``fine`` (100) or ``coarse`` (20) labels.
    Validation is split off the training files; the test file is the test set. ``split``: as
    :func:`~wiring.data.dataset.split_dataset` (``seed``, ``val_fraction``, ``limit``, ``normalise``)."""
    if classes not in CIFAR_FILES:
        raise DataError(f"classes must be 10 or 100 (CIFAR-10 or CIFAR-100), got classes={classes!r}")
    if label not in ("fine", "coarse"):
        raise DataError(f"label must be 'fine' or 'coarse', got label={label!r}")
    name = f"cifar{classes}"
    if split.get("test_fraction") is not None:
        raise DataError(f"{name} has a test set of its own (its test file); test_fraction does not apply (got "
                        f"test_fraction={split['test_fraction']!r})")
    root = check_path(name, path)
    train_files, test_file, folder = CIFAR_FILES[classes]
    if not os.path.exists(os.path.join(root, test_file)) and os.path.isdir(os.path.join(root, folder)):
        root = os.path.join(root, folder)
    missing = [f for f in (*train_files, test_file) if not os.path.isfile(os.path.join(root, f))]
    if missing:
        raise DataError(f"{root}: not a {name} binary directory: missing {', '.join(missing)} (the official "
                        f"binary release unpacks to {folder}/)")
    label_byte = 1 if classes == 100 and label == "fine" else 0
    record = PIXELS + (1 if classes == 10 else 2)
    count = 10 if classes == 10 else (100 if label == "fine" else 20)
    parts = [_cifar_file(os.path.join(root, f), record, label_byte, count) for f in train_files]
    pixels, labels = np.concatenate([p for p, _ in parts]), np.concatenate([y for _, y in parts])
    test_pixels, test_labels = _cifar_file(os.path.join(root, test_file), record, label_byte, count)
    test = (ArrayImages(test_pixels, np.arange(len(test_labels)), os.path.join(root, test_file)), test_labels)
    images = ArrayImages(pixels, np.arange(len(labels)), root)
    return split_dataset(name, images, labels, test=test, num_classes=count, **split)


def dataset_in(path: str | os.PathLike) -> str:
    """The dataset a directory holds: ``cifar10`` / ``cifar100`` where it holds (or is) the official binary
    release's directory (:data:`CIFAR_FILES`), else ``folder``."""
    for classes, (_, test_file, folder) in CIFAR_FILES.items():
        if os.path.isdir(os.path.join(path, folder)) or os.path.isfile(os.path.join(path, test_file)):
            return f"cifar{classes}"
    return "folder"


def _cifar_file(path: str, record: int, label_byte: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    size = os.path.getsize(path)
    if size == 0 or size % record:
        raise DataError(f"{path}: {size} bytes is not a whole number of {record}-byte records: truncated or "
                        f"not a CIFAR binary file")
    raw = np.fromfile(path, dtype=np.uint8).reshape(-1, record)
    labels = raw[:, label_byte].astype(np.int64)
    if labels.max() >= count:
        bad = int(np.flatnonzero(labels >= count)[0])
        raise DataError(f"{path}: record {bad} has label {int(labels[bad])}, outside [0, {count}): not a CIFAR "
                        f"binary file of this kind")
    return raw[:, record - PIXELS:].reshape(-1, 3, 32, 32), labels


def image_folder(path: str | os.PathLike, *, size: tuple[int, int] | int | None = None, **split: Any) -> Dataset:
    """Images in ``path/<class>/<file>`` (:data:`IMAGE_SUFFIXES`), classes numbered in sorted order.

    All images are read as RGB, or as grey (1 channel) when every file is grey;
    ``size`` (an int or ``(height, width)``) resizes them, else they must all
    have the first's size. Headers are checked up front (a corrupt or odd-sized
    file is named); pixels are decoded when a batch asks for them. ``split``: as
    :func:`~wiring.data.dataset.split_dataset`."""
    from PIL import Image, UnidentifiedImageError

    root = check_path("folder", path)
    if not os.path.isdir(root):
        raise DataError(f"{root}: not a directory (an image folder holds one sub-directory per class)")
    classes = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
    if not classes:
        raise DataError(f"{root}: no class sub-directories (expected {root}/<class>/<image>)")
    files, labels = [], []
    for k, cls in enumerate(classes):
        found = sorted(os.path.join(dirpath, f) for dirpath, _, names in os.walk(os.path.join(root, cls))
                       for f in names if f.lower().endswith(IMAGE_SUFFIXES))
        if not found:
            raise DataError(f"{os.path.join(root, cls)}: class folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
        files += found
        labels += [k] * len(found)
    grey, sizes = True, set()
    for file in files:
        try:
            with Image.open(file) as image:
                grey &= image.mode in ("1", "L", "I", "I;16", "F")
                sizes.add((file, image.size))
        except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as error:
            raise DataError(f"{file}: not a readable image ({error})") from None
    if size is None:
        (first, (w, h)), *_ = sorted(sizes)
        odd = next((f for f, s in sorted(sizes) if s != (w, h)), None)
        if odd is not None:
            raise DataError(f"{odd}: {dict(sizes)[odd][0]}×{dict(sizes)[odd][1]} pixels where {first} has {w}×{h}; "
                            f"give size= to resize every image")
        size = (h, w)
    size = _size(size)
    images = FileImages(files, np.arange(len(files)), "L" if grey else "RGB", size, root)
    return split_dataset("folder", images, np.asarray(labels), num_classes=len(classes), **split)


def _size(size: Any) -> tuple[int, int]:
    pair = (size, size) if isinstance(size, int) and not isinstance(size, bool) else size
    if not isinstance(pair, (tuple, list)) or len(pair) != 2 or not all(
            isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 4096 for v in pair):
        raise DataError(f"size must be an int or (height, width) in [1, 4096], got size={size!r}")
    return int(pair[0]), int(pair[1])


def _digits(path: str | None, **split: Any) -> Dataset:
    from sklearn.datasets import load_digits  # bundled with scikit-learn: no download

    if path is not None:
        raise DataError(f"dataset 'digits' is embedded and reads no files; got path={path!r}")
    bunch = load_digits()
    images = (bunch.images / 16.0).astype(np.float32)[:, None, :, :]  # pixel values 0..16
    return split_dataset("digits", torch.from_numpy(images), bunch.target.astype(np.int64), **split)


DATASETS: dict[str, Callable[..., Dataset]] = {
    "digits": _digits,
    "cifar10": lambda path, **split: cifar(check_path("cifar10", path), classes=10, **split),
    "cifar100": lambda path, **split: cifar(check_path("cifar100", path), classes=100, **split),
    "folder": lambda path, **split: image_folder(check_path("folder", path), **split),
}
"""Dataset name -> reader ``(path, **split options)``. ``digits``: scikit-learn's 8×8 handwritten digits
(1,797 images, 10 classes, embedded); ``cifar10`` / ``cifar100``: the binary release in ``path``;
``folder``: an image folder at ``path``."""


def load_dataset(name: str = "digits", *, path: str | os.PathLike | None = None, seed: int = 0,
                 val_fraction: float = 0.15, test_fraction: float | None = None, limit: int | None = None,
                 normalise: Normalise = False, **options: Any) -> Dataset:
    """Read dataset ``name`` (a key of :data:`DATASETS`, case and spaces ignored) and split it.

    ``path``: the files of a dataset that reads them (CIFAR's directory, an image
    folder). ``seed``, ``val_fraction``, ``test_fraction`` (0.15 unless the
    dataset has its own test set, as CIFAR), ``limit``, ``normalise``: as
    :func:`~wiring.data.dataset.split_dataset`. ``options`` go to the reader
    (``size=`` for ``folder``, ``label=`` for ``cifar100``). Raises
    :class:`DataError` for an unknown name, a bad file or argument, naming it.
    """
    if not isinstance(name, str) or name.strip().lower() not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))}")
    key = name.strip().lower()
    allowed = {"folder": {"size"}, "cifar100": {"label"}}.get(key, set())
    extra = sorted(set(options) - allowed)
    if extra:
        raise DataError(f"dataset {key!r} takes no option {', '.join(extra)}"
                        + (f"; its options: {', '.join(sorted(allowed))}" if allowed else ""))
    split = dict(seed=seed, val_fraction=val_fraction, limit=limit, normalise=normalise)
    if test_fraction is not None:
        split["test_fraction"] = test_fraction
    return DATASETS[key](path, **split, **options)
