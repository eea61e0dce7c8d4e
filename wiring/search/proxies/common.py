"""What every zero-cost proxy shares: the layers it scores, the logits of a forward, the loss."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..strategy import SearchError

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

SCORED = (nn.Conv2d, nn.Linear)
"""The layers whose weights the per-parameter proxies sum over (the references' ``get_layer_metric_array``)."""

BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
"""The batch norms synflow removes (the references' ``bn=False`` copy)."""


def scored_layers(model: nn.Module) -> list[nn.Module]:
    """The conv and linear layers of ``model``, each once, in ``modules()`` order."""
    return [m for m in model.modules() if isinstance(m, SCORED)]


def logits(output: Any) -> torch.Tensor:
    """The logits of a forward: the output, or its first element for a tuple (as :func:`wiring.train.train`)."""
    value = output[0] if isinstance(output, (tuple, list)) else output
    if not isinstance(value, torch.Tensor):
        raise SearchError(f"a zero-cost proxy needs a model returning a tensor (or a tuple starting with one), got "
                          f"{type(value).__name__}")
    return value


def forward_loss(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss: Loss) -> torch.Tensor:
    """``loss(logits(model(inputs)), targets)``."""
    return loss(logits(model(inputs)), targets)


def weight_sum(values: list[torch.Tensor]) -> float:
    """Σ over layers of Σ over the layer's entries (the references' ``sum_arr``), as a Python float."""
    total = torch.zeros((), dtype=torch.float64)
    for value in values:
        total = total + value.detach().double().sum().cpu()
    return float(total)
