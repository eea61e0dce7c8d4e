"""The operation library: every op a typed DAG may name.

Built-in ops are registered on import. Register your own with
``ops.register(ops.OpSpec(...))`` (and import that module in worker processes too).
"""

from . import builtin as _builtin  # noqa: F401  (registers the built-in ops)
from .cost import Cost, Shape
from .errors import OpError
from .registry import REQUIRED, OpSpec, Param, get, names, normalise, register
from .relax import DEFAULT_MODE, modes

__all__ = ["Cost", "DEFAULT_MODE", "OpError", "OpSpec", "Param", "REQUIRED", "Shape", "get", "modes", "names",
           "normalise", "register"]
