"""Turn an undirected graph into a DAG by numbering its nodes."""

from collections.abc import Hashable, Sequence

import networkx as nx

from generators._errors import GeneratorError


def orient(graph: nx.Graph, order: Sequence[Hashable] | None = None) -> nx.DiGraph:
    """Return the DAG obtained by numbering `graph`'s nodes and orienting edges.

    Node ``order[i]`` becomes node ``i``; every edge points from the lower
    index to the higher one, so the result is acyclic and ``0..n-1`` is a
    topological order (RandWire's "Graph -> DAG" rule).

    Parameters
    ----------
    graph : networkx.Graph
        The graph to orient. A ``DiGraph`` is read as undirected: edge
        directions are ignored and ``u->v`` together with ``v->u`` become one
        edge (the data of the one seen last wins).
    order : sequence of nodes, optional
        Every node of `graph` exactly once, in the order to number them.
        Default: the nodes sorted (for a generator's output, ``0..n-1``).

    Returns
    -------
    networkx.DiGraph
        Nodes ``0..n-1`` carrying the node data of `graph`, edges ``u->v``
        with ``u < v`` carrying the edge data, sorted. Graph attributes are
        copied; ``graph["generator"]`` is kept if present, else set to
        ``{"name": "orient", "params": {"order": list(order) or None},
        "seed": None}``.

    Raises
    ------
    GeneratorError
        If `graph` is not a networkx graph, is a multigraph (parallel edges
        would be merged silently), has a self-loop (it cannot point forward),
        has unsortable nodes while `order` is None, or if `order` misses a
        node, names a node not in `graph` or repeats one.

    Notes
    -----
    Node labels are replaced by indices; ``order`` maps an index back to the
    original label.

    References
    ----------
    .. [1] S. Xie, A. Kirillov, R. Girshick and K. He, "Exploring Randomly
       Wired Neural Networks for Image Recognition", ICCV 2019, section 3.2.
    """
    if not isinstance(graph, nx.Graph):
        raise GeneratorError(
            f"graph must be a networkx Graph, got graph of type {type(graph).__name__}"
        )
    if graph.is_multigraph():
        raise GeneratorError(
            f"graph must not be a multigraph, got graph of type {type(graph).__name__}"
        )
    loops = list(nx.nodes_with_selfloops(graph))
    if loops:
        raise GeneratorError(f"graph must have no self-loop, got edge ({loops[0]!r}, {loops[0]!r})")
    nodes = _numbering(graph) if order is None else _checked_order(graph, order)
    index = {node: i for i, node in enumerate(nodes)}
    dag = nx.DiGraph()
    dag.graph.update(graph.graph)
    dag.graph.setdefault(
        "generator",
        {"name": "orient", "params": {"order": None if order is None else nodes}, "seed": None},
    )
    dag.add_nodes_from((index[node], dict(graph.nodes[node])) for node in nodes)
    edges = ((*sorted((index[u], index[v])), dict(data)) for u, v, data in graph.edges(data=True))
    dag.add_edges_from(sorted(edges, key=lambda edge: edge[:2]))
    return dag


def _numbering(graph: nx.Graph) -> list[Hashable]:
    """The default order: the nodes sorted."""
    try:
        return sorted(graph.nodes)
    except TypeError as error:
        raise GeneratorError(
            f"order must be given when the nodes cannot be sorted, got order=None ({error})"
        ) from None


def _checked_order(graph: nx.Graph, order: Sequence[Hashable]) -> list[Hashable]:
    """`order` as a list, once checked to hold every node exactly once."""
    if isinstance(order, str | bytes) or not isinstance(order, Sequence):
        raise GeneratorError(
            f"order must be a sequence of nodes, got order of type {type(order).__name__}"
        )
    nodes = list(order)
    seen = set()
    for node in nodes:
        if node not in graph:
            raise GeneratorError(f"order names node {node!r}, which is not in the graph")
        if node in seen:
            raise GeneratorError(f"order repeats node {node!r}")
        seen.add(node)
    for node in graph:
        if node not in seen:
            raise GeneratorError(f"order misses node {node!r} of the graph")
    return nodes
