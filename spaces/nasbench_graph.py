"""The NAS-Bench-Graph space (Qin et al. 2022; docs/papers.md §13), with lookups via the ``nas-bench-graph`` package.

An architecture is 4 computing nodes: ``link[i]`` is the one earlier node that
feeds node i+1 (0 = the input, k = node k; so ``link[i] <= i``) and ``ops[i]``
its layer, from :data:`OPS` (:data:`PROTEINS_OPS` on ogbn-proteins). Leaves
(nodes no other node reads) are concatenated into the classifier.

Members are canonical. Many (link, ops) pairs are the same network; the
package's ``Arch(link, ops).valid_hash()`` maps each to the key of the one its
tables hold (a canonical pair: its link is in the package's ``link_list``).
:meth:`NasBenchGraphSpace.canonical` returns that pair: it calls ``valid_hash``
and inverts the key (``link_list`` index, then the op indices as base-10
digits). Every method accepts any valid pair and returns canonical members, so
the space is exactly the tables' 26,206 architectures (2,021 on proteins), and
:meth:`~NasBenchGraphSpace.key` is the lookup key. The all-``skip`` network is
not a member (the benchmark excludes it). ``encode`` gives
``"link=0,0,1,2|ops=gcn,gat,skip,fc"``; ``decode`` canonicalises.

The network, as the benchmark's ``Net`` with one cell: dropout on the input
features; ``num_pre`` linear layer(s); per node, unless it reads the raw input
features (or a chain of ``skip`` from them), BatchNorm1d -> ReLU -> dropout
before its layer; ``skip`` passes that on; the leaves are concatenated, then
ReLU and a linear layer (to ``hidden`` if ``num_pro`` else to the classes),
then ``num_pro`` linear layer(s). Per-dataset ``hidden``/``num_pre``/``num_pro``
(:data:`DATASETS`) reproduce the tables' parameter counts, which also count
weights the network never uses (see :meth:`~NasBenchGraphSpace.unused_params`).
Inputs: node features (N, F) and the edge list (E, 2) (see :mod:`ops.gnn`).

Supernet (the benchmark has none; this library's proxy): the input is first
projected to ``hidden`` features (so every candidate input has one width); node
i+1 picks its input with a ``select`` (key ``link<i+1>``) among the input and
earlier nodes, applies BN-ReLU-dropout, runs every op, and mixes them with a
``select`` (key ``ops``, row i: α of shape (4, ops)); the 4 nodes are
concatenated into the classifier. :meth:`~NasBenchGraphSpace.derive` takes the
argmax input and op of each node and canonicalises.
"""

from __future__ import annotations

import functools
import itertools
import random
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import networkx as nx
import torch
from torch import nn

from wiring import SCHEMA_VERSION

from .base import MAX_TRIES, Decision, Space, supernet_alphas
from .constraint import Constraint
from .errors import SpaceError

OPS: tuple[str, ...] = ("gat", "gcn", "gin", "cheb", "sage", "arma", "graph", "fc", "skip")
"""The benchmark's ops (the package's ``gnn_list``, in its order)."""

PROTEINS_OPS: tuple[str, ...] = ("gcn", "sage", "arma", "fc", "skip")
"""The ops of its ogbn-proteins tables (``gnn_list_proteins``)."""

NODES = 4
LAYERS = {"gat": "gat", "gcn": "gcn", "gin": "gin", "cheb": "cheb", "sage": "sage", "arma": "arma",
          "graph": "graph_conv", "fc": "gnn_linear"}
"""Benchmark op -> registered op (``skip`` is ``identity``)."""


class Dataset(NamedTuple):
    """A benchmark dataset: its data's sizes and the model hyperparameters its tables were trained with."""

    num_features: int
    num_classes: int
    hidden: int
    num_pre: int
    num_pro: int
    dropout: float


DATASETS: dict[str, Dataset] = {
    "cora": Dataset(1433, 7, 256, 0, 1, 0.7),
    "citeseer": Dataset(3703, 6, 256, 0, 1, 0.7),
    "pubmed": Dataset(500, 3, 128, 0, 0, 0.3),
    "cs": Dataset(6805, 15, 128, 1, 0, 0.6),
    "physics": Dataset(8415, 5, 256, 1, 0, 0.4),
    "photo": Dataset(745, 8, 128, 0, 0, 0.7),
    "computers": Dataset(767, 10, 64, 1, 1, 0.1),
    "arxiv": Dataset(128, 40, 128, 0, 1, 0.2),
    "proteins": Dataset(8, 112, 256, 1, 1, 0.0),
}
"""Per dataset: feature and class counts (PyG / OGB), and ``hidden``, ``num_pre``, ``num_pro`` that reproduce
every parameter count of its table (physics: 24,639 of 26,206 rows; the other 1,567 fit no setting); ``dropout``
is the benchmark's training setting as published (not checkable from the tables)."""

