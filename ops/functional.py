"""Parameter-free ops, called directly from the compiled ``forward``.

Each takes the node's input tensors positionally and its params as keywords,
so the generated code reads like the graph: ``ops.functional.max_pool(x, kernel=3, ...)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def identity(x: torch.Tensor) -> torch.Tensor:
    return x


def sum_inputs(*xs: torch.Tensor) -> torch.Tensor:
    out = xs[0]
    for x in xs[1:]:
        out = out + x
    return out


def mean_inputs(*xs: torch.Tensor) -> torch.Tensor:
    return sum_inputs(*xs) / len(xs) if len(xs) > 1 else xs[0]


def concat(*xs: torch.Tensor) -> torch.Tensor:
    return torch.cat(xs, dim=1)


def zero(x: torch.Tensor, *, stride: int) -> torch.Tensor:
    """Zeros shaped like ``x`` sub-sampled by ``stride`` (DARTS' ``none``)."""
    if stride == 1:
        return x.mul(0.0)
    return x[:, :, ::stride, ::stride].mul(0.0)


def _same_padding(kernel: int, padding: int | None) -> int:
    return (kernel - 1) // 2 if padding is None else padding


def max_pool(x: torch.Tensor, *, kernel: int, stride: int, padding: int | None) -> torch.Tensor:
    return F.max_pool2d(x, kernel, stride, _same_padding(kernel, padding))


def avg_pool(x: torch.Tensor, *, kernel: int, stride: int, padding: int | None,
             count_include_pad: bool) -> torch.Tensor:
    return F.avg_pool2d(x, kernel, stride, _same_padding(kernel, padding), count_include_pad=count_include_pad)


def global_pool(x: torch.Tensor) -> torch.Tensor:
    """Global average pool over the spatial dimensions: (N, C, H, W) -> (N, C)."""
    return x.mean((2, 3))
