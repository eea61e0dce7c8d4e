"""Typed architecture DAGs: schema, validation, cost, compiler and serialisation.

Every architecture is a ``networkx.DiGraph`` whose nodes carry ``op`` (a name in
the :mod:`ops` registry) and ``params``; edges carry an optional ``slot``.
:func:`compile` turns any such graph into a ``torch.fx.GraphModule``.

The public names are imported on first use (PEP 562), so that ``import wiring.cli``
(``wiring --help``) does not import torch.
"""

import sys
from importlib import import_module
from types import ModuleType
from typing import Any

_EXPORTS = {
    "Cost": "ops",
    "SCHEMA_VERSION": "wiring.analysis", "stable_order": "wiring.analysis",
    "CompiledGraph": "wiring.compiler", "compile": "wiring.compiler",
    "cost": "wiring.cost",
    "DataError": "wiring.data", "Dataset": "wiring.data", "load_dataset": "wiring.data",
    "draw": "wiring.draw",
    "GraphError": "wiring.errors", "WiringError": "wiring.errors",
    "LatencyTable": "wiring.latency",
    "ModelError": "wiring.models",
    "ExportError": "wiring.onnx_export", "export_onnx": "wiring.onnx_export",
    "from_pyg": "wiring.pyg", "to_pyg": "wiring.pyg",
    "from_json": "wiring.serialise", "graph_hash": "wiring.serialise", "load": "wiring.serialise",
    "save": "wiring.serialise", "to_json": "wiring.serialise",
    "TrainError": "wiring.train", "TrainResult": "wiring.train", "evaluate": "wiring.train", "train": "wiring.train",
    "validate": "wiring.validate",
    "report": "wiring.search.report",
}
"""Public name -> the module defining it."""

_SUBMODULES = ("data", "distributed", "limits", "models", "search", "testing", "threads")
"""Public submodules (``wiring.testing`` imports hypothesis, a dependency, when first used)."""

__all__ = ["SCHEMA_VERSION", "CompiledGraph", "Cost", "DataError", "Dataset", "ExportError", "GraphError",
           "LatencyTable", "ModelError", "TrainError", "TrainResult", "WiringError", "compile", "cost", "draw",
           "data", "distributed", "evaluate", "export_onnx", "from_json", "from_pyg", "graph_hash", "limits", "load",
           "load_dataset", "models", "report", "save", "search", "stable_order", "testing", "threads", "to_json",
           "to_pyg", "train", "validate"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return import_module(f".{name}", __name__)
    raise AttributeError(f"module 'wiring' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(ModuleType):
    """``wiring``, whose functions ``cost``, ``draw``, ``train`` and ``validate`` keep their names when their
    modules (``wiring.cost``, ...) are imported: the import system binds a submodule to its parent's attribute."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, ModuleType) and value.__name__ == f"{__name__}.{name}" and \
                _EXPORTS.get(name) == value.__name__:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
