"""The operation library: every op a typed DAG may name.

Built-in ops are registered on import. Register your own with
``ops.register(ops.OpSpec(...))`` (and import that module in worker processes too).
"""

from . import builtin as _builtin  # noqa: F401  (registers the built-in ops)
from . import darts as _darts  # noqa: F401  (each module registers the ops of its spaces)
from . import enas as _enas  # noqa: F401
from . import gnn as _gnn  # noqa: F401
from . import mobile as _mobile  # noqa: F401
from . import nasbench201 as _nasbench201  # noqa: F401
from . import nasnet as _nasnet  # noqa: F401
from . import shuffle as _shuffle  # noqa: F401
from .cost import Cost, Shape
from .errors import OpError, WiringError
from .registry import MAX_INT, MAX_WINDOW, REQUIRED, OpSpec, Param, get, names, normalise, register
from .relax import DEFAULT_MODE, modes

__all__ = ["Cost", "DEFAULT_MODE", "MAX_INT", "MAX_WINDOW", "OpError", "OpSpec", "Param", "REQUIRED", "Shape",
           "WiringError", "get", "modes", "names", "normalise", "register"]
