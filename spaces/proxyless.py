"""ProxylessNAS' search space (Cai et al. 2019; docs/papers.md §8), as in its reference code.

Backbone (mit-han-lab/proxylessnas, ``search/models/super_nets/super_proxyless.py``
with ``imagenet_arch_search.py``'s defaults): a 3×3/2 conv to 32 channels, a
fixed 3×3 MBConv with expansion 1 to 16 channels (no shortcut), then stages of
``layers`` = (4, 4, 4, 4, 4, 1) layers with ``widths`` = (24, 40, 80, 96, 192, 320)
and strides (2, 2, 2, 1, 2, 1) (the first layer of a stage takes the stride),
a 1×1 "feature mix" conv to 1280, global average pool and a fully connected
classifier. Every conv is followed by BN and ReLU6 (the reference code's
activation; projections are linear). ``width`` scales channels as the
reference does: ``make_divisible(c · width, 8)``, the feature mix only when
``width > 1``.

Each searchable layer chooses one of six MBConv candidates, kernel {3, 5, 7} ×
expansion {3, 6} (ops ``mbconv_k{k}_e{e}``, :mod:`ops.mobile`), plus ``zero``
where the layer may be skipped: stride 1 with equal input and output channels,
exactly the layers with an identity shortcut. A ``zero`` layer leaves its
input unchanged (zero + identity); in :meth:`~ProxylessSpace.to_graph` it is
simply absent.

:meth:`~ProxylessSpace.supernet` gives every searchable layer its own α (a
``choice`` node with key ``layer<i>``; the candidates carry no residual, the
identity is a ``sum`` node after the choice, as in the reference's
``MobileInvertedResidualBlock``). Binarised gates and two-path sampling are
relaxation modes chosen at compile time (one-shot strategies); the default
softmax compiles too. :meth:`~ProxylessSpace.derive` takes the argmax per layer.

Latency (docs/papers.md §8): a :class:`~spaces.LatencyTable` filled from
:meth:`~ProxylessSpace.latency_graphs` holds every (op, params, input shape)
of the space, so ``Constraint(max_latency=…, latency=table)`` can judge any
architecture.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import networkx as nx
from torch import nn

from generators.checks import positive_int, positive_real
from ops.mobile import PROXYLESS_EXPANSIONS, PROXYLESS_KERNELS, candidate_name

from .base import Decision, DecisionSpace
from .constraint import Constraint
from .errors import SpaceError
from .mnasnet import Chain, alpha_row, argmax, positive_ints

CANDIDATES = tuple(candidate_name(k, e) for k in PROXYLESS_KERNELS for e in PROXYLESS_EXPANSIONS)
"""The reference's order: 3x3_MBConv3, 3x3_MBConv6, 5x5_MBConv3, …, 7x7_MBConv6."""
ZERO = "zero"

WIDTHS = (24, 40, 80, 96, 192, 320)
LAYERS = (4, 4, 4, 4, 4, 1)
STRIDES = (2, 2, 2, 1, 2, 1)
STAGES = len(STRIDES)

SMALL = {"width": 0.25, "layers": (2, 2, 2, 2, 2, 1), "head_channels": 64, "image_size": 32, "num_classes": 10}

_ACT = "relu6"


