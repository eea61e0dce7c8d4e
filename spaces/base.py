"""The space protocol: how every search space turns an encoding into typed DAGs.

A space owns an encoding. Architectures are immutable, hashable values
(tuples, frozen dataclasses, namedtuples). Every space implements:

- ``sample(rng)``: a random architecture (``rng`` a ``random.Random``), honouring the constraint;
- ``mutate(arch, rng)``: a different, nearby architecture, honouring the constraint;
- ``crossover(a, b, rng)``: a child mixing both parents;
- ``to_graph(arch)``: the whole network at the space's default size, a typed DAG;
- ``encode(arch) -> str`` / ``decode(text)``: a stable string form;
- ``decisions()``: the categorical decisions a controller emits token by token,
  with ``to_decisions(arch)`` / ``from_decisions(indices)`` mapping both ways;
- ``supernet()``: the relaxed graph (``choice`` / ``select`` nodes) and
  ``derive(model)``: the architecture a trained supernet implies;
- where finite, ``size()`` and ``enumerate()``;
- with defaults on :class:`Space`: ``hyperparameters(arch)`` (the dict the
  trial runner records, e.g. a hyperparameter configuration; else None) and
  ``features(arch)`` (a numeric vector for model-based strategies).

Hyperparameter spaces (:mod:`spaces.hparams`) follow the same protocol.

:class:`DecisionSpace` implements all but the graph-specific parts for spaces
whose architecture is a fixed sequence of categorical decisions.
"""

from __future__ import annotations

import itertools
import math
import random
from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import asdict, dataclass, is_dataclass
from typing import Any

import networkx as nx
import torch
from torch import nn

import wiring.supernet

from .constraint import Constraint
from .errors import SpaceError

Arch = Hashable

MAX_TRIES = 1000
"""Draws a constrained ``sample``/``mutate`` makes before giving up with :class:`SpaceError`."""


@dataclass(frozen=True)
class Decision:
    """One categorical decision of a space, as a controller emits it.

    ``kind`` is ``"choice"`` (pick one of ``choices``), ``"skip"`` (a yes/no skip connection from layer
    ``source`` to layer ``target``, which a controller may score with anchor-point attention, Zoph & Le
    2017) or ``"input"`` (pick which earlier state ``0..target-1`` the state ``target`` reads, which a
    controller may score by attention over those states, ENAS' micro controller). A ``choice`` may name
    the state ``target`` it belongs to (ENAS: a node's ops follow its inputs), and carry the controller's
    initial logit ``bias`` (learnt; ENAS' ``b_soft``) and a fixed logit ``offset`` (ENAS'
    ``b_soft_no_learn``), one per choice.
    """

    name: str
    choices: tuple[Any, ...]
    kind: str = "choice"
    source: int | None = None
    target: int | None = None
    bias: tuple[float, ...] | None = None
    offset: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if len(self.choices) < 1:
            raise SpaceError(f"decision {self.name!r} needs at least one choice")
        if self.kind not in ("choice", "skip", "input"):
            raise SpaceError(f"decision {self.name!r}: kind must be 'choice', 'skip' or 'input', got {self.kind!r}")
        if self.kind == "input" and (not isinstance(self.target, int) or self.choices != tuple(range(self.target))):
            raise SpaceError(f"decision {self.name!r}: an input decision chooses among the states 0..target-1, got "
                             f"choices {self.choices!r} and target {self.target!r}")
        for field in ("bias", "offset"):
            value = getattr(self, field)
            if value is not None and len(value) != len(self.choices):
                raise SpaceError(f"decision {self.name!r}: {field} needs one value per choice ({len(self.choices)}), "
                                 f"got {value!r}")


