"""The Single Path One-Shot reference space: a ShuffleNetV2 supernet of 20 choice layers (docs/papers.md §9).

As ``ShuffleNetV2_OneShot`` of megvii-model/SinglePathOneShot: 3×3 conv/2 to
16 channels-BN-ReLU; stages of 4, 4, 8, 4 choice layers to 64, 160, 320, 640
channels (the first layer of each stage stride 2); 1×1 conv to 1024-BN-ReLU;
global average pool, dropout 0.1, fully connected layer without bias. Each
layer chooses a ``shuffle_3x3``, ``shuffle_5x5``, ``shuffle_7x7`` or
``shuffle_xception`` block (reference block indices 0..3) with the reference's
``mid_channels = channels // 2``. Architectures are the reference's candidate
tuples (``(2, 1, 0, 1, ...)``); encodings name the blocks
(``7x7-5x5-3x3-5x5-...``).

Readings: the reference pools with ``AvgPool2d(7)``, which is global pooling
at its 224×224 input; here the pool is global at every size, and
``image_size`` must be divisible by 2^(stages + 1) (the reference asserts
``input_size % 32 == 0``). The trained networks (``to_graph``) have affine
batch norms (reference ``Evaluation``); the supernet's batch norms are not
affine (reference ``Supernet``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from generators.checks import positive_int
from ops.shuffle import CHOICE_BLOCKS

from ..constraint import Constraint
from ..errors import SpaceError
from .layers import LayerSpace

BLOCKS = ("3x3", "5x5", "7x7", "xception")
"""Encoding tokens of the choice blocks, in reference index order (ops ``shuffle_<token>``)."""


def _ints(name: str, value: Any) -> tuple[int, ...]:
    if (isinstance(value, str) or not isinstance(value, Sequence) or not value
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)):
        raise SpaceError(f"{name} must be a non-empty sequence of positive ints, got {name}={value!r}")
    return tuple(value)


def space(*, channels: int = 16, stage_layers: Sequence[int] = (4, 4, 8, 4),
          stage_channels: Sequence[int] = (64, 160, 320, 640), last_channels: int = 1024, num_classes: int = 1000,
          image_size: int = 224, dropout: float = 0.1, constraint: Constraint | None = None) -> LayerSpace:
    """The SPOS ShuffleNetV2 space; ``channels`` is the first conv's width, the defaults the reference's."""
    for name, value in (("channels", channels), ("last_channels", last_channels), ("num_classes", num_classes),
                        ("image_size", image_size)):
        positive_int(name, value, error=SpaceError)
    layers, widths = _ints("stage_layers", stage_layers), _ints("stage_channels", stage_channels)
    if len(layers) != len(widths):
        raise SpaceError(f"stage_layers and stage_channels need one entry per stage, got stage_layers={layers!r} "
                         f"and stage_channels={widths!r}")
    previous = channels
    for i, width in enumerate(widths):
        if width <= previous or width % 2:
            raise SpaceError(f"stage_channels[{i}] must be even (stride-1 blocks split channels in half) and exceed "
                             f"the stage's input channels {previous}, got stage_channels={widths!r}")
        previous = width
    if image_size % 2 ** (len(layers) + 1):
        raise SpaceError(f"image_size must be divisible by {2 ** (len(layers) + 1)} (the network halves it "
                         f"{len(layers) + 1} times), got image_size={image_size}")
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1:
        raise SpaceError(f"dropout must be a number in [0, 1], got dropout={dropout!r}")
    candidates = [[{"op": op, "params": {"channels": width, "stride": 2 if j == 0 else 1}} for op in CHOICE_BLOCKS]
                  for repeats, width in zip(layers, widths) for j in range(repeats)]
    options = {"channels": channels, "stage_layers": list(layers), "stage_channels": list(widths),
               "last_channels": last_channels, "num_classes": num_classes, "image_size": image_size,
               "dropout": dropout}
    return LayerSpace(
        candidates, input_channels=3, image_size=image_size,
        stem=[{"op": "conv_bn", "params": {"channels": channels, "stride": 2, "relu": True}}],
        head=[{"op": "conv_bn", "params": {"channels": last_channels, "kernel": 1, "relu": True}},
              {"op": "shuffle_head", "params": {"num_classes": num_classes, "dropout": float(dropout)}}],
        tokens=[BLOCKS] * len(candidates), supernet_params={"affine": False}, name="spos", options=options,
        constraint=constraint)
