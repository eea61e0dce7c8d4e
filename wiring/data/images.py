"""Image splits read on demand: a split that holds its images somewhere else than one float tensor.

A :class:`Dataset`'s ``x_train`` / ``x_val`` / ``x_test`` is either a float32
tensor ``(N, C, H, W)`` or an :class:`Images`: it has ``len``, ``shape``,
``dtype`` and is indexed like a tensor (an int gives one ``(C, H, W)`` image; a
slice, a list or a long tensor of indices gives a float32 batch), so every
consumer that slices batches out of a split reads only those images. Kinds:

- :class:`ArrayImages`: rows of an in-memory array (CIFAR's bytes stay uint8,
  scaled per batch; 4 × less memory than float32);
- :class:`ItemImages`: items of a map-style ``torch.utils.data.Dataset``,
  fetched when a batch asks for them (never copied whole);
- :class:`FileImages`: image files decoded (and resized) when read.

Each applies an optional per-channel normalisation ``(x − mean) / std`` to what
it returns; :func:`take` and :func:`mapped` derive new splits without reading images.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from .errors import DataError

Index = int | slice | Sequence[int] | torch.Tensor | np.ndarray


class Images:
    """A split of ``len(self)`` images of shape ``item_shape`` read on demand; see the module docstring.

    Subclasses implement :meth:`_read` (float32 ``(n, C, H, W)`` for positions ``rows``, before normalisation)."""

    dtype = torch.float32

    def __init__(self, rows: np.ndarray, item_shape: tuple[int, ...], source: str,
                 normalise: tuple[torch.Tensor, torch.Tensor] | None = None) -> None:
        self.rows = np.asarray(rows, dtype=np.int64)
        self.item_shape = tuple(item_shape)
        self.source = source
        self.normalise = normalise

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self), *self.item_shape))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.source!r}, {len(self)} × {self.item_shape})"

    def __getitem__(self, index: Index) -> torch.Tensor:
        if isinstance(index, (int, np.integer)) and not isinstance(index, bool):
            return self[[int(index)]][0]
        positions = self.positions(index)
        batch = self._read(self.rows[positions]) if len(positions) else torch.empty((0, *self.item_shape))
        if tuple(batch.shape[1:]) != self.item_shape:
            raise DataError(f"{self.source}: images of shape {tuple(batch.shape[1:])} where the split holds "
                            f"{self.item_shape}")
        if self.normalise is not None:
            mean, std = self.normalise
            batch = (batch - mean[:, None, None]) / std[:, None, None]
        return batch

    def positions(self, index: Index) -> np.ndarray:
        """``index`` (slice, sequence or tensor of positions in this split) as an int64 array; DataError if out of range."""
        if isinstance(index, slice):
            return np.arange(len(self), dtype=np.int64)[index]
        array = index.cpu().numpy() if isinstance(index, torch.Tensor) else np.asarray(index)
        if array.dtype == bool:
            array = np.flatnonzero(array)
        if array.size and not np.issubdtype(array.dtype, np.integer):
            raise DataError(f"{self.source}: index with integers, got {array.dtype}")
        array = array.astype(np.int64).reshape(-1)
        if array.size and not (-len(self) <= array.min() and array.max() < len(self)):
            raise DataError(f"{self.source}: index out of range for a split of {len(self)} images")
        return array % max(len(self), 1)

    def subset(self, positions: np.ndarray) -> Images:
        """The images at ``positions`` of this split, as a split of the same kind (nothing is read)."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.rows = self.rows[positions]
        return clone

    def _read(self, rows: np.ndarray) -> torch.Tensor:
        raise NotImplementedError


class ArrayImages(Images):
    """Rows of ``array`` (N, C, H, W): uint8 scaled by 1/255, floats as they are."""

    def __init__(self, array: np.ndarray, rows: np.ndarray, source: str,
                 normalise: tuple[torch.Tensor, torch.Tensor] | None = None) -> None:
        super().__init__(rows, array.shape[1:], source, normalise)
        self.array = array

    def _read(self, rows: np.ndarray) -> torch.Tensor:
        batch = torch.from_numpy(np.ascontiguousarray(self.array[rows]))
        return batch.float().div_(255) if batch.dtype == torch.uint8 else batch.float()


class ItemImages(Images):
    """Items ``dataset[i][0]`` of a map-style torch dataset: tensors or arrays (uint8 scaled by 1/255) or PIL images."""

    def __init__(self, dataset: Any, rows: np.ndarray, item_shape: tuple[int, ...], source: str,
                 normalise: tuple[torch.Tensor, torch.Tensor] | None = None) -> None:
        super().__init__(rows, item_shape, source, normalise)
        self.dataset = dataset

    def _read(self, rows: np.ndarray) -> torch.Tensor:
        images = []
        for row in rows:
            image = as_image(item_input(self.dataset[int(row)], f"{self.source}: item {int(row)}"))
            if tuple(image.shape) != self.item_shape:
                raise DataError(f"{self.source}: item {int(row)} is an image of shape {tuple(image.shape)}, "
                                f"the others {self.item_shape}")
            images.append(image)
        return torch.stack(images)


