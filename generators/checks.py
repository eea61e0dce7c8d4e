"""Argument checks shared by every package of the library.

Each check returns the value it accepted and otherwise raises the caller's
error class (``error=``, :class:`WiringError` by default) with a message that
names the parameter and repeats its value, e.g.
``epochs must be a positive int, got epochs=0``. Bools are not numbers here:
``True`` is refused wherever an int or a real is asked for.

This module lives in the bottom layer (it imports nothing but the standard
library), so that ``ops``, ``wiring`` and ``spaces`` can all use it.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

from generators._errors import WiringError

__all__ = ["boolean", "int_at_least", "positive_int", "positive_real", "real_in"]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _or_none(allow_none: bool) -> str:
    return " or None" if allow_none else ""


def positive_int(name: str, value: Any, *, allow_none: bool = False,
                 error: type[Exception] = WiringError) -> Any:
    """``value`` if it is an int >= 1 (or None, with ``allow_none``), else ``error``.

    The message reads ``{name} must be a positive int[ or None], got {name}={value!r}``.
    """
    if value is None and allow_none:
        return value
    if not _is_int(value) or value < 1:
        raise error(f"{name} must be a positive int{_or_none(allow_none)}, got {name}={value!r}")
    return value


def int_at_least(name: str, value: Any, low: int, *, allow_none: bool = False,
                 error: type[Exception] = WiringError) -> Any:
    """``value`` if it is an int >= ``low`` (or None, with ``allow_none``), else ``error``.

    The message reads ``{name} must be an int >= {low}[ or None], got {name}={value!r}``.
    """
    if value is None and allow_none:
        return value
    if not _is_int(value) or value < low:
        raise error(f"{name} must be an int >= {low}{_or_none(allow_none)}, got {name}={value!r}")
    return value


def _rule(name: str, low: float | None, high: float | None, include_low: bool, include_high: bool) -> str:
    below = "<=" if include_high else "<"
    if high is None:
        return f"{name} {'>=' if include_low else '>'} {low}"
    if low is None:
        return f"{name} {below} {high}"
    return f"{low} {'<=' if include_low else '<'} {name} {below} {high}"


def real_in(name: str, value: Any, low: float | None = None, high: float | None = None, *,
            include_low: bool = True, include_high: bool = True, allow_none: bool = False,
            error: type[Exception] = WiringError) -> Any:
    """``value`` if it is a finite real number within the bounds given, else ``error``.

    ``low``/``high`` of None mean no bound on that side; ``include_low`` and
    ``include_high`` say whether each bound itself is admitted. The message
    states the rule, e.g. ``lr must be a finite number with lr > 0, got lr=0``
    or ``... with 0 <= momentum < 1, got momentum=1.0``.
    """
    if value is None and allow_none:
        return value
    ok = isinstance(value, Real) and not isinstance(value, bool)
    if ok:
        try:
            ok = math.isfinite(value)
        except OverflowError:  # an int too large for a float
            ok = False
    if ok and low is not None:
        ok = value >= low if include_low else value > low
    if ok and high is not None:
        ok = value <= high if include_high else value < high
    if not ok:
        if low is None and high is None:
            raise error(f"{name} must be a finite number{_or_none(allow_none)}, got {name}={value!r}")
        rule = _rule(name, low, high, include_low, include_high)
        raise error(f"{name} must be a finite number with {rule}{_or_none(allow_none)}, got {name}={value!r}")
    return value


def positive_real(name: str, value: Any, *, allow_none: bool = False,
                  error: type[Exception] = WiringError) -> Any:
    """``value`` if it is a finite real number > 0 (or None, with ``allow_none``), else ``error``.

    The message reads ``{name} must be a positive number[ or None], got {name}={value!r}``.
    """
    if value is None and allow_none:
        return value
    ok = isinstance(value, Real) and not isinstance(value, bool)
    if ok:
        try:
            ok = math.isfinite(value) and value > 0
        except OverflowError:  # an int too large for a float
            ok = False
    if not ok:
        raise error(f"{name} must be a positive number{_or_none(allow_none)}, got {name}={value!r}")
    return value


def boolean(name: str, value: Any, *, error: type[Exception] = WiringError) -> bool:
    """``value`` if it is a bool (not merely truthy: ``1`` is refused), else ``error``.

    The message reads ``{name} must be a bool, got {name}={value!r}``.
    """
    if not isinstance(value, bool):
        raise error(f"{name} must be a bool, got {name}={value!r}")
    return value
