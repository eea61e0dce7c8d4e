"""Examples of the GNN ops (ops/gnn.py) for the shared op tests: {op: [(params, [in_shape, ...]), ...]}.

The shared tests feed random float tensors, which cannot be an edge list, so graph layers appear here with
``edges=False`` (a graph without edges); tests/spaces/test_nasbench_graph.py runs them on real edge lists.
"""

_LAYER = [({"channels": 8, "edges": False}, [(5,)]), ({"channels": 4, "edges": False}, [(12,)])]

EXAMPLES = {
    "gat": _LAYER,
    "gcn": [*_LAYER, ({"channels": 3, "normalize": False, "edges": False}, [(6,)])],
    "gin": _LAYER,
    "cheb": [*_LAYER, ({"channels": 3, "k": 3, "edges": False}, [(6,)])],
    "sage": _LAYER,
    "arma": _LAYER,
    "graph_conv": _LAYER,
    "gnn_linear": _LAYER,
    "gnn_dropout": [({}, [(5,)]), ({"p": 0.5}, [(7,)])],
    "gnn_bn_relu_dropout": [({}, [(5,)]), ({"p": 0.7}, [(7,)])],
    "gnn_relu_linear": [({"features": 3}, [(5,)])],
}
