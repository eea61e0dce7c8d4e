"""Pieces the one-shot search loops share: seeding, data checks, batches, progress bars.

Checkpoints (saving after every epoch, resuming a killed search) are in :mod:`.checkpoint`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from ..strategy import SearchError


@contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Run under a forked torch RNG (CPU, and the CUDA device if used) seeded with ``seed``."""
    devices = []
    if device.type == "cuda":
        devices = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        if devices:
            torch.cuda.manual_seed(seed)
        yield


def check_data(space: Any, data: Any) -> None:
    """:class:`SearchError` unless ``data`` is a Dataset shaped like the supernet's (single) input."""
    for name in ("x_train", "y_train", "input_shape"):
        if not hasattr(data, name):
            raise SearchError(f"data must be a wiring.data.Dataset, got {type(data).__name__}")
    inputs = [attrs for _, attrs in space.supernet().nodes(data=True) if attrs.get("op") == "input"]
    if len(inputs) == 1:
        params = inputs[0].get("params", {})
        shape = (params.get("channels"), *params.get("size", ()))
        if None not in shape and tuple(shape) != tuple(data.input_shape):
            raise SearchError(f"the supernet takes inputs {tuple(shape)} but {data.name} has {data.input_shape}; "
                              f"adapt it with wiring.search.evaluators.fit_input(data, {tuple(shape)})")


def split_halves(n: int, generator: torch.Generator, who: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded 50/50 split of ``n`` training examples into weight and α halves."""
    order = torch.randperm(n, generator=generator)
    half = n // 2
    if half < 1:
        raise SearchError(f"{who} needs at least 2 training examples to split 50/50, got {n}")
    return order[:half], order[half:]


@dataclass
class Alternating:
    """What an alternating (weight step, α step) search builds before its first epoch."""

    alphas: list[torch.Tensor]
    weights: list[torch.Tensor]
    generator: torch.Generator
    w_idx: torch.Tensor
    a_idx: torch.Tensor
    w_opt: torch.optim.Optimizer
    a_opt: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler


def alternating(strategy: Any, model: nn.Module, n: int) -> Alternating:
    """The data-order generator (seeded with ``strategy.seed``), the 50/50 split of ``n`` training examples, SGD
    with momentum on the weights under a cosine schedule (``lr`` to ``lr_min`` over ``epochs``) and Adam on α,
    from ``strategy``'s settings of those names."""
    s = strategy
    alphas, weights = list(model.arch_parameters()), list(model.weight_parameters())
    gen = torch.Generator().manual_seed(s.seed)
    w_idx, a_idx = split_halves(n, gen, type(s).__name__)
    w_opt = torch.optim.SGD(weights, lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay,
                            nesterov=getattr(s, "nesterov", False))
    a_opt = torch.optim.Adam(alphas, lr=s.arch_lr, betas=s.arch_betas, weight_decay=s.arch_weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(w_opt, T_max=s.epochs, eta_min=s.lr_min)
    return Alternating(alphas, weights, gen, w_idx, a_idx, w_opt, a_opt, schedule)


def epoch_batches(w_idx: torch.Tensor, a_idx: torch.Tensor, batch_size: int,
                  generator: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch: (weight batch, α batch) index pairs; one pass over the weight half, the α half cycled beside it."""
    w_perm = w_idx[torch.randperm(len(w_idx), generator=generator)]
    a_perm = a_idx[torch.randperm(len(a_idx), generator=generator)]
    a_pos = 0
    for start in range(0, len(w_perm), batch_size):
        if a_pos >= len(a_perm):
            a_perm, a_pos = a_idx[torch.randperm(len(a_idx), generator=generator)], 0
        yield w_perm[start:start + batch_size], a_perm[a_pos:a_pos + batch_size]
        a_pos += batch_size


class Progress:
    """A tqdm bar over ``total`` epochs (or other ``unit``), ``initial`` of them done already (a resumed search),
    or nothing when ``progress`` is false; a context manager that closes the bar."""

    def __init__(self, progress: bool, total: int, name: str, *, unit: str = "epoch", initial: int = 0) -> None:
        self.bar = None
        if progress:
            self.bar = tqdm(total=total, initial=initial, desc=name, unit=unit)

    def step(self, **postfix: float) -> None:
        """One more done, with the ``postfix`` numbers (e.g. ``loss=0.5``) shown beside the bar."""
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix({name: f"{value:.3f}" for name, value in postfix.items()})

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()

