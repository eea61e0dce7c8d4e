"""Typed DAGs as ``torch_geometric`` graphs, for GNN predictors: :func:`to_pyg`, :func:`from_pyg`, :func:`expand`.

A :class:`~torch_geometric.data.Data` from :func:`to_pyg` holds one node per
computation, subgraphs expanded (see :func:`expand`), in stable topological
order:

- ``x``: one-hot rows (float) over ``vocab``, a list of op names;
- ``edge_index`` (2×E, long) and ``edge_slot`` (E, long; -1 where the edge has no slot);
- ``node_ops``, ``node_params`` (canonical JSON of each node's resolved params),
  ``node_labels`` (the graph's labels; ``"conv3/5"`` for node 5 of subgraph
  ``conv3``) and ``vocab``, so that :func:`from_pyg` can rebuild the graph.

``torch_geometric`` is imported on first use only.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Hashable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import networkx as nx

import ops

from .analysis import SCHEMA_VERSION, Analysis, analyse, stable_order
from .errors import GraphError

if TYPE_CHECKING:
    from torch_geometric.data import Data

__all__ = ["DEFAULT_VOCAB", "expand", "from_pyg", "to_pyg"]


class _RegistryVocab(Sequence[str]):
    """The registered op names, sorted, without ``subgraph``; read from the registry at each use."""

    def _names(self) -> list[str]:
        return [name for name in ops.names() if name != "subgraph"]

    def __getitem__(self, index: Any) -> Any:
        return self._names()[index]

    def __len__(self) -> int:
        return len(self._names())

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __repr__(self) -> str:
        return f"DEFAULT_VOCAB({self._names()})"


DEFAULT_VOCAB: Sequence[str] = _RegistryVocab()
"""Every registered op name but ``subgraph``, sorted: a live view, so ops registered later are included."""


# -- subgraph expansion -----------------------------------------------------------


def expand(G: nx.DiGraph) -> nx.DiGraph:
    """``G`` (validated) with every ``subgraph`` node replaced by its nested graph, recursively.

    Input ``i`` of a nested graph stands for the subgraph node's predecessor at
    slot ``i``: that predecessor feeds the input's successors, with the nested
    edges' slots. The nested ``output``'s predecessor feeds the subgraph node's
    successors, with the outer edges' slots. A nested graph whose output is fed
    by one of its inputs directly becomes an ``identity`` node (labelled like
    the nested output), so no edge is lost. Nested nodes are labelled by their
    path, ``"conv3/5"``; other labels stay. Nodes carry ``op`` and resolved
    ``params``; the graph keeps ``G.graph``. The result validates.

    Raises
    ------
    GraphError
        If ``G`` is malformed, or a path label clashes with a label of ``G``.
    """
    analysis = analyse(G)
    H = nx.DiGraph(**G.graph)
    _expand_into(H, analysis, prefix=None, feeds=[])
    return H


def _expand_into(H: nx.DiGraph, analysis: Analysis, prefix: str | None,
                 feeds: list[Hashable]) -> Hashable | None:
    """Add ``analysis``'s graph to ``H``: inputs as ``feeds`` (nested graphs) or as nodes (outer graph).

    Returns the label in ``H`` of the tensor the nested output gathers (None for the outer graph).
    """
    G = analysis.graph
    at: dict[Hashable, Hashable] = {}  # label in G -> label in H of the tensor that node produces

    def name(label: Hashable) -> Hashable:
        new = label if prefix is None else f"{prefix}/{label}"
        if new in H:
            raise GraphError(f"expanding subgraphs: node label {new!r} is taken; rename node {new!r} or the subgraph")
        return new

    for label, info in analysis.nodes.items():
        op = info.spec.name
        if prefix is not None and op == "input":
            at[label] = feeds[info.params["index"]]
            continue
        if prefix is not None and op == "output":
            source = at[info.inputs[0]]
            if info.inputs[0] not in analysis.inputs:
                return source
            node = name(label)  # the nested graph passes an input through: keep one node for it
            H.add_node(node, op="identity", params={})
            H.add_edge(source, node)
            return node
        if op == "subgraph":
            at[label] = _expand_into(H, info.sub, str(label) if prefix is None else f"{prefix}/{label}",
                                     [at[p] for p in info.inputs])
            continue
        node = at[label] = name(label)
        H.add_node(node, op=op, params=copy.deepcopy(info.params))
        for p in G.predecessors(label):
            H.add_edge(at[p], node, **_slot(G.edges[p, label].get("slot")))
    return None


def _slot(slot: int | None) -> dict[str, int]:
    return {} if slot is None else {"slot": slot}


# -- torch_geometric ----------------------------------------------------------------


def to_pyg(G: nx.DiGraph, vocab: Sequence[str] | None = None) -> Data:
    """The typed DAG ``G`` (validated, subgraphs expanded) as a ``torch_geometric.data.Data``.

    Nodes come in the stable topological order of the expanded graph.
    ``vocab`` lists the op names of the one-hot features (default: a snapshot
    of :data:`DEFAULT_VOCAB`). See the module docstring for the fields.

    Raises
    ------
    GraphError
        If ``G`` is malformed, ``vocab`` is not a list of distinct names, or a
        node's op is not in ``vocab`` (the message names both and lists ``vocab``).
    """
    import torch
    from torch_geometric.data import Data

    words = _check_vocab(list(DEFAULT_VOCAB) if vocab is None else vocab)
    H = expand(G)
    order = stable_order(H)
    index = {label: i for i, label in enumerate(order)}
    column = {name: i for i, name in enumerate(words)}
    node_ops = [H.nodes[label]["op"] for label in order]
    x = torch.zeros(len(order), len(words))
    for i, (label, op) in enumerate(zip(order, node_ops)):
        if op not in column:
            raise GraphError(f"node {label!r}: op {op!r} is not in the vocabulary {words}")
        x[i, column[op]] = 1.0
    edges = sorted((index[u], index[v], data.get("slot", -1)) for u, v, data in H.edges(data=True))
    edge_index = torch.tensor([[u for u, _, _ in edges], [v for _, v, _ in edges]], dtype=torch.long).reshape(2, -1)
    return Data(x=x, edge_index=edge_index, edge_slot=torch.tensor([s for _, _, s in edges], dtype=torch.long),
                node_ops=node_ops, node_params=[_params_json(H, label) for label in order],
                node_labels=order, vocab=words, num_nodes=len(order))


def _check_vocab(vocab: Any) -> list[str]:
    if isinstance(vocab, str) or not isinstance(vocab, Sequence):
        raise GraphError(f"vocab must be a list of op names, got {vocab!r}")
    words = list(vocab)
    bad = [word for word in words if not isinstance(word, str)]
    if bad:
        raise GraphError(f"vocab must hold op names (strings), got {bad[0]!r}")
    repeated = sorted({word for word in words if words.count(word) > 1})
    if repeated:
        raise GraphError(f"vocab names each op once, got {repeated} more than once")
    return words


def _params_json(H: nx.DiGraph, label: Hashable) -> str:
    try:
        return json.dumps(H.nodes[label]["params"], sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as error:
        raise GraphError(f"node {label!r}: params are not JSON-serialisable: {error}") from None


def from_pyg(data: Data) -> nx.DiGraph:
    """The typed DAG a :func:`to_pyg` result describes (validated); nodes labelled ``0..n-1`` in data order.

    Ops come from ``data.node_ops``, else from the argmax of ``data.x`` over
    ``data.vocab``; params from ``data.node_params``; edge slots from
    ``data.edge_slot`` (-1: none). A graph whose subgraphs :func:`to_pyg`
    expanded comes back flat.

    Raises
    ------
    GraphError
        If ``data`` lacks what the graph needs (ops; params where an op has
        required ones), is inconsistent, or describes a malformed graph.
    """
    import torch

    n = data.num_nodes
    if not isinstance(n, int) or n < 1:
        raise GraphError(f"data must have nodes, got num_nodes={n!r}")
    node_ops = _node_ops(data, n)
    node_params = _node_params(data, node_ops, n)
    edge_index = data.edge_index
    if not isinstance(edge_index, torch.Tensor) or edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise GraphError(f"data.edge_index must be a 2×E tensor, got {edge_index!r}")
    pairs = edge_index.t().tolist()
    slots = data.edge_slot.tolist() if getattr(data, "edge_slot", None) is not None else [-1] * len(pairs)
    if len(slots) != len(pairs):
        raise GraphError(f"data.edge_slot has {len(slots)} entries for {len(pairs)} edges")
    G = nx.DiGraph(schema=SCHEMA_VERSION)
    for i, (op, params) in enumerate(zip(node_ops, node_params)):
        G.add_node(i, op=op, params=params)
    for (u, v), slot in zip(pairs, slots):
        if not (0 <= u < n and 0 <= v < n):
            raise GraphError(f"data.edge_index: edge ({u}, {v}) names a node outside 0..{n - 1}")
        if G.has_edge(u, v):
            raise GraphError(f"data.edge_index: edge ({u}, {v}) appears twice")
        G.add_edge(u, v, **_slot(None if slot == -1 else slot))
    analyse(G)
    return G


def _node_ops(data: Data, n: int) -> list[str]:
    node_ops = getattr(data, "node_ops", None)
    if node_ops is None:
        vocab, x = getattr(data, "vocab", None), getattr(data, "x", None)
        if vocab is None or x is None:
            raise GraphError("data has neither node_ops nor x with vocab: the ops cannot be recovered")
        if x.dim() != 2 or x.size(1) != len(vocab):
            raise GraphError(f"data.x must be n×{len(vocab)} (one column per vocab name), got {tuple(x.shape)}")
        node_ops = [vocab[i] for i in x.argmax(dim=1).tolist()]
    if len(node_ops) != n:
        raise GraphError(f"data has {n} nodes but {len(node_ops)} node ops")
    return list(node_ops)


def _node_params(data: Data, node_ops: list[str], n: int) -> list[dict[str, Any]]:
    texts = getattr(data, "node_params", None)
    if texts is None:
        for i, op in enumerate(node_ops):
            required = _required_params(i, op)
            if required:
                raise GraphError(f"data has no node_params, so the graph cannot be inverted: node {i} (op {op!r}) "
                                 f"needs params {required}")
        return [{} for _ in range(n)]
    if len(texts) != n:
        raise GraphError(f"data has {n} nodes but {len(texts)} node params")
    params = []
    for i, text in enumerate(texts):
        try:
            value = json.loads(text)
        except (TypeError, ValueError) as error:
            raise GraphError(f"node {i}: params are not JSON text ({error}): {text!r:.80}") from None
        if not isinstance(value, dict):
            raise GraphError(f"node {i}: params must be a JSON object, got {text!r:.80}")
        params.append(value)
    return params


def _required_params(i: int, op: str) -> list[str]:
    try:
        spec = ops.get(op)
    except ops.OpError as error:
        raise GraphError(f"node {i}: {error}") from None
    return [name for name, param in spec.params.items() if param.default is ops.REQUIRED]
