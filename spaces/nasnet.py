"""The NASNet search space (Zoph et al. 2018; docs/papers.md §3).

A cell has two inputs, h_{i−1} (state 0, the cell before the previous one) and
h_i (state 1, the previous cell), and B = 5 blocks; block b (state 2 + b) picks
two inputs among states 0 .. 1 + b, an op for each and a combination. Block
outputs that no block reads (the loose ends) are concatenated as the cell's
output. A normal and a reduction cell are searched separately (two arcs).

Op sets (``op_set=``):

- ``"pnas"`` (default): the reduced set PNAS and AmoebaNet use, 3×3, 5×5, 7×7
  depthwise-separable conv, 1×7 then 7×1 conv, identity, 3×3 average pool,
  3×3 max pool, 3×3 dilated conv; combination by addition. Per cell type
  (2·3·4·5·6)²·8¹⁰ = 556,627,761,561,600 ≈ 5.6·10¹⁴ cells, counting each
  block's two (input, op) pairs in order as the controller emits them
  (:func:`cells_per_type`; PNAS quotes the same 5.6·10¹⁴).
- ``"nasnet"``: the paper's 13 ops and a searched combination, addition or
  concatenation: (2·3·4·5·6)²·13¹⁰·2⁵ ≈ 2.3·10¹⁸ cells per type.
- ``"amoebanet"``: the PNAS ops in AmoebaNet's order (:mod:`spaces.amoebanet`).

Ops are the DARTS ops of :mod:`ops.darts` (``sep_conv_k`` is DARTS' SepConv,
applied twice as in the NASNet code; identity is ``skip_connect``, a
FactorizedReduce when strided; the dilated conv is DARTS' dilated separable
``dil_conv_3x3``, as PNAS and AmoebaNet describe it), plus the ops of
:mod:`ops.nasnet`.

Reading chosen for concatenation: a concatenating block's 2C channels go
through ReLU-1×1 conv-BN back to C, so every state of a cell has C channels
(the NASNet code instead projects any input whose channel count differs from
the op's filter count; moving that 1×1 conv to the producer keeps one
projection per block).

Network (CIFAR), built by the DARTS network and cell builders of
:mod:`spaces.darts`: 3×3 conv stem to 3F, then N normal cells, a reduction
cell, N normal cells, a reduction cell, N normal cells (3N + 2 cells: DARTS'
reductions at layers//3 and 2·layers//3 fall exactly there; channels doubled
at each), global average pool and a linear classifier. An architecture whose
blocks all add is a DARTS genotype (:meth:`NASNetSpace.to_genotype`) and its
graph is the one :func:`spaces.darts.network` builds from that genotype.

Encoding (``encode``)::

    normal:[(1,sep_conv_5x5,0,sep_conv_3x3,add),...5 blocks];reduce:[...]

each block ``(input 1, op 1, input 2, op 2, combination)``. Decisions follow
the NASNet controller's order per block: input 1, input 2, op 1, op 2 (and the
combination for the 13-op set), blocks of the normal cell first.
"""

from __future__ import annotations

import itertools
import math
import random
import re
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import networkx as nx
from torch import nn

import wiring.supernet
from wiring import SCHEMA_VERSION

from .base import Decision, Space
from .constraint import Constraint
from .darts import Genotype
from .darts.cells import CellInputs, _finish, _prepare, _state
from .darts.cells import cell as darts_cell
from .darts.network import _network as darts_network
from .errors import SpaceError

BLOCKS = 5
"""B: blocks per cell."""

CELL_TYPES = ("normal", "reduce")

OP_SETS: dict[str, tuple[str, ...]] = {
    "pnas": ("sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7", "conv_7x1_1x7", "skip_connect", "avg_pool_3x3",
             "max_pool_3x3", "dil_conv_3x3"),
    "nasnet": ("skip_connect", "conv_3x1_1x3", "conv_7x1_1x7", "dil_conv_3x3", "avg_pool_3x3", "max_pool_3x3",
               "max_pool_5x5", "max_pool_7x7", "conv_1x1", "conv_3x3", "sep_conv_3x3", "sep_conv_5x5",
               "sep_conv_7x7"),
    "amoebanet": ("skip_connect", "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7", "avg_pool_3x3", "max_pool_3x3",
                  "dil_conv_3x3", "conv_7x1_1x7"),
}
"""Op names of each op set, in the order of its paper (PNAS, NASNet, AmoebaNet: the PNAS ops reordered)."""

