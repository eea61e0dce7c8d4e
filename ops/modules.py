"""The ``nn.Module`` classes that ops with parameters or state build."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from .errors import OpError
from .relax import DEFAULT_MODE, ESTIMATORS, Draw, RelaxState, Row, get_mode


def conv2d(c_in: int, c_out: int, kernel: int | tuple[int, int], stride: int = 1, padding: int | tuple[int, int] = 0,
           dilation: int = 1, groups: int = 1) -> nn.Conv2d:
    """A bias-free convolution (a batch norm always follows)."""
    return nn.Conv2d(c_in, c_out, kernel, stride, padding, dilation=dilation, groups=groups, bias=False)


class ReLUConvBN(nn.Sequential):
    """ReLU -> conv -> BN."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, dilation: int = 1,
                 affine: bool = True) -> None:
        super().__init__(nn.ReLU(inplace=False), conv2d(c_in, c_out, kernel, stride, padding, dilation),
                         nn.BatchNorm2d(c_out, affine=affine))


class ConvBN(nn.Sequential):
    """conv -> BN, with an optional ReLU after."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, relu: bool = False,
                 affine: bool = True) -> None:
        layers: list[nn.Module] = [conv2d(c_in, c_out, kernel, stride, padding), nn.BatchNorm2d(c_out, affine=affine)]
        if relu:
            layers.append(nn.ReLU(inplace=False))
        super().__init__(*layers)


class SepConv(nn.Sequential):
    """ReLU -> k×k depthwise conv (stride, dilation) -> 1×1 pointwise conv -> BN."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, dilation: int = 1,
                 affine: bool = True) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            conv2d(c_in, c_in, kernel, stride, padding, dilation, groups=c_in),
            conv2d(c_in, c_out, 1),
            nn.BatchNorm2d(c_out, affine=affine),
        )


def weighted(weights: torch.Tensor, xs: Sequence[torch.Tensor]) -> torch.Tensor:
    """Σ weights[i]·xs[i]."""
    out = weights[0] * xs[0]
    for i in range(1, len(xs)):
        out = out + weights[i] * xs[i]
    return out


class WeightedSum(nn.Module):
    """Σ sigmoid(w_i)·x_i with one learnable scalar per input (RandWire aggregation).

    A single input passes through unweighted. Weights start at 0 (sigmoid 0.5).
    """

    def __init__(self, inputs: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(inputs)) if inputs > 1 else None

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return xs[0] if self.weight is None else weighted(torch.sigmoid(self.weight), xs)


class RandWireNode(nn.Module):
    """A RandWire node: Σ sigmoid(w_i)·x_i (as :class:`WeightedSum`), ReLU, 3×3 depthwise, 1×1 pointwise, BN.

    Flat (no nested containers): networks hold hundreds of these, and every
    module object costs construction time.
    """

    def __init__(self, inputs: int, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(inputs)) if inputs > 1 else None
        self.relu = nn.ReLU()
        self.depthwise = conv2d(c_in, c_in, 3, stride, 1, groups=c_in)
        self.pointwise = conv2d(c_in, c_out, 1)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        x = xs[0] if self.weight is None else weighted(torch.sigmoid(self.weight), xs)
        return self.bn(self.pointwise(self.depthwise(self.relu(x))))


class Head(nn.Module):
    """Global average pool -> optional dropout -> fully connected layer (with bias)."""

    def __init__(self, c_in: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None
        self.fc = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.mean((2, 3))
        if self.dropout is not None:
            x = self.dropout(x)
        return self.fc(x)


class FunctionOp(nn.Module):
    """Wraps a parameter-free op function so that it can sit inside a mixed op."""

    def __init__(self, function, kwargs: dict) -> None:
        super().__init__()
        self.function = function
        self.kwargs = kwargs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.function(x, **self.kwargs)


class Relaxed(nn.Module):
    """Base of relaxed ops: ``mode`` names how α and the candidates combine (see :mod:`ops.relax`).

    In a compiled supernet a relaxed module receives its row of the forward pass's one
    :class:`~ops.relax.Draw` (shared with every module reading that α row). Called on its own with
    a plain α vector it draws for itself, from its own ``tau`` (``gumbel``), ``generator``
    (``None``: torch's global RNG) and ``estimator`` (``binary``). ``active`` overrides the row's
    ``single_path`` candidate for this module alone (``None``: follow the row). ``sampled`` is the
    index that ran last (sampling modes only). ``decision``, ``key`` and ``row`` say which decision
    and α row the module implements (set by the compiler).
    """

    def __init__(self, mode: str = DEFAULT_MODE) -> None:
        super().__init__()
        self.mode = mode
        self.active: int | None = None
        self.tau = 1.0
        self.generator: torch.Generator | None = None
        self.estimator = ESTIMATORS[0]
        self.sampled: int | None = None
        self.last_draw: Draw | None = None  # the module's own draw, when called with a plain α vector
        self.decision: str | None = None
        self.key: str | None = None
        self.row: int | None = None

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, mode: str) -> None:
        self._relax = get_mode(mode)
        self._mode = mode

    def _combine(self, alpha: torch.Tensor | Row, branches: list[Callable[[], torch.Tensor]]) -> torch.Tensor:
        if not isinstance(alpha, Row):
            if alpha.dim() != 1 or alpha.shape[0] != len(branches):
                raise OpError(f"mode {self.mode!r}: α must be a vector of {len(branches)} entries, "
                              f"got shape {tuple(alpha.shape)}")
            self.last_draw = self._relax.draw(alpha[None], RelaxState(self.tau, self.generator, {}, self.estimator))
            alpha = self.last_draw[0]
        out, self.sampled = alpha.draw.mode.combine(alpha, branches, self)
        return out

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


def _branch(module: nn.Module, x: torch.Tensor) -> Callable[[], torch.Tensor]:
    return lambda: module(x)


def _value(x: torch.Tensor) -> Callable[[], torch.Tensor]:
    return lambda: x


class MixedOp(Relaxed):
    """A ``choice`` node: the candidates combined by the mode, e.g. Σ weight_i·candidate_i(x).

    α is owned by the compiled graph (shared by ``key``) and passed in per call. Sampling modes
    run only the candidate(s) they pick.
    """

    def __init__(self, candidates: list[nn.Module], mode: str = DEFAULT_MODE) -> None:
        super().__init__(mode)
        self.candidates = nn.ModuleList(candidates)

    def forward(self, x: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        return self._combine(alpha, [_branch(candidate, x) for candidate in self.candidates])


class Select(Relaxed):
    """A ``select`` node: an input choice among its in-edges, Σ weight_i·x_i; α comes last."""

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        *xs, alpha = inputs
        return self._combine(alpha, [_value(x) for x in xs])