def make_divisible(value: float, divisor: int = 8) -> int:
    """The reference's channel rounding: nearest multiple of ``divisor``, at least ``divisor``, never below 90 %."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class ProxylessSpace(DecisionSpace):
    """ProxylessNAS' space; an architecture is a tuple of one candidate name (or ``zero``) per searchable layer."""

    name = "proxyless"

    def __init__(self, *, width: float = 1.0, widths: Sequence[int] = WIDTHS, layers: Sequence[int] = LAYERS,
                 head_channels: int | None = None, num_classes: int = 1000, image_size: int = 224,
                 constraint: Constraint | None = None) -> None:
        super().__init__(constraint)
        self.width = float(positive_real("width", width, error=SpaceError))
        self.widths = positive_ints("widths", widths, STAGES)
        self.layers = positive_ints("layers", layers, STAGES)
        if head_channels is not None:
            positive_int("head_channels", head_channels, error=SpaceError)
        self.head_channels = head_channels
        self.num_classes = positive_int("num_classes", num_classes, error=SpaceError)
        self.image_size = positive_int("image_size", image_size, error=SpaceError)
        self.stem = make_divisible(32 * self.width)
        self.first = make_divisible(16 * self.width)
        self.mix = head_channels if head_channels is not None else (
            make_divisible(1280 * self.width) if self.width > 1 else 1280)
        self.plan = self._plan()
        self._decisions = [Decision(f"layer{i}", CANDIDATES + ((ZERO,) if skip else ()))
                           for i, (_, _, skip) in enumerate(self.plan)]

    def _plan(self) -> list[tuple[int, int, bool]]:
        """(channels, stride, skippable) of every searchable layer."""
        plan, c_in = [], self.first
        for width, n, stride in zip(self.widths, self.layers, STRIDES):
            c_out = make_divisible(width * self.width)
            for j in range(n):
                s = stride if j == 0 else 1
                plan.append((c_out, s, s == 1 and c_in == c_out))
                c_in = c_out
        return plan

    @property
    def options(self) -> dict[str, Any]:
        return {"width": self.width, "widths": list(self.widths), "layers": list(self.layers),
                "head_channels": self.head_channels, "num_classes": self.num_classes, "image_size": self.image_size}

    def decisions(self) -> list[Decision]:
        return list(self._decisions)

    # -- encoding -------------------------------------------------------------------------------

    def encode(self, arch: tuple) -> str:
        """Layers joined by ``,`` within a stage, stages by ``|``: ``mbconv_k3_e6,zero,…|…``."""
        self.check(arch)
        stages, start = [], 0
        for n in self.layers:
            stages.append(",".join(arch[start:start + n]))
            start += n
        return "|".join(stages)

    def decode(self, text: str) -> tuple:
        if not isinstance(text, str):
            raise SpaceError(f"{self.name}: an encoding is a string, got {text!r}")
        stages = text.strip().split("|")
        if len(stages) != STAGES:
            raise SpaceError(f"{self.name}: expected {STAGES} stages separated by '|', got {len(stages)} in {text!r}")
        arch: list[str] = []
        for s, (stage, n) in enumerate(zip(stages, self.layers)):
            tokens = stage.split(",")
            if len(tokens) != n:
                raise SpaceError(f"{self.name}: stage {s} needs {n} ','-separated layers, got {len(tokens)}: {stage!r}")
            for token in tokens:
                choices = self._decisions[len(arch)].choices
                if token not in choices:
                    raise SpaceError(f"{self.name}: stage {s}, layer{len(arch)}: bad token {token!r}; "
                                     f"one of {list(choices)}")
                arch.append(token)
        return tuple(arch)

    # -- graphs ---------------------------------------------------------------------------------

    def _chain(self, provenance: dict[str, Any]) -> Chain:
        chain = Chain({"name": self.name, **provenance, "options": self.options}, 3, self.image_size)
        chain.add("stem", "regular_conv", {"channels": self.stem, "kernel": 3, "stride": 2, "act": _ACT})
        chain.add("first_block", "mbconv", {"channels": self.first, "kernel": 3, "expand": 1, "act": _ACT,
                                            "residual": False})
        return chain

    def _head(self, chain: Chain) -> nx.DiGraph:
        chain.add("feature_mix", "regular_conv", {"channels": self.mix, "kernel": 1, "act": _ACT})
        chain.add("classifier", "head", {"num_classes": self.num_classes})
        return chain.finish()

    def to_graph(self, arch: tuple) -> nx.DiGraph:
        """The network of ``arch``; a ``zero`` layer is left out (its output is its input)."""
        chain = self._chain({"encoding": self.encode(arch)})
        for i, (choice, (channels, stride, _)) in enumerate(zip(arch, self.plan)):
            if choice != ZERO:  # the op adds the identity itself where the shapes allow
                chain.add(f"layer{i}", choice, {"channels": channels, "stride": stride, "act": _ACT})
        return self._head(chain)

    def supernet(self) -> nx.DiGraph:
        chain = self._chain({"supernet": True})
        for i, (decision, (channels, stride, skippable)) in enumerate(zip(self._decisions, self.plan)):
            params = {"channels": channels, "stride": stride, "act": _ACT, "residual": False}
            candidates = [{"op": c} if c == ZERO else {"op": c, "params": params} for c in decision.choices]
            x = chain.last
            y = chain.add(f"layer{i}", "choice", {"candidates": candidates, "key": f"layer{i}"})
            if skippable:
                chain.add(f"layer{i}_add", "sum", None, [y, x])
        return self.tag_decisions(self._head(chain))

    def decision_rows(self) -> dict[str, tuple[str, int]]:
        return {d.name: (d.name, 0) for d in self._decisions}

    def derive(self, model: nn.Module) -> tuple:
        """Argmax of each layer's α (first on ties)."""
        return tuple(d.choices[argmax(alpha_row(model, f"layer{i}", len(d.choices), self.name))]
                     for i, d in enumerate(self._decisions))

    def latency_graphs(self) -> list[nx.DiGraph]:
        """One network per candidate, used at every layer: together they hold every node any architecture has.

        A layer's input shape does not depend on the other layers' choices
        (``zero`` keeps the shape), so these six graphs cover the space:
        ``LatencyTable().measure(space.latency_graphs())``.
        """
        return [self.to_graph((candidate,) * len(self.plan)) for candidate in CANDIDATES]


def space(*, width: float = 1.0, widths: Sequence[int] = WIDTHS, layers: Sequence[int] = LAYERS,
          head_channels: int | None = None, num_classes: int = 1000, image_size: int = 224,
          constraint: Constraint | None = None) -> ProxylessSpace:
    """ProxylessNAS' search space.

    ``width`` is the reference's ``width_mult``; ``widths`` and ``layers`` are
    the six stages' base widths and layer counts (its ``width_stages`` and
    ``n_cell_stages``); ``head_channels`` overrides the feature-mix width.
    """
    return ProxylessSpace(width=width, widths=widths, layers=layers, head_channels=head_channels,
                          num_classes=num_classes, image_size=image_size, constraint=constraint)