COMBINATIONS: dict[str, tuple[str, ...]] = {"pnas": ("add",), "nasnet": ("add", "concat"), "amoebanet": ("add",)}

SMALL: dict[str, Any] = {"repeats": 1, "filters": 8, "image_size": 16}


class Block(NamedTuple):
    """One block: ``op1(state in1)`` combined with ``op2(state in2)``."""

    in1: int
    op1: str
    in2: int
    op2: str
    comb: str = "add"


class Cells(NamedTuple):
    """An architecture: the blocks of the normal and of the reduction cell."""

    normal: tuple[Block, ...]
    reduce: tuple[Block, ...]


def loose_ends(blocks: Sequence[Block]) -> list[int]:
    """The states of the blocks no block reads (2 .. 1 + B): what the cell concatenates."""
    used = {i for block in blocks for i in (block.in1, block.in2)}
    return [2 + b for b in range(len(blocks)) if 2 + b not in used]


def cells_per_type(op_set: str = "pnas") -> int:
    """Ordered cells of one type: Π_b (2 + b)² · |ops|² · |combinations| (5.6·10¹⁴ for ``pnas``)."""
    _check_op_set(op_set)
    return math.prod((2 + b) ** 2 * len(OP_SETS[op_set]) ** 2 * len(COMBINATIONS[op_set]) for b in range(BLOCKS))


def _check_op_set(op_set: Any) -> None:
    if not isinstance(op_set, str) or op_set not in OP_SETS:
        raise SpaceError(f"op_set must be one of {sorted(OP_SETS)}, got op_set={op_set!r}")


