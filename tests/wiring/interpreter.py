"""A reference interpreter for typed DAGs: ``compiled(x) == interpret(G, compiled, x)``.

It borrows the compiled module's submodules (so both use the same weights) but
nothing of its generated code: it walks ``G`` itself, in topological order, on
every call, orders each node's inputs by edge ``slot`` and then by the stable
topological index (the schema's documented rule), and calls the op's function
or the borrowed module, with the α row for ``choice``/``select`` nodes and a
recursive walk into ``subgraph`` nodes.
"""

from __future__ import annotations

from collections.abc import Hashable

import networkx as nx
import torch

import ops
from wiring.analysis import stable_order


def interpret(G: nx.DiGraph, model: torch.nn.Module, *inputs: torch.Tensor, scope: str = "_",
              root: torch.nn.Module | None = None):
    """Evaluate ``G`` on ``inputs`` (in input-index order) with the weights of ``model = wiring.compile(G)``.

    ``root`` is the top-level compiled model when ``model`` is a nested subgraph's module (it holds the α).

    ``scope`` prefixes the private α key of an unkeyed relaxed node (``_n3``;
    ``_n2_n3`` inside the subgraph node ``n2``).
    """
    order = stable_order(G)
    position = {label: i for i, label in enumerate(order)}
    name_of = {label: f"n{i}" for i, label in enumerate(order)}
    borrowed = {label: name for name, label in model.node_names.items()}
    assert all(borrowed[label] == name_of[label] for label in borrowed), "submodules must be named n<stable index>"
    values: dict[Hashable, torch.Tensor] = {}
    for label in nx.topological_sort(G):
        data = G.nodes[label]
        spec = ops.get(data["op"])
        params = spec.resolve(data.get("params"))
        preds = sorted(G.predecessors(label),
                       key=lambda p: (G.edges[p, label].get("slot") or 0, position[p]))
        xs = [values[p] for p in preds]
        if spec.name == "input":
            values[label] = inputs[params["index"]]
        elif spec.name == "output":
            return xs[0] if len(xs) == 1 else tuple(xs)
        elif spec.name == "subgraph":
            values[label] = interpret(params["graph"], getattr(model, name_of[label]), *xs,
                                      scope=f"{scope}{name_of[label]}_", root=root if root is not None else model)
        elif spec.name in ("choice", "select"):
            key = params["key"] if params["key"] is not None else f"{scope}{name_of[label]}"
            alpha = (root if root is not None else model).get_parameter(f"alphas.{key}")[params["index"]]
            module = getattr(model, name_of[label])
            values[label] = module(xs[0], alpha) if spec.name == "choice" else module(*xs, alpha)
        elif spec.function is not None:
            values[label] = spec.function(*xs, **params)
        else:
            values[label] = getattr(model, name_of[label])(*xs)
    raise AssertionError("the graph has no output node")
