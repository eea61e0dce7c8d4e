"""GNN ops: PyG message-passing layers and the feature ops around them (NAS-Bench-Graph; docs/papers.md §13).

Graph convention. A graph of N nodes with F features is the tensor (N, F): the
node axis plays the batch axis of the shape convention, so a feature input is
``{"op": "input", "params": {"index": 0, "channels": F, "size": []}}`` and every
static shape and cost is per graph node. The graph's edges are a second input,
the edge list as an int64 tensor (E, 2) (PyG's ``edge_index`` transposed: pass
``data.edge_index.t()``): ``{"index": 1, "channels": 2, "size": []}``, E playing
the batch axis. Graph ops read node features from slot 0 and the edge list from
slot 1. ``edges=False`` makes a layer take its features alone and see a graph
without edges (each node on its own, plus the self-loops the layer adds).

Cost per graph node: parameters exactly those of the built module;
multiply-adds the dense products (the layers' linear maps), which
``FlopCounterMode`` counts as N × this for any edge set (message passing is
scatter/gather, not counted).

Layers, as NAS-Bench-Graph's ``gnn_map`` builds them (``channels`` = output features):

- ``gat``: ``GATConv(in, channels // heads, heads=4, concat=True)`` (the package's comment says 2 heads,
  its training code uses 4; parameter counts cannot tell, they depend on channels only);
- ``gcn``: ``GCNConv`` (``normalize=False`` for ogbn-proteins, as the benchmark);
- ``gin``: ``GINConv(Linear(in, channels))``, ε fixed at 0;
- ``cheb``: ``ChebConv(K=2)``; ``sage``: ``SAGEConv`` (mean); ``arma``: ``ARMAConv`` (1 stack, 1 layer,
  ReLU). PyG also creates the (channels × channels) weight of layers 2+, which one layer never reads:
  it is dropped here, so every parameter trains (the benchmark's parameter counts include it);
- ``graph_conv``: ``GraphConv`` (k-GNN; the benchmark's ``graph``);
- ``gnn_linear``: the benchmark's ``LinearConv`` (``fc``): a linear layer that takes the edge list and ignores it.

Feature ops: ``gnn_dropout`` (dropout on node features), ``gnn_bn_relu_dropout``
(BatchNorm1d -> ReLU -> dropout, the benchmark's per-node preprocessing) and
``gnn_relu_linear`` (ReLU -> linear, its classifier on the concatenated leaves).

``torch_geometric`` is imported by the builders only (importing it takes seconds).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from .cost import Cost, Shape, batch_norm_cost, linear_cost
from .errors import OpError
from .registry import OpSpec, Param, register

GAT_HEADS = 4


def features(op: str, shape: Shape) -> int:
    """The feature count of a node-feature input (F,), else :class:`OpError`."""
    if len(shape) != 1:
        raise OpError(f"op {op!r} takes node features (F,) (graph nodes on the batch axis), got shape {shape}")
    return shape[0]


def _graph_shape(op: str) -> Callable[[Sequence[Shape], dict], Shape]:
    def shape(s: Sequence[Shape], p: dict) -> Shape:
        features(op, s[0])
        if p["edges"] and len(s) != 2:
            raise OpError(f"op {op!r} reads node features from slot 0 and the edge list from slot 1, got "
                          f"{len(s)} input(s); give it the graph's edge input (or edges=False for no edges)")
        if not p["edges"] and len(s) != 1:
            raise OpError(f"op {op!r} with edges=False takes node features alone, got {len(s)} inputs")
        if p["edges"] and tuple(s[1]) != (2,):
            raise OpError(f"op {op!r}: the edge list in slot 1 has shape (2,) per edge, got {s[1]}")
        if op == "gat" and p["channels"] % GAT_HEADS:
            raise OpError(f"op 'gat': channels must be a multiple of its {GAT_HEADS} heads, got {p['channels']}")
        return (p["channels"],)
    return shape


class GraphLayer(nn.Module):
    """A PyG layer ``conv`` called as ``conv(x, edge_index)`` on (N, F) features and an (E, 2) edge list."""

    def __init__(self, conv: nn.Module, edges: bool) -> None:
        super().__init__()
        self.conv = conv
        self.edges = edges

    def forward(self, x: torch.Tensor, edges: torch.Tensor | None = None) -> torch.Tensor:
        if edges is None:
            edge_index = torch.empty(2, 0, dtype=torch.long, device=x.device)
        elif edges.dim() != 2 or edges.shape[1] != 2:
            raise OpError(f"a graph layer takes the edge list as an (E, 2) tensor (edge_index.t()), got shape "
                          f"{tuple(edges.shape)}")
        else:
            edge_index = edges.t()
        return self.conv(x, edge_index)

    def extra_repr(self) -> str:
        return f"edges={self.edges}"


class LinearConv(nn.Module):
    """NAS-Bench-Graph's ``fc``: a linear layer on node features; the edge list, if given, is ignored."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.linear = nn.Linear(c_in, c_out)

    def forward(self, x: torch.Tensor, edges: torch.Tensor | None = None) -> torch.Tensor:
        return self.linear(x)