class Space(ABC):
    """Abstract base of every search space (see the module docstring for the protocol)."""

    name: str = "space"
    data_kind: str = "image"
    """What the space's networks take: ``"image"`` (channels × height × width) or ``"graph"`` (node features and
    edges)."""

    def __init__(self, constraint: Constraint | None = None) -> None:
        if constraint is not None and not isinstance(constraint, Constraint):
            raise SpaceError(f"constraint must be a spaces.Constraint, got {constraint!r}")
        self.constraint = constraint

    # -- what each space defines ---------------------------------------------

    @abstractmethod
    def _sample(self, rng: random.Random) -> Arch:
        """An unconstrained random architecture."""

    @abstractmethod
    def _mutate(self, arch: Arch, rng: random.Random) -> Arch:
        """An unconstrained mutant of ``arch``."""

    @abstractmethod
    def crossover(self, a: Arch, b: Arch, rng: random.Random) -> Arch:
        """A child of ``a`` and ``b``."""

    @abstractmethod
    def to_graph(self, arch: Arch) -> nx.DiGraph:
        """The typed DAG of ``arch`` at the space's default size."""

    @abstractmethod
    def encode(self, arch: Arch) -> str:
        """A stable string form of ``arch``."""

    @abstractmethod
    def decode(self, text: str) -> Arch:
        """The architecture of an :meth:`encode` string; :class:`SpaceError` if malformed."""

    @abstractmethod
    def decisions(self) -> list[Decision]:
        """The decisions a controller emits, in order."""

    @abstractmethod
    def to_decisions(self, arch: Arch) -> list[int]:
        """``arch`` as one choice index per decision."""

    @abstractmethod
    def from_decisions(self, indices: Sequence[int]) -> Arch:
        """The architecture of one choice index per decision."""

    def check_indices(self, indices: Any) -> list[Decision]:
        """The decisions, once ``indices`` is checked to hold one valid choice index each (else SpaceError)."""
        decisions = self.decisions()
        if not isinstance(indices, Sequence) or len(indices) != len(decisions):
            raise SpaceError(f"{self.name}: expected a sequence of {len(decisions)} decision indices, got {indices!r}")
        for d, i in zip(decisions, indices):
            if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < len(d.choices):
                raise SpaceError(f"{self.name}: decision {d.name!r} takes an index in 0..{len(d.choices) - 1}, "
                                 f"got {i!r}")
        return decisions

    def supernet(self) -> nx.DiGraph:
        """The relaxed graph holding every architecture of the space."""
        raise SpaceError(f"space {self.name!r} has no supernet")

    def derive(self, model: nn.Module) -> Arch:
        """The architecture a trained supernet implies."""
        raise SpaceError(f"space {self.name!r} has no supernet to derive from")

    def count_ops(self, arch: Arch, op: str, *, cell: str | None = None) -> int | None:
        """How many times ``arch`` uses op ``op`` (in ``cell``, for spaces of cell types); ``None`` when the
        space cannot say (DARTS+' skip-connect rule asks it)."""
        return None

    def decision_rows(self) -> dict[str, tuple[str, int]] | None:
        """Where the supernet implements each decision, when each is exactly one α row (column ``c``
        = choice ``c``): decision name -> ``(α key, row)``; ``None`` when the supernet's α rows are
        not the decisions (DARTS' edges, MnasNet's op × kernel × SE product). Strategies that steer a
        supernet decision by decision (ENAS' controller, SPOS' paths) need it."""
        return None

    def tag_decisions(self, G: nx.DiGraph) -> nx.DiGraph:
        """``G`` with every relaxed node (nested subgraphs too) tagged with the decision it implements
        (its ``decision`` param, from :meth:`decision_rows`); spaces call it on their ``supernet()``."""
        rows = self.decision_rows()
        if rows is None:
            return G
        names = {row: name for name, row in rows.items()}

        def tag(graph: nx.DiGraph) -> None:
            for _, data in graph.nodes(data=True):
                params = data.get("params") or {}
                if data.get("op") in ("choice", "select") and (params.get("key"), params.get("index", 0)) in names:
                    params["decision"] = names[(params["key"], params.get("index", 0))]
                elif data.get("op") == "subgraph":
                    tag(params["graph"])

        tag(G)
        return G

    def size(self) -> int:
        """The number of architectures; :class:`SpaceError` for an unbounded space."""
        raise SpaceError(f"space {self.name!r} is not finite")

    def enumerate(self) -> Iterator[Arch]:
        """Every architecture once; :class:`SpaceError` for an unbounded space."""
        raise SpaceError(f"space {self.name!r} cannot be enumerated")

    def hyperparameters(self, arch: Arch) -> dict[str, Any] | None:
        """The hyperparameters ``arch`` carries, as a dict the trial runner records, or None.

        By default a namedtuple's or dataclass's fields; a hyperparameter space
        (and ``Joint``) answers its configuration.
        """
        if hasattr(arch, "_asdict"):
            return dict(arch._asdict())
        if is_dataclass(arch) and not isinstance(arch, type):
            return asdict(arch)
        return None

    def features(self, arch: Arch) -> list[float]:
        """A numeric vector of ``arch`` for surrogate models: by default one-hot per decision."""
        vector = []
        for decision, index in zip(self.decisions(), self.to_decisions(arch)):
            vector += [float(index == i) for i in range(len(decision.choices))]
        return vector

    # -- constraint handling (shared) ----------------------------------------

    def sample(self, rng: random.Random) -> Arch:
        """A random architecture that satisfies the constraint (checked by static cost)."""
        _check_rng(rng)
        return self._constrained(lambda: self._sample(rng), "sample")

    def mutate(self, arch: Arch, rng: random.Random) -> Arch:
        """A mutant of ``arch`` that satisfies the constraint."""
        _check_rng(rng)
        return self._constrained(lambda: self._mutate(arch, rng), "mutate")

    def admits(self, arch: Arch) -> bool:
        """Whether ``arch`` satisfies the constraint (always, without one)."""
        return self.constraint is None or self.constraint.admits(self.to_graph(arch))

    def _constrained(self, draw: Any, what: str) -> Arch:
        for _ in range(MAX_TRIES):
            arch = draw()
            if self.admits(arch):
                return arch
        raise SpaceError(f"{self.name}: no architecture satisfying {self.constraint} in {MAX_TRIES} {what} draws")


