"""``--param NAME=VALUE``: a strategy setting passed to its constructor, for black-box and one-shot strategies
alike.

The valid names are the constructor's keyword arguments (following ``**options`` up to the base classes), less
those the command line sets from its own flags (``--seed``, ...); a value must fit the argument's type hint.
Either failure is one :class:`~wiring.search.SearchError` line naming the value and the valid choices.
"""

from __future__ import annotations

import collections.abc
import inspect
import types
import typing
from collections.abc import Mapping
from typing import Any

from ..search.strategy import SearchError


def parameters(cls: type) -> dict[str, Any]:
    """The keyword arguments of ``cls``'s constructor and their type hints (``Any`` where unannotated),
    following ``**options`` up to the base classes."""
    found: dict[str, Any] = {}
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        try:
            hints = typing.get_type_hints(klass.__init__)
        except (NameError, TypeError):  # an annotation that does not resolve: leave the values to the strategy
            hints = {}
        signature = inspect.signature(klass.__init__)
        for p in list(signature.parameters.values())[1:]:
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                found.setdefault(p.name, hints.get(p.name, Any))
        if not any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
            break
    return found


def strategy_params(cls: type, name: str, given: Mapping[str, Any], flags: Mapping[str, str]) -> dict[str, Any]:
    """``--param`` values checked against ``cls``'s constructor: known names, values of the hinted types.

    ``flags`` maps the constructor arguments the command line sets itself to the flag that sets them; they are
    refused as ``--param`` and left out of the valid names."""
    known = parameters(cls)
    valid = sorted(n for n in known if n not in flags)
    checked = {}
    for key, value in given.items():
        if key in flags and key in known:
            raise SearchError(f"--param {key}: set it with {flags[key]}, not --param")
        if key not in known or key in flags:
            raise SearchError(f"--param {key}: strategy {name!r} ({cls.__name__}) has no setting {key!r}; "
                              f"valid names: {', '.join(valid) or 'none'}")
        checked[key] = _convert(value, known[key])
        if checked[key] is _MISFIT:
            raise SearchError(f"--param {key} takes {_describe(known[key])}, got {value!r}")
    return checked


_MISFIT = object()
_SCALARS: dict[Any, tuple[type, ...]] = {bool: (bool,), int: (int,), float: (int, float), str: (str,),
                                         type(None): (type(None),)}
_SEQUENCES = (list, collections.abc.Sequence)


def _convert(value: Any, hint: Any) -> Any:
    """``value`` (parsed JSON) as type ``hint`` wants it (a list becomes a tuple), or ``_MISFIT``. Classes the
    command line cannot write (devices, latency tables, datasets) take any value: the strategy checks it."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        for option in args:
            converted = _convert(value, option)
            if converted is not _MISFIT:
                return converted
        return _MISFIT
    if hint in _SCALARS:
        ok = isinstance(value, _SCALARS[hint]) and (hint is bool or not isinstance(value, bool))
        return value if ok else _MISFIT
    if origin is tuple or origin in _SEQUENCES:
        if not isinstance(value, (list, tuple)):
            return _MISFIT
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            items = list(args)
        else:
            items = [args[0] if args else Any] * len(value)
        if len(items) != len(value):
            return _MISFIT
        converted = tuple(_convert(v, h) for v, h in zip(value, items))
        return _MISFIT if _MISFIT in converted else converted
    if origin is not None or (callable(hint) and not isinstance(hint, type)):
        return _MISFIT  # a callable, a mapping, ...: not a command-line value
    return value


def _describe(hint: Any) -> str:
    return hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")
