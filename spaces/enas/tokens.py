"""Spaces whose architectures correspond one-to-one to a fixed sequence of controller tokens.

ENAS (micro and macro) and NAS-RL architectures are exactly what their
controllers emit: one value per :class:`~spaces.Decision`. :class:`TokenSpace`
implements sampling (uniform per token), mutation (one token changed, so an
input, an op or a skip bit), crossover (whole groups, e.g. nodes or layers,
from either parent), ``to_decisions``/``from_decisions``, ``size`` and
``enumerate`` on top of two methods a space defines: ``_flatten`` (arch ->
token values) and ``from_values`` (token values -> arch).
"""

from __future__ import annotations

import inspect
import itertools
import math
import random
import re
from abc import abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ..base import Arch, Decision, Space, supernet_alphas
from ..constraint import Constraint
from ..errors import SpaceError


class TokenSpace(Space):
    """A space of token sequences: one value per decision, in :meth:`decisions` order.

    ``groups`` are ``(start, stop)`` ranges of decisions that crossover keeps
    together (a cell node, a layer).
    """

    def __init__(self, decisions: Sequence[Decision], groups: Sequence[tuple[int, int]],
                 constraint: Constraint | None) -> None:
        super().__init__(constraint)
        self._decisions = tuple(decisions)
        self._groups = tuple(groups)

    @abstractmethod
    def _flatten(self, arch: Any) -> list:
        """The token values of ``arch`` (unchecked); :class:`SpaceError` if its structure is wrong."""

    @abstractmethod
    def from_values(self, values: Sequence) -> Arch:
        """The architecture of one (valid) value per decision."""

    def values(self, arch: Any) -> list:
        """The token values of ``arch``; :class:`SpaceError` naming the first wrong one."""
        values = self._flatten(arch)
        if len(values) != len(self._decisions):
            raise SpaceError(f"{self.name}: an architecture holds {len(self._decisions)} tokens, got {len(values)} "
                             f"in {arch!r}")
        for d, v in zip(self._decisions, values):
            _index(d, v, self.name)
        return values

    def canonical(self, arch: Any) -> Arch:
        """``arch`` rebuilt from its checked token values (plain tuples become the space's named tuples)."""
        return self.from_values(self.values(arch))

    def decisions(self) -> list[Decision]:
        return list(self._decisions)

    def to_decisions(self, arch: Arch) -> list[int]:
        return [_index(d, v, self.name) for d, v in zip(self._decisions, self.values(arch))]

    def from_decisions(self, indices: Sequence[int]) -> Arch:
        if not isinstance(indices, Sequence) or len(indices) != len(self._decisions):
            raise SpaceError(f"{self.name}: expected {len(self._decisions)} decision indices, got {indices!r}")
        values = []
        for d, i in zip(self._decisions, indices):
            if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < len(d.choices):
                raise SpaceError(f"{self.name}: decision {d.name!r} takes an index in 0..{len(d.choices) - 1}, "
                                 f"got {i!r}")
            values.append(d.choices[i])
        return self.from_values(values)

    def _sample(self, rng: random.Random) -> Arch:
        return self.from_values([rng.choice(d.choices) for d in self._decisions])

    def _mutate(self, arch: Arch, rng: random.Random) -> Arch:
        values = self.values(arch)
        i = rng.choice([k for k, d in enumerate(self._decisions) if len(d.choices) > 1])
        values[i] = rng.choice([c for c in self._decisions[i].choices if c != values[i]])
        return self.from_values(values)

    def crossover(self, a: Arch, b: Arch, rng: random.Random) -> Arch:
        va, vb = self.values(a), self.values(b)
        child = []
        for start, stop in self._groups:
            child.extend((va if rng.random() < 0.5 else vb)[start:stop])
        return self.from_values(child)

    def size(self) -> int:
        return math.prod(len(d.choices) for d in self._decisions)

    def enumerate(self) -> Iterator[Arch]:
        return (self.from_values(v) for v in itertools.product(*(d.choices for d in self._decisions)))


def _index(d: Decision, value: Any, space: str) -> int:
    for i, choice in enumerate(d.choices):
        if type(choice) is type(value) and choice == value:
            return i
    raise SpaceError(f"{space}: decision {d.name!r} must be one of {list(d.choices)}, got {value!r}")


# -- helpers shared by the ENAS and NAS-RL spaces ---------------------------------------


def construct(cls: type, space: str, options: Mapping[str, Any]) -> Any:
    """``cls(**options)``, an unknown option refused with :class:`SpaceError` listing the known ones."""
    known = [n for n, p in inspect.signature(cls.__init__).parameters.items() if p.kind is p.KEYWORD_ONLY]
    for name in options:
        if name not in known:
            raise SpaceError(f"{space}: unknown option {name!r}; options: {', '.join(known)}")
    return cls(**options)


def check_int(name: str, value: Any, low: int = 1) -> int:
    """``value`` if it is an int ``>= low``, else :class:`SpaceError` naming the option."""
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise SpaceError(f"{name} must be an int >= {low}, got {name}={value!r}")
    return value


_INT = re.compile(r"^\d+$")


def int_tokens(text: Any, count: int, space: str) -> list[int]:
    """The ``count`` whitespace-separated non-negative ints of ``text``; :class:`SpaceError` names a bad token."""
    if not isinstance(text, str):
        raise SpaceError(f"{space}: an encoding is a string, got {text!r}")
    tokens = text.split()
    for k, token in enumerate(tokens):
        if not _INT.match(token):
            raise SpaceError(f"{space}: token {k} ({token!r}) of {text!r} is not a non-negative integer")
    if len(tokens) != count:
        raise SpaceError(f"{space}: an encoding holds {count} integers, got {len(tokens)} in {text!r}")
    return [int(t) for t in tokens]


def alphas(model: nn.Module, shapes: Mapping[str, tuple[int, int]], space: str) -> dict[str, torch.Tensor]:
    """The α matrix of every key of ``shapes`` in a compiled supernet, detached (:func:`~spaces.base.supernet_alphas`)."""
    return supernet_alphas(model, dict(shapes), space)


def argmax(row: torch.Tensor) -> int:
    """Index of the largest entry (the first one on ties)."""
    return int(torch.argmax(row))