def supernet_alphas(model: nn.Module, shapes: dict[str, tuple[int, int]], space: str) -> dict[str, torch.Tensor]:
    """The α matrices of a compiled supernet that ``shapes`` names (key -> (rows, candidates)), detached.

    :class:`SpaceError` naming the key when one is missing or has another shape: ``derive`` reads
    the compiled ``supernet()`` of the same space and options."""
    found = wiring.supernet.alphas(model)
    for key, shape in shapes.items():
        have = tuple(found[key].shape) if key in found else None
        if have != tuple(shape):
            raise SpaceError(f"{space}: derive needs the compiled supernet's α '{wiring.supernet.ALPHAS}.{key}' of shape {tuple(shape)}, "
                             f"found {have}; derive() reads this space's compiled supernet() with the same options")
    return {key: found[key].detach() for key in shapes}


def _check_rng(rng: Any) -> None:
    if not isinstance(rng, random.Random):
        raise SpaceError(f"rng must be a random.Random, got {rng!r}")


class DecisionSpace(Space):
    """A space whose architecture is a tuple of choice values, one per :meth:`decisions` entry.

    Sampling is uniform per decision; mutation resamples one decision to a
    different value; crossover takes each decision from either parent;
    ``size``/``enumerate`` run over the product of the choices.
    """

    def _sample(self, rng: random.Random) -> tuple:
        return tuple(rng.choice(d.choices) for d in self.decisions())

    def _mutate(self, arch: tuple, rng: random.Random) -> tuple:
        self.check(arch)
        decisions = self.decisions()
        mutable = [i for i, d in enumerate(decisions) if len(d.choices) > 1]
        if not mutable:
            return arch
        i = rng.choice(mutable)
        value = rng.choice([c for c in decisions[i].choices if c != arch[i]])
        return (*arch[:i], value, *arch[i + 1:])

    def crossover(self, a: tuple, b: tuple, rng: random.Random) -> tuple:
        self.check(a), self.check(b)
        return tuple(x if rng.random() < 0.5 else y for x, y in zip(a, b))

    def to_decisions(self, arch: tuple) -> list[int]:
        self.check(arch)
        return [d.choices.index(v) for d, v in zip(self.decisions(), arch)]

    def from_decisions(self, indices: Sequence[int]) -> tuple:
        return tuple(d.choices[i] for d, i in zip(self.check_indices(indices), indices))

    def check(self, arch: Any) -> None:
        """:class:`SpaceError` naming the first decision ``arch`` gets wrong."""
        decisions = self.decisions()
        if not isinstance(arch, tuple) or len(arch) != len(decisions):
            raise SpaceError(f"{self.name}: an architecture is a tuple of {len(decisions)} choices, got {arch!r}")
        for d, v in zip(decisions, arch):
            if v not in d.choices:
                raise SpaceError(f"{self.name}: decision {d.name!r} must be one of {list(d.choices)}, got {v!r}")

    def size(self) -> int:
        return math.prod(len(d.choices) for d in self.decisions())

    def enumerate(self) -> Iterator[tuple]:
        return itertools.product(*(d.choices for d in self.decisions()))
