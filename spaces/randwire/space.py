"""RandWire as a search space: an architecture is a network generator (graph model, its parameters, seed).

The paper's point is that one designs a network generator (graph model, its
parameters, seed), not one network (docs/papers.md §1). :func:`space` searches
over :class:`Generator` values; :meth:`RandWireSpace.to_graph` builds the whole
``randwire.<regime>`` network of one, every wiring stage drawn from the model
with its stage seed (:func:`~spaces.randwire.stage_seed`).

Parameter grids (this library's choice; the paper only fixes one setting per
model, marked *)::

    er       p in 0.1, 0.2*, ..., 0.9
    ba       m in 1, 2, ..., 8                     (m < n)
    ws       k in 2, 4*, 6, 8                      (k < n)
             p in 0.0, 0.25, 0.5, 0.75*, 1.0
    ws_flex  k in 2.0, 3.0, 4.0*, 5.0, 6.0         (k <= n - 1; graph2nn, beyond the paper)
             p in 0.0, 0.25, 0.5, 0.75*, 1.0

``n`` is the node count of the regime's smallest wiring stage (``nodes``, or
``nodes // 2`` in the regular regime): values that the generators refuse for it
are dropped. A model's *default* parameters are the paper's setting, or the
nearest grid value (the lower on a tie) when the grid lost it.

``node_op`` fixes the node operation of every network (the paper's Fig. 6
alternatives, :data:`~spaces.randwire.NODE_OPS`); it is an option of the
space, not a decision, as the paper compares generators under each node op.

Encoding: ``ws(k=4,p=0.75)@seed=3``. Decisions: the model, then every parameter
of every model (a controller emits all; the chosen model's are used, the others
ignored), then the seed.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Sequence
from itertools import product
from typing import Any, NamedTuple

import networkx as nx
from torch import nn

from ..base import Decision, Space, supernet_alphas
from ..constraint import Constraint
from ..errors import SpaceError
from . import networks
from .networks import GENERATORS
from .stage import DEFAULT_NODE_OP, check_node_op

_P = (0.0, 0.25, 0.5, 0.75, 1.0)
GRIDS: dict[str, dict[str, tuple[int | float, ...]]] = {
    "er": {"p": tuple(round(0.1 * i, 1) for i in range(1, 10))},
    "ba": {"m": tuple(range(1, 9))},
    "ws": {"k": (2, 4, 6, 8), "p": _P},
    "ws_flex": {"k": (2.0, 3.0, 4.0, 5.0, 6.0), "p": _P},
}
"""Candidate values of every model's parameters, before dropping those invalid for the node count."""

REGIMES = ("small", "regular", "cifar")
_BUILD = {"small": networks.small, "regular": networks.regular, "cifar": networks.cifar}
_ENCODING = re.compile(r"^([a-z_]+)\((.*)\)@seed=(\d+)$")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


class Generator(NamedTuple):
    """A RandWire architecture: graph ``model``, its ``params`` as ``((name, value), ...)``, and ``seed``."""

    model: str
    params: tuple[tuple[str, int | float], ...]
    seed: int


def _valid(model: str, name: str, value: float, n: int) -> bool:
    """Whether the generator accepts ``name=value`` for a stage of ``n`` nodes."""
    if model == "ba" or (model == "ws" and name == "k"):
        return value < n
    if model == "ws_flex" and name == "k":
        return value <= n - 1
    return True