class FileImages(Images):
    """Image files ``paths[row]`` decoded by Pillow, converted to ``mode`` ("L" or "RGB") and resized to ``size``."""

    def __init__(self, paths: Sequence[str], rows: np.ndarray, mode: str, size: tuple[int, int], source: str,
                 normalise: tuple[torch.Tensor, torch.Tensor] | None = None) -> None:
        super().__init__(rows, (1 if mode == "L" else 3, *size), source, normalise)
        self.paths, self.mode, self.size = list(paths), mode, size

    def _read(self, rows: np.ndarray) -> torch.Tensor:
        return torch.stack([decode(self.paths[int(row)], self.mode, self.size) for row in rows])


def decode(path: str, mode: str, size: tuple[int, int]) -> torch.Tensor:
    """The image file ``path`` as a float32 ``(C, H, W)`` tensor in [0, 1]; DataError naming the file if unreadable."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image = image.convert(mode)
            if image.size != (size[1], size[0]):
                image = image.resize((size[1], size[0]), Image.BILINEAR)
            array = channels_first(np.asarray(image, dtype=np.uint8))
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as error:
        raise DataError(f"{path}: not a readable image ({error})") from None
    return torch.from_numpy(array).float().div_(255)


def channels_first(array: np.ndarray) -> np.ndarray:
    """A decoded image's pixels, ``(H, W)`` or ``(H, W, C)`` as Pillow gives them, as a contiguous ``(C, H, W)``."""
    return np.ascontiguousarray(array[None] if array.ndim == 2 else array.transpose(2, 0, 1))


def item_input(item: Any, where: str) -> Any:
    """The input of a dataset item: ``item[0]`` of an ``(input, label)`` pair."""
    if not isinstance(item, (tuple, list)) or len(item) < 2:
        raise DataError(f"{where}: a dataset item must be an (input, label) pair, got {type(item).__name__}")
    return item[0]


def as_image(value: Any) -> torch.Tensor:
    """A tensor, array (uint8 scaled by 1/255; HW gets a channel) or PIL image as float32 ``(C, H, W)``."""
    if hasattr(value, "mode") and hasattr(value, "size") and not isinstance(value, (np.ndarray, torch.Tensor)):
        value = channels_first(np.asarray(value))  # a PIL image
    tensor = torch.as_tensor(value)
    if tensor.dtype == torch.uint8:
        tensor = tensor.float().div_(255)
    elif not tensor.is_floating_point():
        raise DataError(f"an image must be uint8 or floating point, got {tensor.dtype}")
    if tensor.dim() == 2:
        tensor = tensor[None]
    if tensor.dim() != 3:
        raise DataError(f"an image must have shape (C, H, W) or (H, W), got {tuple(tensor.shape)}")
    return tensor.float()


Split = torch.Tensor | Images
"""What a :class:`Dataset` split holds: a float32 tensor or an :class:`Images`."""


def take(x: Split, positions: np.ndarray | torch.Tensor) -> Split:
    """The examples of ``x`` at ``positions``, of the same kind (an :class:`Images` reads nothing)."""
    if isinstance(x, Images):
        return x.subset(x.positions(positions))
    return x[torch.as_tensor(positions, dtype=torch.long)]


class MappedImages(Images):
    """``fn`` applied to every batch of ``inner`` (e.g. resizing to a network's input); shape from one image."""

    def __init__(self, inner: Images, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        shape = tuple(fn(inner[[0]]).shape[1:]) if len(inner) else inner.item_shape
        super().__init__(np.arange(len(inner)), shape, inner.source)
        self.inner, self.fn = inner, fn

    def _read(self, rows: np.ndarray) -> torch.Tensor:
        return self.fn(self.inner[rows])


def mapped(x: Split, fn: Callable[[torch.Tensor], torch.Tensor]) -> Split:
    """``fn(x)`` for a tensor; for an :class:`Images`, a split applying ``fn`` to each batch it reads."""
    return MappedImages(x, fn) if isinstance(x, Images) else fn(x)


def channel_statistics(x: Split, batch_size: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation of a split (one streamed pass for an :class:`Images`)."""
    total = squares = None
    count = 0
    for start in range(0, len(x), batch_size):
        batch = x[start:start + batch_size].double()
        s, q = batch.sum((0, 2, 3)), batch.pow(2).sum((0, 2, 3))
        total, squares = (s, q) if total is None else (total + s, squares + q)
        count += batch.shape[0] * batch.shape[2] * batch.shape[3]
    if not count:
        raise DataError("channel statistics of an empty split")
    mean = total / count
    std = (squares / count - mean.pow(2)).clamp_min(0).sqrt()
    return mean.float(), std.clamp_min(1e-8).float()
