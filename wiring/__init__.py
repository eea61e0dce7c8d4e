"""Typed architecture DAGs: schema, validation, cost, compiler and serialisation.

Every architecture is a ``networkx.DiGraph`` whose nodes carry ``op`` (a name in
the :mod:`ops` registry) and ``params``; edges carry an optional ``slot``.
:func:`compile` turns any such graph into a ``torch.fx.GraphModule``.
"""

from importlib import import_module
from typing import Any

from ops import Cost

from . import limits
from .analysis import SCHEMA_VERSION, stable_order
from .compiler import CompiledGraph, compile
from .cost import cost
from .data import Dataset, DataError, load_dataset
from .draw import draw
from .errors import GraphError, WiringError
from .latency import LatencyTable
from .pyg import from_pyg, to_pyg
from .serialise import from_json, graph_hash, load, save, to_json
from .train import TrainError, TrainResult, evaluate, train
from .validate import validate

__all__ = ["SCHEMA_VERSION", "CompiledGraph", "Cost", "DataError", "Dataset", "GraphError", "LatencyTable",
           "TrainError", "TrainResult", "WiringError", "compile", "cost", "draw", "evaluate", "from_json", "from_pyg",
           "graph_hash", "limits", "load", "load_dataset", "save", "search", "stable_order", "testing", "to_json", "to_pyg",
           "train", "validate"]


def __getattr__(name: str) -> Any:
    # `wiring.testing` needs hypothesis (a test extra) and `wiring.search` builds on `spaces`, which builds on
    # this package: import them on first use only.
    if name in ("testing", "search"):
        return import_module(f".{name}", __name__)
    raise AttributeError(f"module 'wiring' has no attribute {name!r}")
