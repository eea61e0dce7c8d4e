"""The DARTS cell search space (docs/papers.md §2): discrete genotypes, their networks, supernet, top-2 derivation.

An architecture is a frozen :class:`Genotype` with ``nodes`` intermediate nodes
per cell type; each node reads two **distinct** earlier states through an op
from :data:`OPS` (the PRIMITIVES without ``none``: discrete DARTS cells never
hold it); ``concat`` is every intermediate node. Addition is commutative, so a
node's two ``(op, input)`` pairs are kept in canonical order, by input index:
:meth:`DartsSpace.canonical` maps any genotype of the space's shape (e.g. the
reference code's, whose pairs come strongest first) onto its member; every
method that takes an architecture accepts such genotypes and returns members.

Size: per cell ``∏_j C(j, 2) · 7²`` over nodes ``j = 2 … nodes + 1``; squared
for the two cell types (≈ 1.08·10¹⁸ with 4 nodes, the paper's "10¹⁸").
:meth:`~DartsSpace.enumerate` is a lazy generator over that product.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator, Sequence
from typing import Any

import networkx as nx
import torch
from torch import nn

from generators.checks import positive_int

from ..base import Decision, Space, supernet_alphas
from ..constraint import Constraint
from ..errors import SpaceError
from .genotypes import CELLS, PRIMITIVES, Genotype, format_genotype, freeze, parse_genotype
from .network import network, search_network

OPS: tuple[str, ...] = tuple(op for op in PRIMITIVES if op != "none")
"""Ops of discrete cells: the 7 PRIMITIVES other than ``none``."""

Pair = tuple[tuple[str, int], tuple[str, int]]


class DartsSpace(Space):
    """The DARTS space; see the module docstring. Options as :func:`space`."""

    name = "darts"

    def __init__(self, *, channels: int = 16, layers: int = 8, nodes: int = 4, num_classes: int = 10,
                 image_size: int = 32, in_channels: int = 3, constraint: Constraint | None = None) -> None:
        super().__init__(constraint)
        for option, value in (("channels", channels), ("nodes", nodes), ("num_classes", num_classes),
                              ("image_size", image_size), ("in_channels", in_channels)):
            positive_int(option, value, error=SpaceError)
        if not isinstance(layers, int) or isinstance(layers, bool) or layers < 3:
            raise SpaceError(f"layers must be an int >= 3 (with fewer, no normal cell is left), got layers={layers!r}")
        self.channels, self.layers, self.nodes = channels, layers, nodes
        self.num_classes, self.image_size, self.in_channels = num_classes, image_size, in_channels
        self.concat = tuple(range(2, 2 + nodes))
        search_network(**self._size(), nodes=nodes)  # refuses sizes that do not fit (e.g. odd at a reduction)

    def _size(self) -> dict[str, int]:
        return {"channels": self.channels, "layers": self.layers, "num_classes": self.num_classes,
                "image_size": self.image_size, "in_channels": self.in_channels}

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v}" for k, v in {**self._size(), "nodes": self.nodes}.items())
        return f"DartsSpace({options})"

    # -- members -------------------------------------------------------------

    def canonical(self, genotype: Any) -> Genotype:
        """``genotype`` as a member of this space: frozen, each node's pairs ordered by input; else SpaceError."""
        g = freeze(genotype)
        cells = {}
        for cell in CELLS:
            pairs, concat = (g.normal, g.normal_concat) if cell == "normal" else (g.reduce, g.reduce_concat)
            if len(pairs) != 2 * self.nodes:
                raise SpaceError(f"{self.name}: {cell} cell must have {self.nodes} nodes ({2 * self.nodes} pairs), "
                                 f"got {len(pairs)} pairs")
            if concat != self.concat:
                raise SpaceError(f"{self.name}: {cell}_concat must be {list(self.concat)}, got {list(concat)}")
            nodes = []
            for k in range(self.nodes):
                node = pairs[2 * k:2 * k + 2]
                for op, _ in node:
                    if op not in OPS:
                        raise SpaceError(f"{self.name}: {cell} node {2 + k}: op {op!r} is not in the space's ops "
                                         f"{list(OPS)}")
                a, b = sorted(node, key=lambda pair: (pair[1], OPS.index(pair[0])))
                if a[1] == b[1]:
                    raise SpaceError(f"{self.name}: {cell} node {2 + k} reads state {a[1]} twice; its two inputs "
                                     f"must be distinct")
                nodes += [a, b]
            cells[cell] = tuple(nodes)
        return Genotype(cells["normal"], self.concat, cells["reduce"], self.concat)

    def _node_pairs(self, arch: Genotype, cell: str) -> list[Pair]:
        pairs = arch.normal if cell == "normal" else arch.reduce
        return [(pairs[2 * k], pairs[2 * k + 1]) for k in range(self.nodes)]

    def _assemble(self, cells: dict[str, list[Pair]]) -> Genotype:
        flat = {cell: tuple(pair for node in cells[cell] for pair in sorted(node, key=lambda p: p[1]))
                for cell in CELLS}
        return Genotype(flat["normal"], self.concat, flat["reduce"], self.concat)

    # -- sampling and variation -----------------------------------------------

    def _sample(self, rng: random.Random) -> Genotype:
        cells = {}
        for cell in CELLS:
            nodes = []
            for j in range(2, 2 + self.nodes):
                inputs = rng.sample(range(j), 2)
                nodes.append(((rng.choice(OPS), inputs[0]), (rng.choice(OPS), inputs[1])))
            cells[cell] = nodes
        return self._assemble(cells)

    def _mutate(self, arch: Genotype, rng: random.Random) -> Genotype:
        """One op mutation or one hidden-state (input) mutation, AmoebaNet style; node 2 has no input to change."""
        arch = self.canonical(arch)
        cells = {cell: [list(node) for node in self._node_pairs(arch, cell)] for cell in CELLS}
        cell, k, e = rng.choice(CELLS), rng.randrange(self.nodes), rng.randrange(2)
        node = cells[cell][k]
        (op, index), other = node[e], node[1 - e][1]
        inputs = [i for i in range(2 + k) if i not in (index, other)]
        if inputs and rng.random() < 0.5:
            node[e] = (op, rng.choice(inputs))
        else:
            node[e] = (rng.choice([o for o in OPS if o != op]), index)
        return self._assemble(cells)

    def crossover(self, a: Genotype, b: Genotype, rng: random.Random) -> Genotype:
        """Each node (both pairs) of each cell type from either parent."""
        a, b = self.canonical(a), self.canonical(b)
        return self._assemble({cell: [x if rng.random() < 0.5 else y
                                      for x, y in zip(self._node_pairs(a, cell), self._node_pairs(b, cell))]
                               for cell in CELLS})

    # -- forms ----------------------------------------------------------------

    def to_graph(self, arch: Genotype) -> nx.DiGraph:
        """The evaluation network (affine BN, no auxiliary head) of ``arch`` at the space's size."""
        return network(self.canonical(arch), dataset="cifar", **self._size())

    def encode(self, arch: Genotype) -> str:
        """The reference code's ``repr`` of the genotype (``Genotype(normal=[('sep_conv_3x3', 0), ...], ...)``)."""
        return format_genotype(self.canonical(arch))

    def decode(self, text: str) -> Genotype:
        """The canonical member of a genotype string (lists, tuples or ``range`` concats); evaluates nothing."""
        return self.canonical(parse_genotype(text))

    def decisions(self) -> list[Decision]:
        """Per cell type and node ``j``: ``input1`` (a state ``0..j-1``), ``op1``, ``input2``, ``op2``.

        ``input2`` is the rank of the second input among the states other than
        ``input1`` (0..j-2), so that every sequence of choices is a member;
        :meth:`to_decisions` emits ``input1`` < second input.
        """
        decisions = []
        for cell in CELLS:
            for j in range(2, 2 + self.nodes):
                decisions += [Decision(f"{cell}.node{j}.input1", tuple(range(j))),
                              Decision(f"{cell}.node{j}.op1", OPS),
                              Decision(f"{cell}.node{j}.input2", tuple(range(j - 1))),
                              Decision(f"{cell}.node{j}.op2", OPS)]
        return decisions

    def to_decisions(self, arch: Genotype) -> list[int]:
        arch = self.canonical(arch)
        indices = []
        for cell in CELLS:
            for (op_a, a), (op_b, b) in self._node_pairs(arch, cell):
                indices += [a, OPS.index(op_a), b - 1, OPS.index(op_b)]  # b > a: its rank among the others is b - 1
        return indices

    def from_decisions(self, indices: Sequence[int]) -> Genotype:
        self.check_indices(indices)
        cells, it = {}, iter(indices)
        for cell in CELLS:
            nodes = []
            for j in range(2, 2 + self.nodes):
                a, op_a, rank, op_b = next(it), next(it), next(it), next(it)
                b = [s for s in range(j) if s != a][rank]
                nodes.append(((OPS[op_a], a), (OPS[op_b], b)))
            cells[cell] = nodes
        return self._assemble(cells)

    # -- supernet ------------------------------------------------------------

    def supernet(self) -> nx.DiGraph:
        """DARTS' search network at the space's size (see :func:`~.network.search_network`)."""
        return search_network(**self._size(), nodes=self.nodes)

    def derive(self, model: nn.Module, *, weighting: str = "softmax", threshold: float | None = None) -> Genotype:
        """DARTS' top-2 rule on the compiled supernet's α (keys ``normal`` and ``reduce``).

        Per row (edge) the weights are softmax(α) (``weighting="sigmoid"``: σ(α), Fair DARTS). Per node,
        keep the two incoming edges whose strongest op other than ``none`` weighs most (earlier edge on
        ties), and on each that op (first on ties): the reference code's ``genotype()``, then put in
        canonical order.

        ``threshold`` (Fair DARTS' ``threshold_sparse``): of those two edges, one whose strongest weight
        is below ``threshold`` is dropped, written ``("none", input)``; a node may keep one edge or none.
        Such a genotype is not a member of this space (its ops exclude ``none``); build it with
        :func:`spaces.darts.network`.
        """
        cells = {}
        for cell, weights in self._weights(model, weighting).items():
            nodes, start = [], 0
            for j in range(2, 2 + self.nodes):
                w = weights[start:start + j]
                best = [int(w[i].argmax()) for i in range(j)]
                edges = sorted(range(j), key=lambda i: -float(w[i, best[i]]))[:2]
                nodes.append(tuple(("none" if threshold is not None and float(w[i, best[i]]) < threshold
                                    else OPS[best[i]], i) for i in edges))
                start += j
            cells[cell] = nodes
        if threshold is None:
            return self._assemble(cells)
        flat = {cell: tuple(pair for node in cells[cell] for pair in sorted(node, key=lambda p: p[1])) for cell in CELLS}
        return freeze(Genotype(flat["normal"], self.concat, flat["reduce"], self.concat))

    def edge_ops(self, model: nn.Module, *, weighting: str = "sigmoid",
                 threshold: float = 0.85) -> dict[str, dict[tuple[int, int], list[str]]]:
        """Per cell and edge ``(input, node)``, the ops (never ``none``) whose weight exceeds ``threshold``,
        strongest first, at most two (Fair DARTS' per-edge reading)."""
        kept: dict[str, dict[tuple[int, int], list[str]]] = {}
        for cell, weights in self._weights(model, weighting).items():
            kept[cell], start = {}, 0
            for j in range(2, 2 + self.nodes):
                for i in range(j):
                    w = weights[start + i]
                    ranked = sorted(range(len(OPS)), key=lambda o: -float(w[o]))
                    kept[cell][(i, j)] = [OPS[o] for o in ranked if float(w[o]) > threshold][:2]
                start += j
        return kept

    def count_ops(self, arch: Genotype, op: str, *, cell: str | None = None) -> int:
        """How many pairs of ``arch`` use ``op``, in ``cell`` (``"normal"`` or ``"reduce"``) or in both."""
        if cell not in (None, *CELLS):
            raise SpaceError(f"{self.name}: cell must be one of {', '.join(CELLS)} or None, got {cell!r}")
        arch = freeze(arch)
        pairs = {"normal": arch.normal, "reduce": arch.reduce}
        return sum(o == op for c in ([cell] if cell else CELLS) for o, _ in pairs[c])

    def _weights(self, model: nn.Module, weighting: str) -> dict[str, torch.Tensor]:
        """Per cell type, the weights of every edge's ops other than ``none`` (rows × 7)."""
        functions = {"softmax": lambda a: torch.softmax(a, dim=-1), "sigmoid": torch.sigmoid}
        if weighting not in functions:
            raise SpaceError(f"{self.name}: weighting must be 'softmax' or 'sigmoid', got {weighting!r}")
        rows = self.nodes * (self.nodes + 3) // 2
        found = supernet_alphas(model, {cell: (rows, len(PRIMITIVES)) for cell in CELLS}, self.name)
        return {cell: functions[weighting](found[cell].float())[:, 1:] for cell in CELLS}  # column 0 is 'none'

    # -- size ----------------------------------------------------------------

    def size(self) -> int:
        per_cell = math.prod(math.comb(j, 2) * len(OPS) ** 2 for j in range(2, 2 + self.nodes))
        return per_cell ** 2

    def enumerate(self) -> Iterator[Genotype]:
        """Every member once, lazily (normal cell outer, reduction cell inner): far too many to list at 4 nodes."""
        for normal in self._cells():
            for reduce in self._cells():
                yield self._assemble({"normal": normal, "reduce": reduce})

    def _cells(self) -> Iterator[list[Pair]]:
        choices = [[((op_a, a), (op_b, b)) for a, b in itertools.combinations(range(j), 2) for op_a in OPS
                    for op_b in OPS] for j in range(2, 2 + self.nodes)]
        return (list(nodes) for nodes in itertools.product(*choices))


def space(*, channels: int = 16, layers: int = 8, nodes: int = 4, num_classes: int = 10, image_size: int = 32,
          in_channels: int = 3, constraint: Constraint | None = None) -> DartsSpace:
    """The DARTS cell space: networks of ``layers`` cells (``channels`` initial channels, CIFAR stem) on
    ``image_size``² images; ``nodes`` intermediate nodes per cell. Defaults are DARTS' search setting
    (8 cells, C=16)."""
    return DartsSpace(channels=channels, layers=layers, nodes=nodes, num_classes=num_classes, image_size=image_size,
                      in_channels=in_channels, constraint=constraint)


SMALL: dict[str, Any] = {"channels": 8, "layers": 5, "image_size": 16}
"""A small instance: 5 cells of 8 channels on 16×16 images (the supernet too)."""