SMALL: dict[str, Any] = {"dataset": "cora", "hidden": 8, "num_features": 12}


class GraphArch(NamedTuple):
    """A NAS-Bench-Graph architecture: ``link`` (input of each node, 0 = features) and ``ops`` (one per node)."""

    link: tuple[int, ...]
    ops: tuple[str, ...]


def _package() -> Any:
    try:
        import nas_bench_graph
    except ImportError:
        raise SpaceError("nasbench_graph needs the nas-bench-graph package: pip install 'nas-wiring[nasbench]'") \
            from None
    return nas_bench_graph


@functools.lru_cache(maxsize=None)
def _decisions(ops: tuple[str, ...]) -> tuple[Decision, ...]:
    """The space's decisions (cached: strategies ask for them on every sample and mutation)."""
    return (tuple(Decision(f"node{i + 1}.input", tuple(range(i + 1))) for i in range(1, NODES))
            + tuple(Decision(f"node{i + 1}.op", ops) for i in range(NODES)))


@functools.lru_cache(maxsize=1 << 16)
def _canonical(link: tuple[int, ...], ops: tuple[str, ...]) -> GraphArch:
    """The pair the package's ``valid_hash`` keys ``(link, ops)`` by (checked input)."""
    package = _package()
    names = package.architecture.gnn_list
    key = package.Arch(list(link), list(ops)).valid_hash()
    base = len(names) + 1
    link_index, digits = divmod(key, base ** NODES)
    indices = [digits // base ** (NODES - 1 - i) % base for i in range(NODES)]
    return GraphArch(tuple(package.architecture.link_list[link_index]), tuple(names[i] for i in indices))


@functools.lru_cache(maxsize=None)
def _members(ops: tuple[str, ...]) -> tuple[GraphArch, ...]:
    """Every canonical architecture over ``ops``: the pairs that are their own canonical form."""
    found = []
    for link in _package().architecture.link_list:
        for chosen in itertools.product(ops, repeat=NODES):
            if set(chosen) != {"skip"} and _canonical(tuple(link), chosen) == (tuple(link), chosen):
                found.append(GraphArch(tuple(link), chosen))
    return tuple(found)


@functools.lru_cache(maxsize=None)
def _table(dataset: str) -> dict[int, dict]:
    return _package().light_read(dataset)


class NasBenchGraphSpace(Space):
    """The NAS-Bench-Graph space; see the module docstring. Options as :func:`space`."""

    data_kind = "graph"

    name = "nasbench_graph"

    def __init__(self, *, dataset: str = "cora", hidden: int | None = None, num_features: int | None = None,
                 num_classes: int | None = None, dropout: float | None = None,
                 constraint: Constraint | None = None) -> None:
        super().__init__(constraint)
        if not isinstance(dataset, str) or dataset not in DATASETS:
            raise SpaceError(f"{self.name}: unknown dataset={dataset!r}; datasets are {list(DATASETS)}")
        _package()
        d = DATASETS[dataset]
        self.dataset, self.num_pre, self.num_pro = dataset, d.num_pre, d.num_pro
        self.ops = PROTEINS_OPS if dataset == "proteins" else OPS
        self.hidden = d.hidden if hidden is None else hidden
        self.num_features = d.num_features if num_features is None else num_features
        self.num_classes = d.num_classes if num_classes is None else num_classes
        self.dropout = d.dropout if dropout is None else dropout
        for option in ("hidden", "num_features", "num_classes"):
            value = getattr(self, option)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SpaceError(f"{self.name}: {option} must be a positive int, got {option}={value!r}")
        if "gat" in self.ops and self.hidden % 4:
            raise SpaceError(f"{self.name}: hidden must be a multiple of 4 (GAT's 4 heads), got hidden={self.hidden}")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) \
                or not 0 <= self.dropout < 1:
            raise SpaceError(f"{self.name}: dropout must be a number in [0, 1), got dropout={self.dropout!r}")

    def __repr__(self) -> str:
        return (f"NasBenchGraphSpace(dataset={self.dataset!r}, hidden={self.hidden}, "
                f"num_features={self.num_features}, num_classes={self.num_classes}, dropout={self.dropout})")

    # -- members and lookups -----------------------------------------------------

    def canonical(self, arch: Any) -> GraphArch:
        """The member equal to ``arch`` (a :class:`GraphArch` or any ``(link, ops)`` pair); else SpaceError."""
        if not isinstance(arch, (tuple, list)) or len(arch) != 2:
            raise SpaceError(f"{self.name}: an architecture is a (link, ops) pair, got {arch!r}")
        link, ops = arch
        if not isinstance(link, (tuple, list)) or len(link) != NODES:
            raise SpaceError(f"{self.name}: link must list {NODES} inputs, got link={link!r}")
        for i, source in enumerate(link):
            if not isinstance(source, int) or isinstance(source, bool) or not 0 <= source <= i:
                raise SpaceError(f"{self.name}: link[{i}] (the input of node {i + 1}) must be an int in 0..{i}, "
                                 f"got {source!r}")
        if not isinstance(ops, (tuple, list)) or len(ops) != NODES:
            raise SpaceError(f"{self.name}: ops must name {NODES} ops, got ops={ops!r}")
        for i, op in enumerate(ops):
            if op not in self.ops:
                raise SpaceError(f"{self.name}: ops[{i}] must be one of {list(self.ops)}, got {op!r}")
        if set(ops) == {"skip"}:
            raise SpaceError(f"{self.name}: the all-'skip' network is not in the space (the benchmark excludes it)")
        return _canonical(tuple(link), tuple(ops))

    def key(self, arch: Any) -> int:
        """The package's lookup key ``Arch(link, ops).valid_hash()`` of ``arch``."""
        member = self.canonical(arch)
        return _package().Arch(list(member.link), list(member.ops)).valid_hash()

    def query(self, arch: Any) -> dict[str, float]:
        """The row of this dataset's table for ``arch``: ``valid_perf``, ``perf`` (test), ``latency``, ``para``."""
        return dict(_table(self.dataset)[self.key(arch)])

    def unused_params(self, arch: Any) -> int:
        """Parameters the benchmark's model holds but never uses, so its ``para`` = ours + this:
        the BN of every node reading raw features, and ARMA's weight of layers 2+ (``hidden``² each)."""
        member = self.canonical(arch)
        raw = self._raw(member)
        return sum(2 * self.hidden * raw[source] + self.hidden ** 2 * (op == "arma")
                   for source, op in zip(member.link, member.ops))

    def size(self) -> int:
        return len(_members(self.ops))

    def enumerate(self) -> Iterator[GraphArch]:
        return iter(_members(self.ops))

    # -- sampling and variation --------------------------------------------------

    def _sample(self, rng: random.Random) -> GraphArch:
        """Uniform over the members (the benchmark's table rows)."""
        return rng.choice(_members(self.ops))

    def _mutate(self, arch: Any, rng: random.Random) -> GraphArch:
        """A different member one decision (a node's input or op) away: a uniform decision, a uniform new value."""
        member = self.canonical(arch)
        indices = self.to_decisions(member)
        decisions = self.decisions()
        for _ in range(MAX_TRIES):
            k = rng.randrange(len(decisions))
            value = rng.randrange(len(decisions[k].choices) - 1)
            value += value >= indices[k]  # any value but the current one
            candidate = self._from_indices([*indices[:k], value, *indices[k + 1:]])
            if candidate is not None and candidate != member:
                return candidate
        raise SpaceError(f"{self.name}: no neighbour of {self.encode(member)} found in {MAX_TRIES} draws")

    def crossover(self, a: Any, b: Any, rng: random.Random) -> GraphArch:
        """Each decision from either parent; ``a`` if every draw gives the all-``skip`` network."""
        a = self.canonical(a)
        pairs = list(zip(self.to_decisions(a), self.to_decisions(b)))
        for _ in range(MAX_TRIES):
            child = self._from_indices([x if rng.random() < 0.5 else y for x, y in pairs])
            if child is not None:
                return child
        return a

    # -- forms -------------------------------------------------------------------

    def decisions(self) -> list[Decision]:
        """The inputs of nodes 2–4 (node 1 reads the features), then the op of nodes 1–4."""
        return list(_decisions(self.ops))

    def to_decisions(self, arch: Any) -> list[int]:
        member = self.canonical(arch)
        return [*member.link[1:], *(self.ops.index(op) for op in member.ops)]

    def from_decisions(self, indices: Sequence[int]) -> GraphArch:
        self.check_indices(indices)
        return self.canonical(((0, *indices[:NODES - 1]), tuple(self.ops[i] for i in indices[NODES - 1:])))

    def _from_indices(self, indices: Sequence[int]) -> GraphArch | None:
        """:meth:`from_decisions`, or None for the all-``skip`` network."""
        if all(self.ops[i] == "skip" for i in indices[NODES - 1:]):
            return None
        return self.from_decisions(indices)

    def encode(self, arch: Any) -> str:
        """``"link=0,0,1,2|ops=gcn,gat,skip,fc"`` of the canonical member."""
        member = self.canonical(arch)
        return f"link={','.join(map(str, member.link))}|ops={','.join(member.ops)}"

    def decode(self, text: str) -> GraphArch:
        """The member of a ``"link=…|ops=…"`` string (any equivalent pair); SpaceError names the bad token."""
        if not isinstance(text, str):
            raise SpaceError(f"{self.name}: an encoding is a str, got {text!r}")
        parts = text.split("|")
        if len(parts) != 2 or not parts[0].startswith("link=") or not parts[1].startswith("ops="):
            raise SpaceError(f"{self.name}: expected 'link=<4 ints>|ops=<4 ops>', got {text!r}")
        link = []
        for token in parts[0][len("link="):].split(","):
            if not token.isdigit():
                raise SpaceError(f"{self.name}: link token {token!r} is not a node index, in {text!r}")
            link.append(int(token))
        ops = parts[1][len("ops="):].split(",")
        for token in ops:
            if token not in self.ops:
                raise SpaceError(f"{self.name}: unknown op token {token!r}; ops are {list(self.ops)}")
        return self.canonical((tuple(link), tuple(ops)))

    def to_graph(self, arch: Any) -> nx.DiGraph:
        """The benchmark's network of ``arch`` (see the module docstring) at the space's sizes."""
        member = self.canonical(arch)
        G = self._inputs({"encoding": self.encode(member), "key": self.key(member)})
        raw = self._raw(member)
        states = ["pre" if self.num_pre else "dropout"]
        for i, (source, op) in enumerate(zip(member.link, member.ops), start=1):
            src = states[source]
            if not raw[source]:
                G.add_node(f"prep{i}", op="gnn_bn_relu_dropout", params={"p": self.dropout})
                G.add_edge(src, f"prep{i}")
                src = f"prep{i}"
            self._layer(G, f"node{i}", op, src)
            states.append(f"node{i}")
        leaves = [i for i in range(1, NODES + 1) if i not in member.link]
        return self._classifier(G, [states[i] for i in leaves])

    # -- supernet -------------------------------------------------------------------

    def supernet(self) -> nx.DiGraph:
        """The weight-sharing proxy of the module docstring: α ``link2``–``link4`` and ``ops`` (4, ops)."""
        G = self._inputs({"supernet": True}, project=True)
        states = ["pre"]
        for i in range(1, NODES + 1):
            src = states[0]
            if i > 1:
                src = f"link{i}"
                G.add_node(src, op="select", params={"key": src})
                for slot, state in enumerate(states):
                    G.add_edge(state, src, slot=slot)
            G.add_node(f"prep{i}", op="gnn_bn_relu_dropout", params={"p": self.dropout})
            G.add_edge(src, f"prep{i}")
            G.add_node(f"node{i}", op="select", params={"key": "ops", "index": i - 1})
            for slot, op in enumerate(self.ops):
                self._layer(G, f"node{i}.{op}", op, f"prep{i}")
                G.add_edge(f"node{i}.{op}", f"node{i}", slot=slot)
            states.append(f"node{i}")
        return self.tag_decisions(self._classifier(G, states[1:]))

    def decision_rows(self) -> dict[str, tuple[str, int]]:
        return {**{f"node{i}.input": (f"link{i}", 0) for i in range(2, NODES + 1)},
                **{f"node{i}.op": ("ops", i - 1) for i in range(1, NODES + 1)}}

    def derive(self, model: nn.Module) -> GraphArch:
        """Per node the input and op of largest α (first on ties), canonicalised. Should every node pick
        ``skip``, the node and op of largest α other than ``skip`` replace it."""
        found = supernet_alphas(model, {"ops": (NODES, len(self.ops)),
                                        **{f"link{i}": (1, i) for i in range(2, NODES + 1)}}, self.name)
        link = [0] + [int(found[f"link{i}"][0].argmax()) for i in range(2, NODES + 1)]
        weights = found["ops"].float()
        ops = [self.ops[int(row.argmax())] for row in weights]
        if set(ops) == {"skip"}:
            weights[:, self.ops.index("skip")] = -float("inf")
            node, op = divmod(int(weights.argmax()), len(self.ops))
            ops[node] = self.ops[op]
        return self.canonical((tuple(link), tuple(ops)))

    # -- building blocks -------------------------------------------------------------

    def _raw(self, member: GraphArch) -> list[bool]:
        """Per state (0 = input, then the nodes): whether it carries the raw input features."""
        raw = [self.num_pre == 0]
        for source, op in zip(member.link, member.ops):
            raw.append(raw[source] and op == "skip")
        return raw

    def _inputs(self, provenance: dict[str, Any], project: bool = False) -> nx.DiGraph:
        """Features ``x``, edge list ``edges``, input dropout and (``num_pre`` or ``project``) the ``pre`` layer."""
        G = nx.DiGraph()
        G.add_node("x", op="input", params={"index": 0, "channels": self.num_features, "size": []})
        G.add_node("edges", op="input", params={"index": 1, "channels": 2, "size": []})
        G.add_node("dropout", op="gnn_dropout", params={"p": self.dropout})
        G.add_edge("x", "dropout")
        if self.num_pre or project:
            G.add_node("pre", op="linear", params={"features": self.hidden})
            G.add_edge("dropout", "pre")
        G.graph["schema"] = SCHEMA_VERSION
        G.graph["space"] = {"name": self.name, **provenance,
                            "params": {"dataset": self.dataset, "hidden": self.hidden,
                                       "num_features": self.num_features, "num_classes": self.num_classes,
                                       "dropout": self.dropout}}
        return G

    def _layer(self, G: nx.DiGraph, name: str, op: str, src: str) -> None:
        """Node ``name``: benchmark op ``op`` on ``src`` (and the edge list)."""
        if op == "skip":
            G.add_node(name, op="identity")
            G.add_edge(src, name)
            return
        params = {"channels": self.hidden}
        if op == "gcn":
            params["normalize"] = self.dataset != "proteins"  # the benchmark's norm=False on ogbn-proteins
        G.add_node(name, op=LAYERS[op], params=params)
        G.add_edge(src, name, slot=0)
        G.add_edge("edges", name, slot=1)

    def _classifier(self, G: nx.DiGraph, leaves: list[str]) -> nx.DiGraph:
        G.add_node("concat", op="concat")
        for slot, leaf in enumerate(leaves):
            G.add_edge(leaf, "concat", slot=slot)
        G.add_node("classifier", op="gnn_relu_linear",
                   params={"features": self.hidden if self.num_pro else self.num_classes})
        G.add_edge("concat", "classifier")
        last = "classifier"
        if self.num_pro:
            G.add_node("post", op="linear", params={"features": self.num_classes})
            G.add_edge("classifier", "post")
            last = "post"
        G.add_node("out", op="output")
        G.add_edge(last, "out")
        return G


def example_inputs(G: nx.DiGraph, *, nodes: int = 6, edges: int = 16, seed: int = 0) -> list[torch.Tensor]:
    """A random graph for ``G``'s inputs: features (``nodes``, F) and an edge list (``edges``, 2)."""
    features = next(data["params"]["channels"] for _, data in G.nodes(data=True)
                    if data["op"] == "input" and data["params"].get("index", 0) == 0)
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(nodes, features, generator=generator),
            torch.randint(0, nodes, (edges, 2), generator=generator)]


def space(*, dataset: str = "cora", hidden: int | None = None, num_features: int | None = None,
          num_classes: int | None = None, dropout: float | None = None,
          constraint: Constraint | None = None) -> NasBenchGraphSpace:
    """The NAS-Bench-Graph space on ``dataset`` (one of :data:`DATASETS`); ``hidden``, ``num_features``,
    ``num_classes`` and ``dropout`` default to the dataset's (the benchmark's model)."""
    return NasBenchGraphSpace(dataset=dataset, hidden=hidden, num_features=num_features, num_classes=num_classes,
                              dropout=dropout, constraint=constraint)
