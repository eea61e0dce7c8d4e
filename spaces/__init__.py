"""Search spaces: each turns an encoding into typed DAGs the compiler can build.

Every space module ``spaces.<name>`` has ``space(**options)`` returning an
object that follows the protocol of :mod:`spaces.base`. Space modules are
imported on first use (``spaces.darts``, ``spaces.get("darts")``).
Hyperparameter spaces (``HyperparameterSpace`` of ``Float``, ``Int`` and
``Categorical``, and ``Joint`` architecture × hyperparameters) follow the same
protocol (:mod:`spaces.hparams`).
"""

from importlib import import_module
from types import ModuleType
from typing import Any

from . import randwire
from .base import Decision, DecisionSpace, Space
from .constraint import Constraint, LatencyTable
from .errors import SpaceError, WiringError
from .hparams import Categorical, Float, HyperparameterSpace, Int, Joint

SPACES: tuple[str, ...] = ('amoebanet', 'darts', 'enas', 'mnasnet', 'nasbench201', 'nasbench_graph', 'nasnet', 'nasrl', 'proxyless', 'randwire', 'spos')
"""Names of the registered search spaces (each a module ``spaces.<name>``)."""

__all__ = ["SPACES", "Categorical", "Constraint", "Decision", "DecisionSpace", "Float", "HyperparameterSpace", "Int",
           "Joint", "LatencyTable", "Space", "SpaceError", "WiringError", "get", "randwire"]


def get(name: str, **options: Any) -> Space:
    """The space ``name`` built with ``options``; an unknown name lists the known ones."""
    if name not in SPACES:
        raise SpaceError(f"unknown space {name!r}; known spaces: {', '.join(SPACES)}")
    return import_module(f".{name}", __name__).space(**options)


def __getattr__(name: str) -> ModuleType:
    if name in SPACES:
        return import_module(f".{name}", __name__)
    raise AttributeError(f"module 'spaces' has no attribute {name!r}")
