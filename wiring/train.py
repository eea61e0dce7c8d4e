"""A small, reproducible training loop for compiled typed DAGs (or any ``nn.Module``) on a :class:`Dataset`.

``train(G, load_dataset("digits"), epochs=3)`` compiles ``G``, trains it with
SGD (or Adam) under a cosine learning-rate schedule, keeps the weights of the
epoch with the best validation accuracy and reports the test accuracy of those
weights. The same ``seed`` gives the same weights and accuracies.

DARTS' evaluation extras (reference code ``train.py``): an auxiliary loss
(``aux_weight``) for models returning ``(logits, aux_logits)``, a linearly
scheduled drop-path probability (``drop_path``) for models holding
``drop_path`` ops, and cutout (``cutout``) on training batches.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field

import networkx as nx
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

import ops
from generators.checks import boolean, int_at_least, real_in
from ops.darts_modules import DropPath

from . import distributed
from .compiler import compile as compile_graph
from .data import Dataset
from .data.augment import cutout, horizontal_flip, random_crop
from .data.images import Images, Split
from .errors import WiringError
from .threads import AUTO, ThreadTuner, configured_threads, using_threads

OPTIMIZERS = ("adam", "sgd")


class TrainError(WiringError):
    """A bad argument to :func:`train` or :func:`evaluate`, or a model that does not fit the data.

    A sibling of :class:`GraphError` (not a kind of it): both derive from :class:`WiringError`; a malformed
    graph given to :func:`train` still raises :class:`GraphError`.
    """


@dataclass(frozen=True)
class EpochRecord:
    """One completed epoch (numbered from 1): mean training loss and accuracy, validation accuracy, wall time."""

    epoch: int
    train_loss: float
    train_accuracy: float
    val_accuracy: float
    seconds: float


@dataclass
class TrainResult:
    """What :func:`train` returns.

    ``model`` holds the weights of ``best_epoch`` (the epoch with the highest
    validation accuracy, the earliest on ties; 0 means the initial weights,
    kept only when the first epoch diverged). ``val_accuracy`` and
    ``test_accuracy`` are those of ``model``; the test set is used once, at the
    end. ``history`` lists the completed epochs; ``epochs_run == len(history)``.
    ``threads`` is torch's thread count training ran with after any measuring
    (what ``threads="auto"`` chose; None when torch's setting was left alone):
    pass it as ``threads=`` to rerun bit for bit.
    """

    model: nn.Module
    val_accuracy: float
    test_accuracy: float
    train_seconds: float
    epochs_run: int
    best_epoch: int
    history: list[EpochRecord] = field(default_factory=list)
    stopped_early: bool = False
    diverged: bool = False
    threads: int | None = None


EarlyStopping = int | Callable[[list[EpochRecord]], bool] | None


def train(model: nn.Module | nx.DiGraph, data: Dataset, *, epochs: int = 10, batch_size: int = 64, lr: float = 0.05,
          momentum: float = 0.9, weight_decay: float = 5e-4, optimizer: str = "sgd",
          device: str | torch.device = "cpu", seed: int = 0, progress: bool = True,
          early_stopping: EarlyStopping = None, log: Callable[[EpochRecord], object] | None = None,
          aux_weight: float = 0.4, drop_path: float = 0.0, cutout: int = 0, crop_padding: int = 0,
          flip: bool = False, num_workers: int = 0, threads: int | str | None = "auto") -> TrainResult:
    """Train ``model`` on ``data.x_train`` with cross-entropy and return a :class:`TrainResult`.

    Parameters
    ----------
    model : nn.Module or networkx.DiGraph
        A module (trained in place and moved to ``device``) or a typed DAG with
        one input, compiled with ``wiring.compile(model, seed=seed)``. Its
        output is the logits ``(batch, data.num_classes)``, or a tuple whose
        first element is (the second, if any, is auxiliary logits: see ``aux_weight``).
    data : Dataset
        Batches are moved to ``device`` one at a time.
    epochs, batch_size : int
        The learning rate follows a cosine schedule from ``lr`` towards 0 over
        ``epochs``; the training set is reshuffled every epoch.
    lr, momentum, weight_decay : float
        For ``optimizer="sgd"``; ``"adam"`` uses ``lr`` and ``weight_decay`` only.
    device : str or torch.device
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``, …
    seed : int
        Fixes shuffling, dropout and other random ops, and (for a DAG) the
        initial weights: the same seed gives the same history, weights and
        accuracies. The caller's global RNG state is left as it was.
    progress : bool
        Show a progress bar over epochs (training loss, validation accuracy) on stderr.
    early_stopping : int or callable, optional
        An int ``p`` stops once validation accuracy has not improved for ``p``
        epochs; a callable gets the history after every epoch and returns True
        to stop. ``stopped_early`` records whether training ended before ``epochs``.
    log : callable, optional
        Called with each :class:`EpochRecord` as it completes.
    aux_weight : float
        For a model returning ``(logits, aux_logits, ...)``: the training loss is
        ``CE(logits) + aux_weight · CE(aux_logits)`` (DARTS: 0.4; 0 ignores the
        auxiliary output). Only in training: accuracies use ``logits``. The
        recorded ``train_loss`` is this total.
    drop_path : float
        DARTS' drop-path probability, in [0, 1): in epoch ``e`` (numbered from 1)
        every :class:`~ops.darts_modules.DropPath` module of the model (the
        ``drop_path`` op, e.g. ``spaces.darts.network(..., drop_path=True)``)
        gets ``p = drop_path · (e − 1) / epochs``, the reference code's linear
        schedule. 0 leaves those modules as they are; a positive value for a
        model without any raises :class:`TrainError`.
    cutout : int
        Cutout length in pixels (DARTS: 16): each training image gets one
        ``cutout × cutout`` square (clipped at the border, centre uniform)
        zeroed, drawn from a generator seeded by ``seed``; 0 disables it.
    crop_padding, flip : int, bool
        The standard CIFAR augmentation (DARTS, ENAS: 4 and True): each training
        image zero-padded by ``crop_padding`` and cropped back at a random
        offset, and mirrored with probability 1/2 (:mod:`wiring.data.augment`),
        drawn from their own generator seeded by ``seed``. Off by default.
    threads : int, "auto" or None
        Torch's intra-op threads while training and evaluating (restored
        afterwards). ``"auto"`` (the default) measures on the CPU: the first training steps
        run with 1, 2, … up to torch's setting and the rest with the fastest
        (the fewest within 5 %; :class:`wiring.threads.ThreadTuner`), since small
        networks on a busy machine train several times faster on one thread.
        The choice can differ from run to run and thread counts round sums
        differently, so for bit-identical reruns give an int (or set the
        environment variable ``WIRING_THREADS=n``, which ``"auto"`` then means);
        None leaves torch's setting alone.
    num_workers : int
        Worker processes reading training batches (a ``torch.utils.data.DataLoader``;
        worth it for streamed data, e.g. an image folder); 0 reads them in this
        process. Batches are the same either way. Memory is pinned when ``device`` is CUDA.

    After the last epoch the weights of the best validation epoch are restored.
    A non-finite training loss stops training at once (``diverged=True``); the
    epoch it happened in is not recorded. Bad arguments raise :class:`TrainError`
    naming the value.
    """
    int_at_least("epochs", epochs, 1, error=TrainError)
    int_at_least("batch_size", batch_size, 1, error=TrainError)
    real_in("lr", lr, 0, include_low=False, error=TrainError)
    real_in("momentum", momentum, 0, 1, include_high=False, error=TrainError)
    real_in("weight_decay", weight_decay, 0, error=TrainError)
    if not isinstance(optimizer, str) or optimizer.strip().lower() not in OPTIMIZERS:
        raise TrainError(f"unknown optimizer {optimizer!r}; known optimizers: {', '.join(OPTIMIZERS)}")
    if not isinstance(seed, int) or isinstance(seed, bool) or not -2**63 <= seed < 2**64:
        raise TrainError(f"seed must be an int in [-2**63, 2**64), got seed={seed!r}")
    patience = _check_early_stopping(early_stopping)
    if log is not None and not callable(log):
        raise TrainError(f"log must be a callable taking an EpochRecord or None, got log={log!r}")
    real_in("aux_weight", aux_weight, 0, error=TrainError)
    real_in("drop_path", drop_path, 0, 1, include_high=False, error=TrainError)
    int_at_least("cutout", cutout, 0, error=TrainError)
    int_at_least("crop_padding", crop_padding, 0, error=TrainError)
    boolean("flip", flip, error=TrainError)
    int_at_least("num_workers", num_workers, 0, error=TrainError)
    dev = _device(device)
    tuner = _tuner(threads, dev)
    if distributed.join(dev) and dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())  # torchrun: this rank's GPU
    _check_data(data)
    model = _module(model, data, seed)
    drop_modules = [m for m in model.modules() if isinstance(m, DropPath)]
    if drop_path > 0 and not drop_modules:
        raise TrainError(f"drop_path={drop_path} but the model has no drop_path ops; build it with them, e.g. "
                         f"spaces.darts.network(..., drop_path=True)")
    model.to(dev)
    distributed.broadcast(model)
    if optimizer.strip().lower() == "sgd":
        opt: torch.optim.Optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum,
                                                     weight_decay=weight_decay)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    shuffle = torch.Generator().manual_seed(seed)
    cuts = torch.Generator().manual_seed((seed + CUTOUT_STREAM) % 2**64) if cutout else None
    shifts = torch.Generator().manual_seed((seed + AUGMENT_STREAM) % 2**64) if crop_padding or flip else None
    extras = _Extras(aux_weight, cutout, cuts, crop_padding, flip, shifts, num_workers, dev.type == "cuda", tuner)

    history: list[EpochRecord] = []
    best_state, best_epoch, best_val = _snapshot(model), 0, -math.inf
    stopped_early = diverged = False
    start = time.perf_counter()
    with _forked_rng(dev, seed), tqdm(range(1, epochs + 1), desc="train", unit="epoch", file=sys.stderr,
                                      disable=not progress or distributed.rank() != 0) as bar:
        for epoch in bar:
            epoch_start = time.perf_counter()
            if drop_path > 0:
                for module in drop_modules:
                    module.p = drop_path * (epoch - 1) / epochs
            stats = _train_epoch(model, data, opt, batch_size, dev, shuffle, extras)
            if stats is None:
                diverged = True
                break
            schedule.step()
            with using_threads(tuner.choice if tuner else None):
                val = evaluate(model, data.x_val, data.y_val, device=dev)
            record = EpochRecord(epoch, stats[0], stats[1], val, time.perf_counter() - epoch_start)
            history.append(record)
            if val > best_val:
                best_state, best_epoch, best_val = _snapshot(model), epoch, val
            bar.set_postfix(loss=f"{record.train_loss:.4f}", val=f"{val:.4f}")
            if log is not None:
                log(record)
            stop = epoch - best_epoch >= patience if patience is not None else (
                early_stopping is not None and bool(early_stopping(list(history))))
            if stop and epoch < epochs:
                stopped_early = True
                break
        model.load_state_dict(best_state)
        train_seconds = time.perf_counter() - start
        with using_threads(tuner.choice if tuner else None):
            val_accuracy = best_val if best_epoch else evaluate(model, data.x_val, data.y_val, device=dev)
            test_accuracy = evaluate(model, data.x_test, data.y_test, device=dev)
    return TrainResult(model=model, val_accuracy=val_accuracy, test_accuracy=test_accuracy,
                       train_seconds=train_seconds, epochs_run=len(history), best_epoch=best_epoch, history=history,
                       stopped_early=stopped_early, diverged=diverged, threads=tuner.choice if tuner else None)


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 256,
             device: str | torch.device = "cpu") -> float:
    """Accuracy of ``model`` on ``(x, y)``, in eval mode under ``torch.no_grad()`` (under torchrun each rank
    scores a share and the counts are summed: every rank gets the same accuracy).

    The model is moved to ``device`` (batches go there one at a time); its
    train/eval mode is restored afterwards.
    """
    int_at_least("batch_size", batch_size, 1, error=TrainError)
    if not isinstance(x, (torch.Tensor, Images)) or not isinstance(y, torch.Tensor) or len(x) != len(y) \
            or len(x) == 0:
        raise TrainError(f"x and y must be non-empty tensors of equal length, got {_describe(x)} and {_describe(y)}")
    dev = _device(device)
    model.to(dev)
    was_training = model.training
    model.eval()
    correct = 0
    low, high = distributed.share_bounds(len(x))  # under torchrun each rank scores its share
    try:
        with torch.no_grad():
            for i in range(low, high, batch_size):
                end = min(i + batch_size, high)
                yb = y[i:end].to(dev)
                correct += int((_logits(model(x[i:end].to(dev))).argmax(1) == yb).sum())
    finally:
        model.train(was_training)
    (correct,) = distributed.all_sum([correct])
    return correct / len(x)


CUTOUT_STREAM = 0x9E3779B97F4A7C15
"""Offset of the cutout generator's seed from ``seed`` (a stream apart from shuffling)."""
AUGMENT_STREAM = 0x6A09E667F3BCC909
"""Offset of the crop-and-flip generator's seed from ``seed``."""


