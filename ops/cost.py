"""Static cost of an op: parameters and multiply-adds, computed from shapes alone."""

from __future__ import annotations

from dataclasses import dataclass

Shape = tuple[int, ...]
"""A tensor shape without the batch dimension, e.g. ``(C, H, W)`` or ``(F,)``."""


@dataclass(frozen=True)
class Cost:
    """Learnable parameters and multiply-adds of one forward pass of one sample.

    Multiply-adds count convolutions and fully connected layers only (the RandWire
    paper's convention, equal to ``FlopCounterMode`` FLOPs / 2).
    """

    params: int = 0
    macs: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.params + other.params, self.macs + other.macs)


def conv_cost(in_channels: int, out_shape: Shape, kernel: int | tuple[int, int], groups: int = 1, bias: bool = False) -> Cost:
    """Cost of a 2-d convolution producing ``out_shape`` = (C_out, H_out, W_out)."""
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    out_channels, height, width = out_shape
    weights = out_channels * (in_channels // groups) * kh * kw
    return Cost(weights + (out_channels if bias else 0), weights * height * width)


def batch_norm_cost(channels: int, affine: bool = True) -> Cost:
    """A batch norm has 2·C parameters when affine, and no multiply-adds in the convention."""
    return Cost(2 * channels if affine else 0, 0)


def linear_cost(in_features: int, out_features: int, bias: bool = True) -> Cost:
    """A fully connected layer."""
    return Cost(in_features * out_features + (out_features if bias else 0), in_features * out_features)