def _gat(i: int, o: int, p: dict) -> nn.Module:
    from torch_geometric.nn import GATConv
    return GATConv(i, o // GAT_HEADS, heads=GAT_HEADS, concat=True)


def _gcn(i: int, o: int, p: dict) -> nn.Module:
    from torch_geometric.nn import GCNConv
    return GCNConv(i, o, normalize=p["normalize"])


def _gin(i: int, o: int, p: dict) -> nn.Module:
    from torch_geometric.nn import GINConv
    return GINConv(nn.Linear(i, o))


def _cheb(i: int, o: int, p: dict) -> nn.Module:
    from torch_geometric.nn import ChebConv
    return ChebConv(i, o, K=p["k"])


def _sage(i: int, o: int, p: dict) -> nn.Module:
    from torch_geometric.nn import SAGEConv
    return SAGEConv(i, o)


def _arma(i: int, o: int, p: dict) -> nn.Module:
    from torch_geometric.nn import ARMAConv
    conv = ARMAConv(i, o)
    conv.register_parameter("weight", None)  # the recurrent weight of layers 2+, never read at one layer
    return conv


def _graph_conv(i: int, o: int, p: dict) -> nn.Module:
    from torch_geometric.nn import GraphConv
    return GraphConv(i, o)


# name -> (builder, extra params, (params, macs) per graph node from (in, out, params), doc)
_LAYERS: dict[str, tuple[Callable, dict[str, Param], Callable[[int, int, dict], tuple[int, int]], str]] = {
    "gat": (_gat, {}, lambda i, o, p: (i * o + 3 * o, i * o),
            f"GATConv, {GAT_HEADS} heads of channels/{GAT_HEADS} features, concatenated."),
    "gcn": (_gcn, {"normalize": Param("bool", True)}, lambda i, o, p: (i * o + o, i * o),
            "GCNConv (self-loops and symmetric normalisation unless normalize=False)."),
    "gin": (_gin, {}, lambda i, o, p: (i * o + o, i * o), "GINConv over Linear(in, channels), ε = 0."),
    "cheb": (_cheb, {"k": Param("int", 2, low=1)}, lambda i, o, p: (p["k"] * i * o + o, p["k"] * i * o),
             "ChebConv of order k (K=2 in NAS-Bench-Graph)."),
    "sage": (_sage, {}, lambda i, o, p: (2 * i * o + o, 2 * i * o), "SAGEConv, mean aggregation."),
    # ARMAConv allocates its unused channels² weight before we drop it: channels bounded so it stays <= 1 GiB
    "arma": (_arma, {"channels": Param("int", low=1, high=2**14)}, lambda i, o, p: (2 * i * o + o, 2 * i * o),
             "ARMAConv, 1 stack, 1 layer, ReLU (without the unused weight of layers 2+); channels <= 16,384."),
    "graph_conv": (_graph_conv, {}, lambda i, o, p: (2 * i * o + o, 2 * i * o), "GraphConv (k-GNN), sum aggregation."),
}


def _register_layer(name: str, make: Callable, extra: dict[str, Param], count: Callable, doc: str) -> None:
    def cost(s: Sequence[Shape], o: Shape, p: dict) -> Cost:
        params, macs = count(s[0][0], o[0], p)
        return Cost(params, macs)

    register(OpSpec(
        name, arity=(1, 2), ordered=True,
        params={"channels": Param("int", low=1), **extra, "edges": Param("bool", True)},
        shape=_graph_shape(name), cost=cost,
        build=lambda s, o, p: GraphLayer(make(s[0][0], o[0], p), p["edges"]), doc=doc,
    ))


for _name, (_make, _extra, _count, _doc) in _LAYERS.items():
    _register_layer(_name, _make, _extra, _count, _doc)

register(OpSpec(
    "gnn_linear", arity=(1, 2), ordered=True, params={"channels": Param("int", low=1), "edges": Param("bool", True)},
    shape=_graph_shape("gnn_linear"), cost=lambda s, o, p: linear_cost(s[0][0], o[0]),
    build=lambda s, o, p: LinearConv(s[0][0], o[0]),
    doc="NAS-Bench-Graph's `fc` (LinearConv): Linear(in, channels) on node features; the edge list is ignored.",
))

# -- feature ops ---------------------------------------------------------------

_P = Param("float", 0.0, low=0.0, high=1.0)

register(OpSpec(
    "gnn_dropout", params={"p": _P}, shape=lambda s, p: (features("gnn_dropout", s[0]),),
    cost=lambda s, o, p: Cost(), build=lambda s, o, p: nn.Dropout(p["p"]),
    doc="Dropout on node features (active in training mode only).",
))
register(OpSpec(
    "gnn_bn_relu_dropout", params={"p": _P}, shape=lambda s, p: (features("gnn_bn_relu_dropout", s[0]),),
    cost=lambda s, o, p: batch_norm_cost(o[0]),
    build=lambda s, o, p: nn.Sequential(nn.BatchNorm1d(o[0]), nn.ReLU(), nn.Dropout(p["p"])),
    doc="BatchNorm1d -> ReLU -> dropout on node features (statistics over the graph's nodes).",
))
register(OpSpec(
    "gnn_relu_linear", params={"features": Param("int", low=1)},
    shape=lambda s, p: features("gnn_relu_linear", s[0]) and (p["features"],),
    cost=lambda s, o, p: linear_cost(s[0][0], p["features"]),
    build=lambda s, o, p: nn.Sequential(nn.ReLU(), nn.Linear(s[0][0], p["features"])),
    doc="ReLU -> Linear(in, features) on node features.",
))