@dataclass(frozen=True)
class _Extras:
    aux_weight: float
    cutout: int
    cuts: torch.Generator | None
    crop_padding: int
    flip: bool
    shifts: torch.Generator | None
    num_workers: int
    pin_memory: bool
    tuner: ThreadTuner | None

    def step(self) -> AbstractContextManager:
        """One training step's thread setting: the tuner's, or torch's as it is."""
        return self.tuner.step() if self.tuner is not None else nullcontext()

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        if self.shifts is not None:
            x = random_crop(x, self.crop_padding, self.shifts)
            if self.flip:
                x = horizontal_flip(x, self.shifts)
        return cutout(x, self.cutout, self.cuts) if self.cuts is not None else x


class _Pairs(torch.utils.data.Dataset):
    """A split's images and labels, fetched a batch at a time (``__getitems__``) by a DataLoader."""

    def __init__(self, x: Split, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitems__(self, index: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        rows = torch.as_tensor(index, dtype=torch.long)
        return self.x[rows], self.y[rows]


def _as_batch(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    return batch


def batches(x: Split, y: torch.Tensor, order: torch.Tensor, batch_size: int, *, num_workers: int = 0,
            pin_memory: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor, int]]:
    """``(images, labels, global size)`` of ``order`` in runs of ``batch_size`` (under torchrun, runs of
    ``batch_size × world`` and this rank's share of each; a run too short to give every rank one example is
    dropped), read in this process or by ``num_workers`` DataLoader workers (the same batches either way)."""
    step = batch_size * distributed.world()
    runs = [run for run in (order[i:i + step] for i in range(0, len(order), step)) if len(run) >= distributed.world()]
    shares = [distributed.share(run) for run in runs]
    sizes = [len(run) for run in runs]
    if num_workers == 0:
        for share, size in zip(shares, sizes):
            yield x[share], y[share], size
        return
    loader = torch.utils.data.DataLoader(_Pairs(x, y), batch_sampler=[s.tolist() for s in shares],
                                         collate_fn=_as_batch, num_workers=num_workers, pin_memory=pin_memory)
    for (xb, yb), size in zip(loader, sizes):
        yield xb, yb, size


def _train_epoch(model: nn.Module, data: Dataset, opt: torch.optim.Optimizer, batch_size: int, dev: torch.device,
                 shuffle: torch.Generator, extras: _Extras) -> tuple[float, float] | None:
    """One pass over the shuffled training set: (mean loss, accuracy), or None when the loss is not finite."""
    model.train()
    n = len(data.y_train)
    total_loss, correct = 0.0, 0
    order = torch.randperm(n, generator=shuffle)
    seen = 0
    for xb, yb, size in batches(data.x_train, data.y_train, order, batch_size, num_workers=extras.num_workers,
                                pin_memory=extras.pin_memory):
        with extras.step():
            yb = yb.to(dev)
            xb = extras.augment(xb)
            logits, loss = _loss(model(xb.to(dev)), yb, data.num_classes, extras.aux_weight)
            finite = bool(torch.isfinite(loss))
            if distributed.active():
                finite = distributed.all_sum([float(not finite)])[0] == 0  # every rank stops together
            if not finite:
                return None
            opt.zero_grad(set_to_none=True)
            (loss * distributed.loss_weight(len(yb), size)).backward()
            distributed.average_gradients(model.parameters())
            opt.step()
            distributed.broadcast_buffers(model)
        seen += len(yb)
        total_loss += loss.item() * len(yb)
        correct += int((logits.argmax(1) == yb).sum())
    total_loss, correct, seen = distributed.all_sum([total_loss, correct, seen])
    return total_loss / seen, correct / seen


def _loss(output: torch.Tensor | tuple[torch.Tensor, ...], yb: torch.Tensor, num_classes: int,
          aux_weight: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The logits of a training step's ``output`` and its loss: cross-entropy, plus ``aux_weight`` times the
    auxiliary logits' (the second output, if any); TrainError for outputs of the wrong shape."""
    logits = _logits(output)
    expected = (len(yb), num_classes)
    if logits.shape != expected:
        raise TrainError(f"the model's logits have shape {tuple(logits.shape)}, expected {expected} for "
                         f"{num_classes} classes")
    loss = F.cross_entropy(logits, yb)
    if aux_weight > 0 and isinstance(output, tuple) and len(output) > 1 and output[1] is not None:
        if not isinstance(output[1], torch.Tensor) or output[1].shape != expected:
            raise TrainError(f"the model's auxiliary logits must have shape {expected}, got {_describe(output[1])}")
        loss = loss + aux_weight * F.cross_entropy(output[1], yb)
    return logits, loss


def _logits(output: torch.Tensor | tuple[torch.Tensor, ...]) -> torch.Tensor:
    return output[0] if isinstance(output, tuple) else output


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in model.state_dict().items()}


@contextmanager
def _forked_rng(dev: torch.device, seed: int) -> Iterator[None]:
    """Seed the global RNGs that random ops draw from (CPU, and ``dev`` if CUDA), restoring them afterwards."""
    cuda = [dev.index if dev.index is not None else torch.cuda.current_device()] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.default_generator.manual_seed(seed)
        for index in cuda:
            torch.cuda.default_generators[index].manual_seed(seed)
        yield


def _module(model: nn.Module | nx.DiGraph, data: Dataset, seed: int) -> nn.Module:
    if isinstance(model, nn.Module):
        return model
    if not isinstance(model, nx.DiGraph):
        raise TrainError(f"model must be an nn.Module or a typed DAG (networkx.DiGraph), got {type(model).__name__}")
    module = compile_graph(model, seed=seed)  # validates the graph first
    inputs = [(label, attrs) for label, attrs in model.nodes(data=True) if ops.normalise(attrs["op"]) == "input"]
    if len(inputs) != 1:
        raise TrainError(f"train takes a graph with one input node, got {len(inputs)}: "
                         f"{sorted(str(label) for label, _ in inputs)}")
    label, attrs = inputs[0]
    channels = attrs.get("params", {}).get("channels")
    if channels != data.input_shape[0]:
        raise TrainError(f"input node {label!r} carries {channels} channels but dataset {data.name!r} has "
                         f"{data.input_shape[0]} (input_shape {data.input_shape})")
    return module


def _device(device: str | torch.device) -> torch.device:
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise TrainError(f"unknown device {device!r}: {error}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise TrainError(f"device {device!r} requested but CUDA is not available")
    return dev


def _check_data(data: Dataset) -> None:
    if not isinstance(data, Dataset):
        raise TrainError(f"data must be a wiring.data.Dataset (see load_dataset), got {type(data).__name__}")
    if len(data.y_train) == 0 or len(data.y_val) == 0:
        raise TrainError(f"data needs training and validation examples, got {data!r}")


def _tuner(threads: object, dev: torch.device) -> ThreadTuner | None:
    """The thread setting of ``threads`` (see :func:`train`): a tuner measuring, one fixed count, or None. On a
    GPU ``"auto"`` leaves torch alone, as :func:`~wiring.threads.choose_threads` does: intra-op threads serve CPU
    kernels, and asynchronous GPU steps cannot be timed one by one."""
    value = configured_threads(threads, error=TrainError)
    if value is None or (value == AUTO and dev.type != "cpu"):
        return None
    return ThreadTuner() if value == AUTO else ThreadTuner([value])


def _check_early_stopping(early_stopping: EarlyStopping) -> int | None:
    """The patience of an int ``early_stopping``, else None (after checking a callable or None)."""
    if early_stopping is None or callable(early_stopping):
        return None
    if isinstance(early_stopping, int) and not isinstance(early_stopping, bool) and early_stopping >= 1:
        return early_stopping
    raise TrainError(f"early_stopping must be None, an int patience >= 1 or a callable taking the history, got "
                     f"early_stopping={early_stopping!r}")


def _describe(value: object) -> str:
    return f"tensor of shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__