class RandWireSpace(Space):
    """Generators (model, parameters, seed) of ``randwire.<regime>`` networks; see :func:`space`."""

    name = "randwire"

    def __init__(self, *, regime: str, channels: int, nodes: int, num_classes: int, image_size: int,
                 in_channels: int, seeds: int, models: Sequence[str], constraint: Constraint | None,
                 node_op: str = DEFAULT_NODE_OP) -> None:
        super().__init__(constraint)
        check_node_op(node_op)
        if regime not in REGIMES:
            raise SpaceError(f"regime must be one of {list(REGIMES)}, got regime={regime!r}")
        for option, value in (("channels", channels), ("nodes", nodes), ("num_classes", num_classes),
                              ("image_size", image_size), ("in_channels", in_channels), ("seeds", seeds)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SpaceError(f"{option} must be a positive int, got {option}={value!r}")
        if channels < 2:
            raise SpaceError(f"channels must be at least 2 (conv1 has channels // 2), got channels={channels}")
        if isinstance(models, str) or not isinstance(models, Sequence) or not models \
                or any(not isinstance(m, str) or m not in GRIDS for m in models) or len(set(models)) != len(models):
            raise SpaceError(f"models must be a non-empty sequence of distinct names from {list(GRIDS)}, "
                             f"got models={models!r}")
        smallest = min(max(1, int(nodes * fraction)) for _, fraction in networks._STAGES[regime].values()
                       if fraction is not None)
        if smallest < 3:  # from 3 nodes, every model has a parameter with two or more values
            raise SpaceError(f"nodes={nodes} gives a {regime} wiring stage of {smallest} node(s); "
                             f"the generators' grids need at least 3")
        self.regime, self.seeds, self.models, self.node_op = regime, seeds, tuple(models), node_op
        self.options = {"channels": channels, "nodes": nodes, "num_classes": num_classes,
                        "image_size": image_size, "in_channels": in_channels}
        self.grids = {m: {p: tuple(v for v in values if _valid(m, p, v, smallest)) for p, values in GRIDS[m].items()}
                      for m in self.models}
        self.defaults = {m: tuple((p, min(grid, key=lambda v: abs(v - GENERATORS[m][1][p])))
                                  for p, grid in self.grids[m].items()) for m in self.models}

    # -- architectures -----------------------------------------------------------

    def check(self, arch: Any) -> Generator:
        """``arch`` as a :class:`Generator`, or :class:`SpaceError` naming what is wrong with it."""
        if not isinstance(arch, tuple) or len(arch) != 3:
            raise SpaceError(f"randwire: an architecture is a Generator(model, params, seed), got {arch!r}")
        model, params, seed = arch
        if model not in self.models:
            raise SpaceError(f"randwire: model must be one of {list(self.models)}, got {model!r}")
        grid = self.grids[model]
        if not isinstance(params, tuple) or [p[0] if isinstance(p, tuple) and len(p) == 2 else p
                                             for p in params] != list(grid):
            raise SpaceError(f"randwire: {model} params must be (name, value) pairs for {list(grid)} in that "
                             f"order, got {params!r}")
        for name, value in params:
            if isinstance(value, bool) or value not in grid[name]:
                raise SpaceError(f"randwire: {model} param {name}={value!r} is not in its grid {list(grid[name])}")
        if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < self.seeds:
            raise SpaceError(f"randwire: seed must be an int in 0..{self.seeds - 1}, got seed={seed!r}")
        # grid values, so that k=4.0 for an int grid encodes as k=4
        return Generator(model, tuple((n, grid[n][grid[n].index(v)]) for n, v in params), seed)

    def _sample(self, rng: random.Random) -> Generator:
        model = rng.choice(self.models)
        params = tuple((name, rng.choice(grid)) for name, grid in self.grids[model].items())
        return Generator(model, params, rng.randrange(self.seeds))

    def _mutate(self, arch: Generator, rng: random.Random) -> Generator:
        """One move: a parameter to a neighbouring grid value, the model (with its defaults), or the seed."""
        model, params, seed = self.check(arch)
        grid = self.grids[model]
        moves = [name for name, values in grid.items() if len(values) > 1]
        moves += ["@model"] * (len(self.models) > 1) + ["@seed"] * (self.seeds > 1)  # never empty: see __init__
        move = rng.choice(moves)
        if move == "@model":
            other = rng.choice([m for m in self.models if m != model])
            return Generator(other, self.defaults[other], seed)
        if move == "@seed":
            other = rng.randrange(self.seeds - 1)
            return Generator(model, params, other + (other >= seed))
        values = grid[move]
        i = values.index(dict(params)[move])
        value = values[rng.choice([j for j in (i - 1, i + 1) if 0 <= j < len(values)])]
        return Generator(model, tuple((n, value if n == move else v) for n, v in params), seed)

    def crossover(self, a: Generator, b: Generator, rng: random.Random) -> Generator:
        """The model from either parent; parameters and seed mixed when both share it, else from that parent."""
        a, b = self.check(a), self.check(b)
        first, second = (a, b) if rng.random() < 0.5 else (b, a)
        if first.model != second.model:
            return first
        params = tuple(x if rng.random() < 0.5 else y for x, y in zip(first.params, second.params))
        return Generator(first.model, params, first.seed if rng.random() < 0.5 else second.seed)

    def to_graph(self, arch: Generator) -> nx.DiGraph:
        model, params, seed = self.check(arch)
        G = _BUILD[self.regime](**self.options, generator=model, generator_params=dict(params), seed=seed,
                                node_op=self.node_op)
        G.graph["space"] = {"name": self.name, "encoding": self.encode(arch), "regime": self.regime,
                            **self.options, **self._node_op()}
        return G

    def _node_op(self) -> dict[str, str]:
        """``{"node_op": ...}`` for provenance, empty at the default (whose graphs stay as they were)."""
        return {} if self.node_op == DEFAULT_NODE_OP else {"node_op": self.node_op}

    # -- encodings ---------------------------------------------------------------

    def encode(self, arch: Generator) -> str:
        model, params, seed = self.check(arch)
        return f"{model}({','.join(f'{n}={v!r}' for n, v in params)})@seed={seed}"

    def decode(self, text: str) -> Generator:
        if not isinstance(text, str):
            raise SpaceError(f"randwire: an encoding is a string like 'ws(k=4,p=0.75)@seed=0', got {text!r}")
        match = _ENCODING.match(text.strip())
        if match is None:
            raise SpaceError(f"randwire: {text!r} is not of the form 'model(name=value,...)@seed=<int>'")
        model, body, seed = match.group(1), match.group(2), int(match.group(3))
        if model not in self.models:
            raise SpaceError(f"randwire: unknown model {model!r} in {text!r}; choose one of {list(self.models)}")
        given: dict[str, int | float] = {}
        for token in body.split(",") if body else []:
            name, _, value = token.partition("=")
            grid = self.grids[model].get(name.strip())
            if grid is None or name.strip() in given:
                raise SpaceError(f"randwire: {model} takes params {list(self.grids[model])} once each; "
                                 f"bad token {token!r} in {text!r}")
            matches = [v for v in grid if _NUMBER.match(value.strip()) and v == float(value)]
            if not matches:
                raise SpaceError(f"randwire: {model} param {token!r} is not in its grid {list(grid)}")
            given[name.strip()] = matches[0]
        missing = [name for name in self.grids[model] if name not in given]
        if missing:
            raise SpaceError(f"randwire: {text!r} misses {model} param(s) {missing}")
        return self.check(Generator(model, tuple((name, given[name]) for name in self.grids[model]), seed))

    def decisions(self) -> list[Decision]:
        return [Decision("model", self.models),
                *(Decision(f"{m}.{p}", grid) for m in self.models for p, grid in self.grids[m].items()),
                Decision("seed", tuple(range(self.seeds)))]

    def to_decisions(self, arch: Generator) -> list[int]:
        """Indices per decision; the parameters of the models not chosen take their defaults' indices."""
        model, params, seed = self.check(arch)
        values = {m: dict(params if m == model else self.defaults[m]) for m in self.models}
        return [self.models.index(model),
                *(grid.index(values[m][p]) for m in self.models for p, grid in self.grids[m].items()), seed]

    def from_decisions(self, indices: Sequence[int]) -> Generator:
        decisions = self.decisions()
        if len(indices) != len(decisions):
            raise SpaceError(f"randwire: expected {len(decisions)} decision indices, got {len(indices)}")
        chosen = {}
        for d, i in zip(decisions, indices):
            if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < len(d.choices):
                raise SpaceError(f"randwire: decision {d.name!r} takes an index in 0..{len(d.choices) - 1}, "
                                 f"got {i!r}")
            chosen[d.name] = d.choices[i]
        model = chosen["model"]
        return Generator(model, tuple((p, chosen[f"{model}.{p}"]) for p in self.grids[model]), chosen["seed"])

    # -- supernet (beyond the paper) ----------------------------------------------

    def supernet(self) -> nx.DiGraph:
        """The regime network whose every wiring stage is a ``select`` over one stage graph per model.

        Not in the paper (RandWire trains each network alone). Each model
        contributes its default-parameter, seed-0 stage graphs; the ``select``
        nodes of all stages share one α row (key ``"model"``), since one
        generator wires the whole network. Stem and classifier are shared.
        """
        nets = {m: self.to_graph(Generator(m, self.defaults[m], 0)) for m in self.models}
        G = nets[self.models[0]].copy()
        G.graph["space"] = {"name": self.name, "supernet": True, "regime": self.regime, **self.options,
                            **self._node_op()}
        for stage in [n for n, d in G.nodes(data=True) if d["op"] == "subgraph"]:
            (before,), (after,) = G.predecessors(stage), G.successors(stage)
            G.remove_node(stage)
            G.add_node(stage, op="select", params={"key": "model", "index": 0})
            for slot, m in enumerate(self.models):
                G.add_node(f"{stage}.{m}", **nets[m].nodes[stage])
                G.add_edge(before, f"{stage}.{m}")
                G.add_edge(f"{stage}.{m}", stage, slot=slot)
            G.add_edge(stage, after)
        return G

    def derive(self, model: nn.Module) -> Generator:
        """The model of the largest α in a compiled :meth:`supernet`, with its default parameters and seed 0."""
        alpha = supernet_alphas(model, {"model": (1, len(self.models))}, "randwire")["model"]
        best = self.models[int(alpha[0].argmax())]
        return Generator(best, self.defaults[best], 0)

    # -- finite ------------------------------------------------------------------

    def size(self) -> int:
        return self.seeds * sum(len(list(product(*self.grids[m].values()))) for m in self.models)

    def enumerate(self) -> Iterator[Generator]:
        for m in self.models:
            for values in product(*self.grids[m].values()):
                params = tuple(zip(self.grids[m], values))
                for seed in range(self.seeds):
                    yield Generator(m, params, seed)


def space(*, regime: str = "cifar", channels: int = 78, nodes: int = 32, num_classes: int = 10,
          image_size: int = 32, in_channels: int = 3, seeds: int = 100,
          models: Sequence[str] = ("er", "ba", "ws", "ws_flex"), constraint: Constraint | None = None,
          node_op: str = DEFAULT_NODE_OP) -> RandWireSpace:
    """The RandWire space of ``randwire.<regime>`` networks (``small``, ``regular`` or ``cifar``).

    ``seeds`` is the number of network seeds (0..seeds-1) per generator;
    ``models`` restricts the graph models (``("er", "ba", "ws")`` is the paper's
    comparison); ``constraint`` filters sampled and mutated architectures by
    static cost; ``node_op`` is every network's node operation (``"sep"``, the
    paper's default, or ``"conv"``, ``"maxpool"``, ``"avgpool"``: size those
    with :func:`~spaces.randwire.matched_channels`). The other options size the
    network as in :func:`spaces.randwire.small`.
    """
    return RandWireSpace(regime=regime, channels=channels, nodes=nodes, num_classes=num_classes,
                         image_size=image_size, in_channels=in_channels, seeds=seeds, models=models,
                         constraint=constraint, node_op=node_op)


SMALL: dict[str, Any] = {"channels": 8, "nodes": 8, "image_size": 16, "num_classes": 10, "seeds": 100}
"""Options of a small instance (cifar regime, N=8, C=8, 16×16 images) for tests."""
