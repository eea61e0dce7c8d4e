"""The NAS-Bench-201 space (Dong & Yang 2020; docs/papers.md §12), as D-X-Y/AutoDL-Projects builds it.

A cell has 4 nodes (0 = input, 1–3) and an op on each of its 6 edges j→i
(j < i) from :data:`OPS`; node i sums its incoming edges and the cell outputs
node 3. An architecture is the tuple of the 6 ops in :data:`EDGES` order (node
1's edge, node 2's, node 3's), the order of the benchmark's string
``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` (:meth:`NasBench201Space.encode`) and
of the rows of AutoDL's α (its sorted ``"i<-j"`` edge keys): 5⁶ = 15,625 cells.

The network (AutoDL's ``TinyNetwork``): 3×3 conv stem to C channels + BN; three
stages of N cells (C, 2C, 4C channels) joined by ``nb201_resblock`` reduction
blocks; ``nb201_lastact`` (BN, ReLU), global average pool and a linear
classifier (``head``). Cells are ``subgraph`` nodes; every edge is a node, so
``none`` edges stay in the graph as ``zero`` nodes (nothing is pruned: a cell
whose output ignores its input is still a valid member, as in the benchmark).

The supernet is AutoDL's DARTS search network: every edge a ``choice`` over
the 5 ops with BN without affine (AutoDL's search convs then carry a bias,
these do not); one α of shape (6, 5) shared by all cells (key ``"cell"``, row =
edge index). :meth:`~NasBench201Space.derive` takes the argmax of each row,
``none`` included, as AutoDL's ``genotype()`` does.

Tables (the benchmark's results, from the user's own files; nothing is
downloaded): ``table = load_table(path, hp="200")`` reads NAS-Bench-201's
``.pth``, NATS-Bench's topology ``.pickle.pbz2`` file or ``-simple`` directory,
or a CSV (:mod:`spaces.nasbench201_table` has the layouts, what each metric
is and how the files are read without running their code);
``space(table=table).query(arch, dataset="cifar10", metric=None)`` gives the
row of :data:`METRICS` (or one metric) of ``arch``, as the official
``get_more_info(..., hp, is_random=False)`` answers. ``time_cost`` is what the
official ``simulate_train_eval`` charges (train time + one validation): the
seconds a simulated clock charges a trial.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import networkx as nx
from torch import nn

from wiring import SCHEMA_VERSION

from .base import Decision, DecisionSpace, supernet_alphas
from .constraint import Constraint
from .errors import SpaceError
from .nasbench201_table import DATASETS, METRICS, Table
from .nasbench201_table import load as _load

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
"""The benchmark's candidate ops, in its order (AutoDL's ``NAS_BENCH_201``)."""

EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
"""The 6 edges (j, i), j -> i, in string and α-row order."""

KEY = "cell"
"""α key shared by every cell of the supernet."""

SMALL: dict[str, Any] = {"channels": 8, "cells_per_stage": 1, "image_size": 16}

Arch = tuple[str, str, str, str, str, str]


def edge_op(op: str, channels: int, affine: bool = True) -> dict[str, Any]:
    """The typed-DAG op (``{"op", "params"}``) of a benchmark op name on a cell of ``channels`` channels."""
    if op == "none":
        return {"op": "zero", "params": {}}
    if op == "skip_connect":
        return {"op": "identity", "params": {}}
    if op in ("nor_conv_1x1", "nor_conv_3x3"):
        return {"op": "relu_conv_bn", "params": {"channels": channels, "kernel": int(op[-1]), "affine": affine}}
    if op == "avg_pool_3x3":
        return {"op": "avg_pool", "params": {"kernel": 3, "stride": 1, "count_include_pad": False}}
    raise SpaceError(f"nasbench201: unknown op {op!r}; ops are {list(OPS)}")


def cell(arch: Sequence[str] | None, channels: int, size: int) -> nx.DiGraph:
    """One cell as a typed DAG: ``arch``'s ops, or (``arch=None``) the supernet's ``choice`` edges."""
    G = nx.DiGraph()
    G.add_node("node0", op="input", params={"channels": channels, "size": [size, size]})
    for i in (1, 2, 3):
        G.add_node(f"node{i}", op="sum")
    for k, (j, i) in enumerate(EDGES):
        name = f"edge{j}_{i}"
        if arch is None:
            candidates = [edge_op(op, channels, affine=False) for op in OPS]
            G.add_node(name, op="choice", params={"candidates": candidates, "key": KEY, "index": k})
        else:
            spec = edge_op(arch[k], channels)
            G.add_node(name, op=spec["op"], params=spec["params"])
        G.add_edge(f"node{j}", name)
        G.add_edge(name, f"node{i}")
    G.add_node("out", op="output")
    G.add_edge("node3", "out")
    G.graph["schema"] = SCHEMA_VERSION
    return G


class NasBench201Space(DecisionSpace):
    """The NAS-Bench-201 space; see the module docstring. Options as :func:`space`."""

    name = "nasbench201"

    def __init__(self, *, channels: int = 16, cells_per_stage: int = 5, num_classes: int = 10,
                 image_size: int = 32, constraint: Constraint | None = None,
                 table: Table | str | os.PathLike | None = None) -> None:
        super().__init__(constraint)
        for option, value in (("channels", channels), ("cells_per_stage", cells_per_stage),
                              ("num_classes", num_classes), ("image_size", image_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SpaceError(f"{self.name}: {option} must be a positive int, got {option}={value!r}")
        if image_size % 4:
            raise SpaceError(f"{self.name}: image_size must be a multiple of 4 (two reductions halve an even size), "
                             f"got image_size={image_size!r}")
        self.channels, self.cells_per_stage = channels, cells_per_stage
        self.num_classes, self.image_size = num_classes, image_size
        self._decisions = [Decision(f"edge{j}_{i}", OPS) for j, i in EDGES]
        if isinstance(table, (str, os.PathLike)):
            table = load_table(table)
        if table is not None and not isinstance(table, Table):
            raise SpaceError(f"{self.name}: table must be a nasbench201.load_table(path) or a path, got {table!r}")
        self.table = table

    def __repr__(self) -> str:
        return (f"NasBench201Space(channels={self.channels}, cells_per_stage={self.cells_per_stage}, "
                f"num_classes={self.num_classes}, image_size={self.image_size}"
                + (f", table={self.table!r})" if self.table is not None else ")"))

    # -- table lookups --------------------------------------------------------

    def query(self, arch: Arch, dataset: str = "cifar10", metric: str | None = None) -> dict[str, float] | float:
        """``arch``'s row on ``dataset`` in the space's table (:data:`METRICS` it has), or its ``metric``.

        :class:`SpaceError` for a non-member, no table, an unknown dataset or metric, or one the table lacks."""
        self.check(arch)
        if self.table is None:
            raise SpaceError(f"{self.name}: query needs a table: nasbench201.space(table=nasbench201.load_table(path))")
        if metric is not None and metric not in METRICS:
            raise SpaceError(f"{self.name}: unknown metric={metric!r}; metrics are {list(METRICS)}")
        if tuple(arch) not in self.table:
            raise SpaceError(f"{self.name}: {self.table.source}: no results for {self.encode(arch)}"
                             + (f" at hp={self.table.hp!r}" if self.table.hp else ""))
        row = self.table.row(tuple(arch), dataset)
        if metric is None:
            return row
        if metric not in row:
            raise SpaceError(f"{self.name}: {self.table.source}: {self.encode(arch)} has no {metric!r} on "
                             f"{dataset!r}; it has {list(row)}")
        return row[metric]

    def decisions(self) -> list[Decision]:
        """One decision per edge, in :data:`EDGES` order, over :data:`OPS`."""
        return list(self._decisions)

    # -- forms ----------------------------------------------------------------

    def encode(self, arch: Arch) -> str:
        """The benchmark's arch string, e.g. ``|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...~0|...~1|...~2|``."""
        self.check(arch)
        ops = iter(arch)
        return "+".join("|" + "|".join(f"{next(ops)}~{j}" for j in range(i)) + "|" for i in (1, 2, 3))

    def decode(self, text: str) -> Arch:
        """The architecture of a benchmark arch string; :class:`SpaceError` naming the first bad token."""
        if not isinstance(text, str):
            raise SpaceError(f"{self.name}: an arch string is a str, got {text!r}")
        nodes = text.split("+")
        if len(nodes) != 3:
            raise SpaceError(f"{self.name}: an arch string has 3 nodes joined by '+', got {len(nodes)} in {text!r}")
        ops = []
        for i, node in enumerate(nodes, start=1):
            if len(node) < 2 or node[0] != "|" or node[-1] != "|":
                raise SpaceError(f"{self.name}: node {i} must be written '|op~0|...|', got token {node!r}")
            tokens = node[1:-1].split("|")
            if len(tokens) != i:
                raise SpaceError(f"{self.name}: node {i} needs {i} edge(s), got {len(tokens)} in token {node!r}")
            for j, token in enumerate(tokens):
                op, sep, source = token.partition("~")
                if not sep or source != str(j):
                    raise SpaceError(f"{self.name}: node {i}, edge {j}: expected 'op~{j}', got token {token!r}")
                if op not in OPS:
                    raise SpaceError(f"{self.name}: node {i}, edge {j}: unknown op in token {token!r}; "
                                     f"ops are {list(OPS)}")
                ops.append(op)
        return tuple(ops)

    def to_graph(self, arch: Arch) -> nx.DiGraph:
        """AutoDL's ``TinyNetwork`` of ``arch`` at the space's size, one typed DAG."""
        self.check(arch)
        return self._network(tuple(arch), {"encoding": self.encode(arch)})

    # -- supernet -------------------------------------------------------------

    def supernet(self) -> nx.DiGraph:
        """AutoDL's DARTS search network (``TinyNetworkDarts``): α (6, 5) under key ``"cell"``."""
        return self.tag_decisions(self._network(None, {"supernet": True}))

    gdas_unselected = True
    """GDAS' reference NAS-Bench-201 cell adds the unselected candidates' Gumbel weights (``forward_gdas``)."""

    def decision_rows(self) -> dict[str, tuple[str, int]]:
        return {d.name: (KEY, k) for k, d in enumerate(self._decisions)}

    def derive(self, model: nn.Module) -> Arch:
        """Per edge the op of largest α (first on ties), ``none`` included, as AutoDL's ``genotype()``."""
        alpha = supernet_alphas(model, {KEY: (len(EDGES), len(OPS))}, self.name)[KEY]
        return tuple(OPS[int(row.argmax())] for row in alpha.float())

    # -- the network ----------------------------------------------------------

    def _network(self, arch: Arch | None, provenance: dict[str, Any]) -> nx.DiGraph:
        C, N, size = self.channels, self.cells_per_stage, self.image_size
        G = nx.DiGraph()
        G.add_node("x", op="input", params={"channels": 3, "size": [size, size]})
        G.add_node("stem", op="conv_bn", params={"channels": C, "kernel": 3})
        G.add_edge("x", "stem")
        previous = "stem"
        for stage in range(3):
            channels, side = C * 2 ** stage, size // 2 ** stage
            if stage:
                block = f"reduce{stage}"
                G.add_node(block, op="nb201_resblock", params={"channels": channels})
                G.add_edge(previous, block)
                previous = block
            graph = cell(arch, channels, side)  # one graph object per stage, shared by its cells
            for k in range(N):
                name = f"cell{stage * N + k}"
                G.add_node(name, op="subgraph", params={"graph": graph})
                G.add_edge(previous, name)
                previous = name
        G.add_node("lastact", op="nb201_lastact")
        G.add_node("head", op="head", params={"num_classes": self.num_classes})
        G.add_node("out", op="output")
        G.add_edges_from([(previous, "lastact"), ("lastact", "head"), ("head", "out")])
        G.graph["schema"] = SCHEMA_VERSION
        G.graph["space"] = {"name": self.name, **provenance,
                            "params": {"channels": C, "cells_per_stage": N, "num_classes": self.num_classes,
                                       "image_size": size}}
        return G


def load_table(path: str | os.PathLike, *, hp: str | int = "200") -> Table:
    """The results in ``path`` (see :mod:`spaces.nasbench201_table`), filed under this space's architectures;
    ``hp`` picks the official files' 12- or 200-epoch setting. Bad files: :class:`SpaceError` naming the file."""
    return _load(path, hp=hp, decode=_DECODER.decode)


def space(*, channels: int = 16, cells_per_stage: int = 5, num_classes: int = 10, image_size: int = 32,
          constraint: Constraint | None = None, table: Table | str | os.PathLike | None = None) -> NasBench201Space:
    """The NAS-Bench-201 space. Defaults are the benchmark's CIFAR-10 networks (C=16, N=5, 32×32, 10 classes);
    CIFAR-100 is ``num_classes=100``, ImageNet16-120 ``num_classes=120, image_size=16``. ``table`` (a
    :func:`load_table` or a path, read at ``hp="200"``) answers :meth:`~NasBench201Space.query`."""
    return NasBench201Space(channels=channels, cells_per_stage=cells_per_stage, num_classes=num_classes,
                            image_size=image_size, constraint=constraint, table=table)


_DECODER = NasBench201Space()
"""Decodes table strings (decoding depends on no option)."""
