"""The ENAS search spaces (Pham et al. 2018, docs/papers.md §4): ``micro`` (cells) and ``macro`` (whole networks).

``space(kind="micro", **options)`` builds either (``kind="macro"`` for the
other); ``micro(**options)`` and ``macro(**options)`` name them directly. See
:mod:`spaces.enas.micro` and :mod:`spaces.enas.macro` for the networks, the
encodings (the reference code's ``--child_fixed_arc`` strings), the controller
decisions and the weight-sharing supernets.
"""

from __future__ import annotations

from typing import Any

from ..errors import SpaceError
from .macro import OPS as MACRO_OPS
from .macro import Layer, MacroSpace
from .micro import OPS as MICRO_OPS
from .micro import MicroArch, MicroSpace, Node
from .tokens import construct

KINDS = ("micro", "macro")

SMALL: dict[str, Any] = {"kind": "micro", "layers": 3, "channels": 8, "image_size": 16}
"""A small micro instance (one normal cell per stage); :data:`SMALL_MACRO` is its macro counterpart."""
SMALL_MACRO: dict[str, Any] = {"kind": "macro", "layers": 4, "channels": 8, "image_size": 16}

MICRO_FINAL_ARC = "0 2 0 0 0 4 0 1 0 4 1 1 1 0 0 1 0 2 1 1 1 0 1 0 0 3 0 2 1 1 3 1 1 0 0 4 0 3 1 1"
"""The micro cells the reference retrains (``scripts/cifar10_micro_final.sh``), normal then reduction cell."""


def micro(**options: Any) -> MicroSpace:
    """The ENAS micro space (options of :class:`MicroSpace`)."""
    return construct(MicroSpace, "enas micro", options)


def macro(**options: Any) -> MacroSpace:
    """The ENAS macro space (options of :class:`MacroSpace`)."""
    return construct(MacroSpace, "enas macro", options)


def space(kind: str = "micro", **options: Any) -> MicroSpace | MacroSpace:
    """The ENAS ``kind`` space (``"micro"`` or ``"macro"``) built with ``options``."""
    if kind == "micro":
        return micro(**options)
    if kind == "macro":
        return macro(**options)
    raise SpaceError(f"kind must be one of {list(KINDS)}, got kind={kind!r}")


__all__ = ["KINDS", "Layer", "MACRO_OPS", "MICRO_FINAL_ARC", "MICRO_OPS", "MacroSpace", "MicroArch", "MicroSpace",
           "Node", "SMALL", "SMALL_MACRO", "macro", "micro", "space"]