class NASNetSpace(Space):
    """The NASNet cell space; see the module docstring. Architectures are :class:`Cells`."""

    name = "nasnet"

    def __init__(self, *, repeats: int = 6, filters: int = 32, num_classes: int = 10, image_size: int = 32,
                 op_set: str = "pnas", constraint: Constraint | None = None) -> None:
        super().__init__(constraint)
        for option, value in (("repeats", repeats), ("filters", filters), ("num_classes", num_classes),
                              ("image_size", image_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SpaceError(f"{option} must be a positive int, got {option}={value!r}")
        if image_size % 4:
            raise SpaceError(f"image_size must be a multiple of 4 (both reduction cells halve an even size), "
                             f"got image_size={image_size}")
        _check_op_set(op_set)
        self.repeats, self.filters, self.num_classes, self.image_size = repeats, filters, num_classes, image_size
        self.op_set = op_set
        self.ops, self.combinations = OP_SETS[op_set], COMBINATIONS[op_set]

    @property
    def layers(self) -> int:
        """Cells in the network: 3N + 2."""
        return 3 * self.repeats + 2

    # -- decisions -------------------------------------------------------------------

    def _block_decisions(self, cell: str, b: int) -> list[Decision]:
        inputs = tuple(range(2 + b))
        fields = [("in1", inputs), ("in2", inputs), ("op1", self.ops), ("op2", self.ops), ("comb", self.combinations)]
        return [Decision(f"{cell}_b{b}_{field}", choices) for field, choices in fields[:self._per_block]]

    def decisions(self) -> list[Decision]:
        return [d for cell in CELL_TYPES for b in range(BLOCKS) for d in self._block_decisions(cell, b)]

    @property
    def _per_block(self) -> int:
        """Decisions per block: two inputs, two ops and, with a choice of combinations, the combination."""
        return 4 + (len(self.combinations) > 1)

    def _values(self, arch: Cells) -> list[Any]:
        return [v for blocks in arch for blk in blocks
                for v in (blk.in1, blk.in2, blk.op1, blk.op2, blk.comb)[:self._per_block]]

    def _from_values(self, values: Sequence[Any]) -> Cells:
        blocks = []
        for i in range(0, len(values), self._per_block):
            in1, in2, op1, op2, *comb = values[i:i + self._per_block]
            blocks.append(Block(in1, op1, in2, op2, *comb))
        return Cells(tuple(blocks[:BLOCKS]), tuple(blocks[BLOCKS:]))

    def to_decisions(self, arch: Cells) -> list[int]:
        self.check(arch)
        return [d.choices.index(v) for d, v in zip(self.decisions(), self._values(arch))]

    def from_decisions(self, indices: Sequence[int]) -> Cells:
        decisions = self.check_indices(indices)
        return self._from_values([d.choices[i] for d, i in zip(decisions, indices)])

    def check(self, arch: Any) -> None:
        """:class:`SpaceError` naming what makes ``arch`` no architecture of this space."""
        if not isinstance(arch, tuple) or len(arch) != 2:
            raise SpaceError(f"{self.name}: an architecture is Cells(normal, reduce), got {arch!r}")
        for cell, blocks in zip(CELL_TYPES, arch):
            if not isinstance(blocks, tuple) or len(blocks) != BLOCKS:
                raise SpaceError(f"{self.name}: the {cell} cell needs a tuple of {BLOCKS} blocks, got {blocks!r}")
            for b, block in enumerate(blocks):
                if not isinstance(block, tuple) or len(block) != 5:
                    raise SpaceError(f"{self.name}: {cell} block {b} must be a Block, got {block!r}")
                for field, value in zip(Block._fields, block):
                    self._check_field(cell, b, field, value)

    def _check_field(self, cell: str, b: int, field: str, value: Any) -> None:
        where = f"{self.name}: {cell} block {b}: {field}"
        if field.startswith("in"):
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 1 + b:
                raise SpaceError(f"{where} must be a state in 0..{1 + b}, got {value!r}")
        elif field.startswith("op"):
            if value not in self.ops:
                raise SpaceError(f"{where} must be an op of the {self.op_set!r} set {list(self.ops)}, got {value!r}")
        elif value not in self.combinations:
            raise SpaceError(f"{where} must be one of {list(self.combinations)}, got {value!r}")

    # -- sampling and variation ------------------------------------------------------------

    def _sample(self, rng: random.Random) -> Cells:
        return self._from_values([rng.choice(d.choices) for d in self.decisions()])

    def _mutate(self, arch: Cells, rng: random.Random) -> Cells:
        """One decision resampled to a different value."""
        self.check(arch)
        values, decisions = self._values(arch), self.decisions()
        i = rng.choice([i for i, d in enumerate(decisions) if len(d.choices) > 1])
        values[i] = rng.choice([c for c in decisions[i].choices if c != values[i]])
        return self._from_values(values)

    def crossover(self, a: Cells, b: Cells, rng: random.Random) -> Cells:
        """Each block from either parent (blocks at the same position read the same states)."""
        self.check(a)
        self.check(b)
        return Cells(*(tuple(x if rng.random() < 0.5 else y for x, y in zip(ca, cb)) for ca, cb in zip(a, b)))

    def size(self) -> int:
        return cells_per_type(self.op_set) ** 2

    def enumerate(self) -> Iterator[Cells]:
        return (self._from_values(v) for v in itertools.product(*(d.choices for d in self.decisions())))

    # -- encoding --------------------------------------------------------------------------

    def encode(self, arch: Cells) -> str:
        self.check(arch)
        return ";".join(f"{kind}:[{','.join(map(_block_text, blocks))}]" for kind, blocks in zip(CELL_TYPES, arch))

    def decode(self, text: str) -> Cells:
        if not isinstance(text, str):
            raise SpaceError(f"{self.name}: an encoding is a string, got {text!r}")
        parts = re.sub(r"\s+", "", text).split(";")
        if len(parts) != 2:
            raise SpaceError(f"{self.name}: expected 'normal:[...];reduce:[...]', got {text!r}")
        return Cells(*(self._decode_cell(cell, part) for cell, part in zip(CELL_TYPES, parts)))

    def _decode_cell(self, cell: str, part: str) -> tuple[Block, ...]:
        match = re.fullmatch(rf"{cell}:\[(\([^()]*\)(?:,\([^()]*\))*)\]", part)
        if match is None:
            raise SpaceError(f"{self.name}: bad token {part!r}; expected '{cell}:[(in1,op1,in2,op2,comb),...]'")
        texts = re.findall(r"\(([^()]*)\)", match.group(1))
        if len(texts) != BLOCKS:
            raise SpaceError(f"{self.name}: the {cell} cell needs {BLOCKS} blocks, got {len(texts)} in {part!r}")
        blocks = []
        for b, body in enumerate(texts):
            tokens = body.split(",")
            if len(tokens) != 5:
                raise SpaceError(f"{self.name}: bad token '({body})' in the {cell} cell: a block is "
                                 f"(in1,op1,in2,op2,comb)")
            values = [int(t) if field.startswith("in") and re.fullmatch(r"0|[1-9]\d*", t) else t
                      for field, t in zip(Block._fields, tokens)]
            for field, value in zip(Block._fields, values):
                try:
                    self._check_field(cell, b, field, value)
                except SpaceError as error:
                    raise SpaceError(f"{error} (bad token {tokens[Block._fields.index(field)]!r})") from None
            blocks.append(Block(*values))
        return tuple(blocks)

    # -- genotypes and graphs --------------------------------------------------------------

    def to_genotype(self, arch: Cells) -> Any:
        """``arch`` as a DARTS genotype (:class:`spaces.darts.Genotype`); every block must add."""
        self.check(arch)
        halves = {}
        for cell, blocks in zip(CELL_TYPES, arch):
            if any(block.comb != "add" for block in blocks):
                raise SpaceError(f"{self.name}: the {cell} cell concatenates in a block; a DARTS genotype only adds")
            halves[cell] = [pair for blk in blocks for pair in ((blk.op1, blk.in1), (blk.op2, blk.in2))]
            halves[f"{cell}_concat"] = loose_ends(blocks)
        return Genotype(**halves)

    def from_genotype(self, genotype: Any) -> Cells:
        """The architecture of a DARTS genotype of 5 nodes whose concat lists are the cells' loose ends."""
        if not isinstance(genotype, tuple) or len(genotype) != 4:
            raise SpaceError(f"{self.name}: a genotype is Genotype(normal, normal_concat, reduce, reduce_concat), "
                             f"got {genotype!r}")
        cells = []
        for cell, pairs, concat in zip(CELL_TYPES, genotype[::2], genotype[1::2]):
            if not isinstance(pairs, (list, tuple)) or len(pairs) != 2 * BLOCKS or not all(
                    isinstance(pair, (list, tuple)) and len(pair) == 2 for pair in pairs):
                raise SpaceError(f"{self.name}: the genotype's {cell} cell must list {2 * BLOCKS} (op, input) pairs "
                                 f"({BLOCKS} blocks), got {pairs!r}")
            blocks = tuple(Block(pairs[2 * b][1], pairs[2 * b][0], pairs[2 * b + 1][1], pairs[2 * b + 1][0])
                           for b in range(BLOCKS))
            if not isinstance(concat, (list, tuple, range)) or list(concat) != loose_ends(blocks):
                raise SpaceError(f"{self.name}: the genotype's {cell}_concat {concat!r} is not the cell's loose "
                                 f"ends {loose_ends(blocks)}")
            cells.append(blocks)
        arch = Cells(*cells)
        self.check(arch)
        return arch

    def to_graph(self, arch: Cells) -> nx.DiGraph:
        self.check(arch)
        return _network(self, arch)

    def supernet(self) -> nx.DiGraph:
        """ENAS-style weight sharing over the whole space (one weight set per block, slot, input and op).

        Block b's slot j applies a ``choice`` over the op set to every state it
        may read (stride 2 on the cell inputs of a reduction cell), then a
        ``select`` picks among those; a ``select`` also picks the combination
        for the 13-op set. α keys, shared by all cells of one type:
        ``<cell>_op`` (rows 2b + j, one per op decision), ``<cell>_b<b>_in``
        (rows j: input 1, input 2) and ``<cell>_comb`` (row b). Every block
        feeds the cell's concatenation: the loose ends depend on the choices.
        Search-mode ops as in DARTS: BN without affine, pools followed by BN.
        """
        return self.tag_decisions(_supernet(self))

    def decision_rows(self) -> dict[str, tuple[str, int]]:
        rows = {}
        for cell in CELL_TYPES:
            for b in range(BLOCKS):
                rows.update({f"{cell}_b{b}_in{j + 1}": (f"{cell}_b{b}_in", j) for j in range(2)})
                rows.update({f"{cell}_b{b}_op{j + 1}": (f"{cell}_op", 2 * b + j) for j in range(2)})
                if self._per_block == 5:
                    rows[f"{cell}_b{b}_comb"] = (f"{cell}_comb", b)
        return rows

    def derive(self, model: nn.Module) -> Cells:
        """The argmax of every α row of a compiled :meth:`supernet`."""
        alphas = {key: a.detach() for key, a in wiring.supernet.alphas(model).items()}

        def pick(key: str, row: int, choices: Sequence[Any]) -> Any:
            alpha = alphas.get(key)
            if alpha is None or alpha.dim() != 2 or alpha.shape[0] <= row or alpha.shape[1] != len(choices):
                raise SpaceError(f"{self.name}: the model has no α {key!r} of width {len(choices)}; derive from a "
                                 f"compiled supernet() of this space")
            return choices[int(alpha[row].argmax())]

        cells = []
        for cell in CELL_TYPES:
            blocks = []
            for b in range(BLOCKS):
                in1, in2 = (pick(f"{cell}_b{b}_in", j, range(2 + b)) for j in range(2))
                op1, op2 = (pick(f"{cell}_op", 2 * b + j, self.ops) for j in range(2))
                comb = pick(f"{cell}_comb", b, self.combinations) if len(self.combinations) > 1 else "add"
                blocks.append(Block(in1, op1, in2, op2, comb))
            cells.append(tuple(blocks))
        return Cells(*cells)


# -- graphs ---------------------------------------------------------------------------------------
# Built with the DARTS network scaffold (stem, 3N + 2 cells as subgraph nodes, head) and cell helpers.


def _network(space: NASNetSpace, arch: Cells) -> nx.DiGraph:
    """The network of ``arch``; what no path to the classifier reads is pruned (see :func:`_prune`)."""
    skips_s1: list[bool] = []

    def factory(reduction: bool, io: CellInputs) -> tuple[nx.DiGraph, bool, int]:
        blocks = arch.reduce if reduction else arch.normal
        pairs = [pair for blk in blocks for pair in ((blk.op1, blk.in1), (blk.op2, blk.in2))]
        concat = loose_ends(blocks)
        G, reads_s0 = darts_cell(pairs, concat, io)
        for b, blk in enumerate(blocks):
            if blk.comb == "concat":
                _concatenate(G, f"node{2 + b}", io.c)
        skips_s1.append(G.out_degree("pre1") == 0)
        if skips_s1[-1]:  # no block reads h_i: drop its preprocessing and, unless s0 shares it, its input
            source = next(G.predecessors("pre1"))
            G.remove_node("pre1")
            if G.out_degree(source) == 0:
                G.remove_node(source)
        return G, reads_s0, len(concat)

    G = _stack(space, factory, {"name": space.name, "encoding": space.encode(arch)})
    _prune(G, [f"cell{i}" for i, skips in enumerate(skips_s1) if skips])
    return G


def _prune(G: nx.DiGraph, skipping: Sequence[str]) -> None:
    """Cut the h_i edge into every cell in ``skipping``, then remove what no longer reaches the output.

    The DARTS scaffold feeds every cell h_i; a NASNet cell may read only h_{i−1}
    (about one cell type in 36 of uniform samples), and then the previous cell
    may feed nothing at all. The reference codes compute such dead cells
    anyway; this graph leaves them (and their parameters) out, as
    :mod:`spaces.darts` does with an unread h_{i−1} preprocessing.
    """
    for label in skipping:
        G.remove_edges_from([(u, label) for u in G.predecessors(label) if G.edges[u, label]["slot"] == 1])
    dead = [n for n in G if G.out_degree(n) == 0 and G.nodes[n]["op"] != "output"]
    while dead:
        G.remove_nodes_from(dead)
        dead = [n for n in G if G.out_degree(n) == 0 and G.nodes[n]["op"] != "output"]


def _concatenate(G: nx.DiGraph, node: str, channels: int) -> None:
    """Turn the ``sum`` block ``node`` into concat -> ReLU-1×1 conv-BN back to ``channels``."""
    cat = f"{node}_concat"
    G.add_node(cat, op="concat")
    for slot, op in enumerate(sorted(G.predecessors(node))):  # node<j>_op0, node<j>_op1
        G.remove_edge(op, node)
        G.add_edge(op, cat, slot=slot)
    G.nodes[node].update(op="relu_conv_bn", params={"channels": channels, "kernel": 1})
    G.add_edge(cat, node)


def _stack(space: NASNetSpace, factory: Any, info: dict[str, Any]) -> nx.DiGraph:
    params = {"repeats": space.repeats, "filters": space.filters, "num_classes": space.num_classes,
              "image_size": space.image_size, "op_set": space.op_set}
    return darts_network(factory, channels=space.filters, layers=space.layers, num_classes=space.num_classes,
                         dataset="cifar", auxiliary=False, image_size=space.image_size, in_channels=3,
                         info={**info, "params": params})


def _candidates(ops: Sequence[str], stride: int) -> list[dict[str, Any]]:
    """Search-mode candidates, as in DARTS: BN without affine, pools followed by BN without affine."""
    return [{"op": op, "params": {"stride": stride, **({"bn": True} if "pool" in op else {"affine": False})}}
            for op in ops]


def _supernet(space: NASNetSpace) -> nx.DiGraph:
    single = len(space.combinations) == 1

    def factory(reduction: bool, io: CellInputs) -> tuple[nx.DiGraph, bool, int]:
        kind = "reduce" if reduction else "normal"
        G = nx.DiGraph(schema=SCHEMA_VERSION)
        _prepare(G, io, True, affine=False)
        for b in range(BLOCKS):
            node = f"node{2 + b}"
            for j in range(2):
                pick = f"{node}_in{j}"
                G.add_node(pick, op="select", params={"key": f"{kind}_b{b}_in", "index": j})
                for i in range(2 + b):
                    label = f"{node}_op{j}_from{i}"
                    stride = 2 if reduction and i < 2 else 1
                    G.add_node(label, op="choice", params={"candidates": _candidates(space.ops, stride),
                                                           "key": f"{kind}_op", "index": 2 * b + j})
                    G.add_edge(_state(i), label)
                    G.add_edge(label, pick, slot=i)
            if single:
                G.add_node(node, op="sum")
            else:
                G.add_node(f"{node}_add", op="sum")
                G.add_node(f"{node}_concat", op="concat")
                G.add_node(f"{node}_project", op="relu_conv_bn", params={"channels": io.c, "kernel": 1,
                                                                         "affine": False})
                G.add_node(node, op="select", params={"key": f"{kind}_comb", "index": b})
                G.add_edge(f"{node}_concat", f"{node}_project")
                G.add_edge(f"{node}_add", node, slot=0)
                G.add_edge(f"{node}_project", node, slot=1)
            for target in (node,) if single else (f"{node}_add", f"{node}_concat"):
                for j in range(2):
                    G.add_edge(f"{node}_in{j}", target, slot=j)
        return _finish(G, range(2, 2 + BLOCKS)), True, BLOCKS

    return _stack(space, factory, {"name": f"{space.name}.supernet"})


def _block_text(block: Block) -> str:
    return f"({block.in1},{block.op1},{block.in2},{block.op2},{block.comb})"


def space(*, repeats: int = 6, filters: int = 32, num_classes: int = 10, image_size: int = 32,
          op_set: str = "pnas", constraint: Constraint | None = None) -> NASNetSpace:
    """The NASNet space: N = ``repeats`` normal cells per stage, F = ``filters`` in the first cells.

    Defaults are the paper's CIFAR-10 NASNet-A (6 @ 768): N = 6, F = 32.
    """
    return NASNetSpace(repeats=repeats, filters=filters, num_classes=num_classes, image_size=image_size,
                       op_set=op_set, constraint=constraint)
