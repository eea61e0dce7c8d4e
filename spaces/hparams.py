"""Hyperparameter spaces that follow the space protocol, and ``Joint`` architecture × hyperparameter search.

Exported as ``spaces.HyperparameterSpace``, ``spaces.Float``, … (and, for the
strategies' users, as ``wiring.search.HyperparameterSpace``, …).

``Float(low, high, log=False)``, ``Int(low, high, log=False)`` and
``Categorical([...])`` validate when created (``log=True`` needs ``low > 0``).
``HyperparameterSpace(lr=Float(1e-4, 1e-1, log=True), ...)`` samples configs
(scale-type parameters log-uniformly, docs/papers.md §11); ``Joint(arch_space, hparams)``
lets every strategy search both at once.
"""

from __future__ import annotations

import itertools
import json
import math
import random
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx

from generators.checks import int_at_least, real_in

from .base import Decision, Space
from .errors import SpaceError

Config = tuple[tuple[str, Any], ...]
"""A hyperparameter configuration: ``(name, value)`` pairs in declaration order (hashable)."""


@dataclass(frozen=True)
class Float:
    """A real in [low, high], sampled uniformly, or log-uniformly when ``log`` (then low > 0)."""

    low: float
    high: float
    log: bool = False
    steps: int = 10
    """Grid points for ``enumerate`` / controller decisions."""

    def __post_init__(self) -> None:
        real_in("low", self.low, error=SpaceError), real_in("high", self.high, error=SpaceError)
        if not self.low < self.high:
            raise SpaceError(f"low must be below high, got low={self.low}, high={self.high}")
        if self.log and self.low <= 0:
            raise SpaceError(f"log=True needs low > 0, got low={self.low}")
        int_at_least("steps", self.steps, 2, error=SpaceError)

    def _to_unit(self, value: float) -> float:
        if self.log:
            return (math.log(value) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (value - self.low) / (self.high - self.low)

    def _from_unit(self, u: float) -> float:
        u = min(1.0, max(0.0, u))
        if self.log:
            return math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        return self.low + u * (self.high - self.low)

    def sample(self, rng: random.Random) -> float:
        return self._from_unit(rng.random())

    def perturb(self, value: float, rng: random.Random) -> float:
        """A nearby value: a Gaussian step of 0.1 of the (log) range, kept inside."""
        return self._from_unit(self._to_unit(value) + rng.gauss(0.0, 0.1))

    def grid(self) -> tuple[float, ...]:
        return tuple(self._from_unit(i / (self.steps - 1)) for i in range(self.steps))

    def check(self, name: str, value: Any) -> float:
        value = real_in(name, value, error=SpaceError)
        if not self.low <= value <= self.high:
            raise SpaceError(f"hyperparameter {name!r} must be in [{self.low}, {self.high}], got {value!r}")
        return float(value)

    def nearest(self, value: float) -> int:
        return min(range(self.steps), key=lambda i: abs(self._to_unit(self.grid()[i]) - self._to_unit(value)))


@dataclass(frozen=True)
class Int(Float):
    """An integer in [low, high] (inclusive), uniform or log-uniform."""

    def __post_init__(self) -> None:
        for name in ("low", "high"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise SpaceError(f"{name} must be an int, got {name}={value!r}")
        super().__post_init__()

    def sample(self, rng: random.Random) -> int:
        return round(super().sample(rng))

    def perturb(self, value: float, rng: random.Random) -> int:
        return round(super().perturb(value, rng))

    def grid(self) -> tuple[int, ...]:
        return tuple(sorted({round(v) for v in super().grid()}))

    def check(self, name: str, value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise SpaceError(f"hyperparameter {name!r} must be an int, got {value!r}")
        return int(super().check(name, value))

    def nearest(self, value: float) -> int:
        grid = self.grid()
        return min(range(len(grid)), key=lambda i: abs(grid[i] - value))


@dataclass(frozen=True)
class Categorical:
    """One of ``choices`` (hashable, JSON-serialisable values)."""

    choices: tuple[Any, ...]

    def __post_init__(self) -> None:
        if isinstance(self.choices, (str, bytes)) or not isinstance(self.choices, Sequence) or not self.choices:
            raise SpaceError(f"choices must be a non-empty list, got {self.choices!r}")
        object.__setattr__(self, "choices", tuple(self.choices))
        if len(set(self.choices)) != len(self.choices):
            raise SpaceError(f"choices must be distinct, got {list(self.choices)}")

    def sample(self, rng: random.Random) -> Any:
        return rng.choice(self.choices)

    def perturb(self, value: Any, rng: random.Random) -> Any:
        others = [c for c in self.choices if c != value]
        return rng.choice(others) if others else value

    def grid(self) -> tuple[Any, ...]:
        return self.choices

    def check(self, name: str, value: Any) -> Any:
        if value not in self.choices:
            raise SpaceError(f"hyperparameter {name!r} must be one of {list(self.choices)}, got {value!r}")
        return value

    def nearest(self, value: Any) -> int:
        return self.choices.index(value)


Hyperparameter = Float | Int | Categorical


class HyperparameterSpace(Space):
    """Named hyperparameters; an architecture is a :data:`Config` (hashable ``(name, value)`` pairs).

    Mutation perturbs one hyperparameter; crossover takes each from either
    parent; ``decisions``/``enumerate`` use each numeric parameter's grid
    (``steps`` points; ``from_decisions(to_decisions(c))`` snaps ``c`` to it).
    """

    name = "hparams"

    def __init__(self, **params: Hyperparameter) -> None:
        super().__init__()
        if not params:
            raise SpaceError("a hyperparameter space needs at least one hyperparameter")
        for name, param in params.items():
            if not isinstance(param, (Float, Categorical)):
                raise SpaceError(f"hyperparameter {name!r} must be Float, Int or Categorical, got {param!r}")
        self.params = params

    def _sample(self, rng: random.Random) -> Config:
        return tuple((name, param.sample(rng)) for name, param in self.params.items())

    def _mutate(self, config: Config, rng: random.Random) -> Config:
        values = dict(self._checked(config))
        name = rng.choice(list(self.params))
        values[name] = self.params[name].perturb(values[name], rng)
        return tuple(values.items())

    def crossover(self, a: Config, b: Config, rng: random.Random) -> Config:
        a, b = dict(self._checked(a)), dict(self._checked(b))
        return tuple((name, a[name] if rng.random() < 0.5 else b[name]) for name in self.params)

    def to_graph(self, config: Config) -> nx.DiGraph:
        raise SpaceError("a hyperparameter configuration has no graph; search it jointly: Joint(arch_space, hparams)")

    def encode(self, config: Config) -> str:
        return json.dumps(dict(self._checked(config)), sort_keys=False)

    def decode(self, text: str) -> Config:
        try:
            values = json.loads(text)
        except (TypeError, ValueError):
            raise SpaceError(f"not a hyperparameter configuration: {text!r:.80}") from None
        if not isinstance(values, dict):
            raise SpaceError(f"not a hyperparameter configuration: {text!r:.80}")
        return self._checked(tuple(values.items()))

    def _checked(self, config: Any) -> Config:
        values = dict(config) if isinstance(config, tuple) else None
        if values is None or list(values) != list(self.params):
            raise SpaceError(f"a configuration names {list(self.params)} in order, got {config!r}")
        return tuple((name, self.params[name].check(name, values[name])) for name in self.params)

    def hyperparameters(self, config: Config) -> dict[str, Any]:
        """The configuration as a dict."""
        return dict(config)

    def features(self, config: Config) -> list[float]:
        """Numeric hyperparameters as values in [0, 1] (log scale where declared); categorical ones one-hot."""
        vector = []
        for name, value in config:
            param = self.params[name]
            if isinstance(param, Categorical):
                vector += [float(value == c) for c in param.choices]
            else:
                vector.append(param._to_unit(value))
        return vector

    def decisions(self) -> list[Decision]:
        return [Decision(name, param.grid()) for name, param in self.params.items()]

    def to_decisions(self, config: Config) -> list[int]:
        return [self.params[name].nearest(value) for name, value in self._checked(config)]

    def from_decisions(self, indices: Sequence[int]) -> Config:
        grids = [param.grid() for param in self.params.values()]
        if len(indices) != len(grids) or any(not 0 <= i < len(g) for i, g in zip(indices, grids)):
            raise SpaceError(f"expected one grid index per hyperparameter {list(self.params)}, got {list(indices)}")
        return tuple((name, grid[i]) for name, grid, i in zip(self.params, grids, indices))

    def size(self) -> int:
        return math.prod(len(param.grid()) for param in self.params.values())

    def enumerate(self) -> Iterator[Config]:
        names = list(self.params)
        return (tuple(zip(names, values)) for values in itertools.product(*(p.grid() for p in self.params.values())))


class Joint(Space):
    """Architecture × hyperparameters: an architecture is ``(arch, config)``; every strategy searches both."""

    def __init__(self, arch_space: Space, hparam_space: HyperparameterSpace) -> None:
        super().__init__()
        if not isinstance(hparam_space, HyperparameterSpace):
            raise SpaceError(f"Joint needs a HyperparameterSpace second, got {hparam_space!r}")
        self.arch_space, self.hparam_space = arch_space, hparam_space
        self.name = f"joint({getattr(arch_space, 'name', 'space')})"

    def _sample(self, rng: random.Random) -> tuple[Hashable, Config]:
        return (self.arch_space.sample(rng), self.hparam_space.sample(rng))

    def _mutate(self, pair: tuple[Hashable, Config], rng: random.Random) -> tuple[Hashable, Config]:
        arch, config = pair
        if rng.random() < 0.5:
            return (self.arch_space.mutate(arch, rng), config)
        return (arch, self.hparam_space.mutate(config, rng))

    def crossover(self, a: tuple, b: tuple, rng: random.Random) -> tuple:
        return (self.arch_space.crossover(a[0], b[0], rng), self.hparam_space.crossover(a[1], b[1], rng))

    def to_graph(self, pair: tuple) -> nx.DiGraph:
        return self.arch_space.to_graph(pair[0])

    def encode(self, pair: tuple) -> str:
        return json.dumps({"arch": self.arch_space.encode(pair[0]), "hparams": self.hparam_space.encode(pair[1])})

    def decode(self, text: str) -> tuple:
        try:
            parts = json.loads(text)
            arch, hparams = parts["arch"], parts["hparams"]
        except (TypeError, ValueError, KeyError):
            raise SpaceError(f"not a joint encoding (JSON with 'arch' and 'hparams'): {text!r:.80}") from None
        return (self.arch_space.decode(arch), self.hparam_space.decode(hparams))

    def hyperparameters(self, pair: tuple) -> dict[str, Any]:
        """The configuration half, as a dict."""
        return self.hparam_space.hyperparameters(pair[1])

    def features(self, pair: tuple) -> list[float]:
        """The architecture's features, then the configuration's."""
        return self.arch_space.features(pair[0]) + self.hparam_space.features(pair[1])

    def decisions(self) -> list[Decision]:
        return self.arch_space.decisions() + self.hparam_space.decisions()

    def to_decisions(self, pair: tuple) -> list[int]:
        return self.arch_space.to_decisions(pair[0]) + self.hparam_space.to_decisions(pair[1])

    def from_decisions(self, indices: Sequence[int]) -> tuple:
        k = len(self.arch_space.decisions())
        return (self.arch_space.from_decisions(indices[:k]), self.hparam_space.from_decisions(indices[k:]))

    def admits(self, pair: tuple) -> bool:
        return self.arch_space.admits(pair[0])

    def size(self) -> int:
        return self.arch_space.size() * self.hparam_space.size()

    def enumerate(self) -> Iterator[tuple]:
        return itertools.product(self.arch_space.enumerate(), list(self.hparam_space.enumerate()))
