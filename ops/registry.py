"""The op registry: every op a typed DAG may name, with its signature and rules.

An op is registered once under a normalised name with

- ``params``: its parameter signature (name -> :class:`Param`, with defaults),
- ``arity``: the number of inputs it takes, ``(min, max)`` with ``max=None`` for any,
- ``shape``: ``shape(in_shapes, params) -> out_shape``, raising :class:`OpError`
  on inputs it cannot take,
- ``cost``: ``cost(in_shapes, out_shape, params) -> Cost``, static,
- ``build``: ``build(in_shapes, out_shape, params) -> nn.Module`` for ops with
  parameters or state, or ``function``: a parameter-free callable
  ``function(*inputs, **params)`` that the compiler calls directly.

Structural ops (``input``, ``output``, ``subgraph``) have no rules of their own:
the graph layer (``wiring``) gives them meaning.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from .cost import Cost, Shape
from .errors import OpError

REQUIRED: Any = object()
"""Default of a parameter that has none: the graph must give it."""

PARAM_KINDS = ("int", "float", "bool", "str", "ints", "ops", "graph")

MAX_INT = 2**20
"""Bound of every int param, and of every item of an ``ints`` param, that declares no ``high`` of its own."""
MAX_WINDOW = 255
"""Bound that kernel, stride and dilation params declare: no op of a NAS space uses a wider window."""


@dataclass(frozen=True)
class Param:
    """One parameter of an op's signature.

    ``kind`` is one of ``int``, ``float``, ``bool``, ``str``, ``ints`` (a list of
    ints), ``ops`` (a list of ``{"op": name, "params": {...}}``) or ``graph``
    (a nested typed DAG). ``optional`` admits ``None``; ``choices`` restricts
    values; ``low`` and ``high`` are inclusive bounds for numbers (an int or
    ``ints`` param without ``high`` is bounded by :data:`MAX_INT`, so no
    absurd size reaches torch).
    """

    kind: str
    default: Any = REQUIRED
    optional: bool = False
    choices: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in PARAM_KINDS:
            raise OpError(f"Param kind must be one of {PARAM_KINDS}, got kind={self.kind!r}")

    def check(self, op: str, name: str, value: Any) -> Any:
        """Return ``value`` (tuples as lists) or raise :class:`OpError` naming it."""
        if value is None and self.optional:
            return None
        where = f"op {op!r}: param {name!r}"
        if not _has_kind(self.kind, value):
            raise OpError(f"{where} must be {self.kind}{' or None' if self.optional else ''}, got {_short(value)}")
        if self.kind == "ints":
            value = list(value)
        if self.choices is not None and value not in self.choices:
            raise OpError(f"{where} must be one of {list(self.choices)}, got {_short(value)}")
        if self.low is not None:
            numbers = value if self.kind == "ints" else [value]
            if any(v < self.low for v in numbers):
                raise OpError(f"{where} must be >= {_number(self.low)}, got {_short(value)}")
        high = MAX_INT if self.high is None and self.kind in ("int", "ints") else self.high
        if high is not None:
            numbers = value if self.kind == "ints" else [value]
            if any(v > high for v in numbers):
                raise OpError(f"{where} must be <= {_number(high)}, got {_short(value)}")
        return value


def window(default: int) -> Param:
    """A kernel, stride or dilation param: an int in ``1..MAX_WINDOW``."""
    return Param("int", default, low=1, high=MAX_WINDOW)


def _number(bound: float) -> str:
    """A bound as people write it: ``1,048,576``, ``0.99``, ``1``."""
    return f"{bound:,}" if _is_int(bound) else f"{bound:g}"


def _short(value: Any) -> str:
    """``repr`` of a value, cut to 80 characters (an int of 4,000 digits is named, not printed)."""
    text = repr(value) if not _is_int(value) or value.bit_length() < 256 else f"an int of {len(str(value))} digits"
    return text if len(text) <= 80 else text[:77] + "..."


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _has_kind(kind: str, value: Any) -> bool:
    if kind == "int":
        return _is_int(value)
    if kind == "float":
        return _is_int(value) or (isinstance(value, float) and math.isfinite(value))
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    if kind == "ints":
        return isinstance(value, (list, tuple)) and all(_is_int(v) for v in value)
    if kind == "ops":
        return isinstance(value, (list, tuple)) and len(value) > 0 and all(
            isinstance(v, Mapping) and isinstance(v.get("op"), str) for v in value
        )
    # "graph": a nested typed DAG; the graph layer checks its content.
    return hasattr(value, "nodes") and hasattr(value, "edges")


ShapeRule = Callable[[Sequence[Shape], dict], Shape]
CostRule = Callable[[Sequence[Shape], Shape, dict], Cost]
Builder = Callable[[Sequence[Shape], Shape, dict], nn.Module]


@dataclass(frozen=True)
class OpSpec:
    """A registered op. See the module docstring for the meaning of each rule."""

    name: str
    params: Mapping[str, Param] = field(default_factory=dict)
    arity: tuple[int, int | None] = (1, 1)
    shape: ShapeRule | None = None
    cost: CostRule | None = None
    build: Builder | None = None
    function: Callable[..., Any] | None = None
    ordered: bool = False
    """Input order matters: every in-edge must carry a distinct ``slot`` 0..k-1."""
    structural: bool = False
    doc: str = ""

    def resolve(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """Checked params with defaults filled in; :class:`OpError` names the culprit."""
        given = {} if params is None else params
        if not isinstance(given, Mapping):
            raise OpError(f"op {self.name!r}: params must be a dict, got {given!r}")
        unknown = sorted(set(given) - set(self.params), key=str)
        if unknown:
            raise OpError(
                f"op {self.name!r}: unknown param {unknown[0]!r}; it takes {sorted(self.params) or 'no params'}"
            )
        resolved = {}
        for name, param in self.params.items():
            if name in given:
                resolved[name] = param.check(self.name, name, given[name])
            elif param.default is REQUIRED:
                raise OpError(f"op {self.name!r}: missing required param {name!r}")
            else:
                resolved[name] = copy.deepcopy(param.default)
        return resolved

    def check_arity(self, count: int) -> None:
        """Raise :class:`OpError` unless the op takes ``count`` inputs."""
        low, high = self.arity
        if count < low or (high is not None and count > high):
            expected = f"exactly {low}" if low == high else f"at least {low}" if high is None else f"{low} to {high}"
            raise OpError(f"op {self.name!r} takes {expected} input(s), got {count}")


_REGISTRY: dict[str, OpSpec] = {}


def normalise(name: str) -> str:
    """Registry key of a name: lower case, ``-``/space as ``_`` (``Sep-Conv`` -> ``sep_conv``)."""
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def register(spec: OpSpec) -> OpSpec:
    """Register ``spec`` under its normalised name.

    Registering the same spec again is a no-op; a different spec under a taken
    name is refused with :class:`OpError`.
    """
    if not isinstance(spec, OpSpec):
        raise OpError(f"register() takes an OpSpec, got {spec!r}")
    if not isinstance(spec.name, str) or not spec.name.strip():
        raise OpError(f"op name must be a non-empty string, got {spec.name!r}")
    key = normalise(spec.name)
    if key != spec.name:
        raise OpError(f"op names must be normalised (lower case, underscores): use {key!r}, not {spec.name!r}")
    if spec.function is None and spec.build is None and not spec.structural:
        raise OpError(f"op {spec.name!r} needs a build rule or a function")
    if not spec.structural and (spec.shape is None or spec.cost is None):
        raise OpError(f"op {spec.name!r} needs a shape rule and a cost rule")
    taken = _REGISTRY.get(key)
    if taken is not None and taken != spec:
        raise OpError(f"op name {key!r} is taken by a different op; choose another name")
    _REGISTRY[key] = spec
    return spec


def get(name: str) -> OpSpec:
    """The op registered under ``name``; an unknown name lists the known ones."""
    if not isinstance(name, str):
        raise OpError(f"op name must be a string, got {name!r}")
    spec = _REGISTRY.get(name) or _REGISTRY.get(normalise(name))  # most names are given normalised
    if spec is None:
        raise OpError(f"unknown op {name!r}; known ops: {', '.join(names())}")
    return spec


def names() -> list[str]:
    """All registered op names, sorted."""
    return sorted(_REGISTRY)
