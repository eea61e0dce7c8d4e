"""The random graph models of RandWire and graph2nn, as topology DAGs.

Each generator returns a ``networkx.DiGraph`` with nodes ``0..n-1`` and every
edge ``u->v`` with ``u < v`` (:func:`generators.orient` of the undirected
graph), and records its provenance in ``G.graph["generator"]``:
``{"name": ..., "params": {...}, "seed": int or None}``.
"""

import random
from collections.abc import Iterable

import networkx as nx

from generators._errors import GeneratorError
from generators._seed import resolve_seed
from generators._validate import integer, node_count, probability, real

Seed = int | random.Random | None


def erdos_renyi(n: int, p: float, *, seed: Seed = None) -> nx.DiGraph:
    """Return an Erdős–Rényi G(n, p) graph as a DAG.

    Parameters
    ----------
    n : int
        Number of nodes, ``n >= 1``.
    p : float
        Probability that a pair of nodes is joined, ``0 <= p <= 1``.
    seed : int, random.Random or None, keyword-only
        Random source (see Notes). Only an int is recorded in the provenance.

    Returns
    -------
    networkx.DiGraph
        Nodes ``0..n-1``, edges ``u->v`` with ``u < v``, and
        ``graph["generator"] = {"name": "erdos_renyi", "params": {"n", "p"},
        "seed": ...}``.

    Raises
    ------
    GeneratorError
        If `n` is not an int ``>= 1``, `p` not a real in ``[0, 1]``, or
        `seed` of another type.

    Notes
    -----
    Runs ``networkx.gnp_random_graph`` on a ``random.Random`` built from
    `seed`, so an int seed gives exactly its edges. Isolated nodes are kept
    (about 3% of ER(0.2) graphs with n=32 have one). ``p`` of 0 or 1 draws
    no random numbers.

    References
    ----------
    .. [1] P. Erdős and A. Rényi, "On Random Graphs", Publ. Math. 6, 1959.
    .. [2] S. Xie, A. Kirillov, R. Girshick and K. He, "Exploring Randomly
       Wired Neural Networks for Image Recognition", ICCV 2019.
    """
    n = node_count(n)
    p = probability("p", p)
    rng, recorded = resolve_seed(seed)
    graph = nx.gnp_random_graph(n, p, seed=rng)
    return _as_dag(graph, "erdos_renyi", {"n": n, "p": p}, recorded)


def barabasi_albert(n: int, m: int, *, seed: Seed = None) -> nx.DiGraph:
    """Return a Barabási–Albert preferential-attachment graph as a DAG.

    Parameters
    ----------
    n : int
        Number of nodes.
    m : int
        Edges each new node attaches, ``1 <= m < n``; also the number of
        initial nodes.
    seed : int, random.Random or None, keyword-only
        Random source. Only an int is recorded in the provenance.

    Returns
    -------
    networkx.DiGraph
        Nodes ``0..n-1`` (the `m` initial nodes, then in order of arrival),
        ``m * (n - m)`` edges ``u->v`` with ``u < v``, and
        ``graph["generator"] = {"name": "barabasi_albert", "params": {"n",
        "m"}, "seed": ...}``.

    Raises
    ------
    GeneratorError
        If `n` or `m` is not an int, ``not 1 <= m < n``, or `seed` is of
        another type.

    Notes
    -----
    The paper's model, not networkx >= 2.6's (which starts from a star and so
    leaves one source after orientation instead of `m`): nodes ``0..m-1``
    start without edges, node ``m`` joins all of them, then each new node
    joins `m` distinct earlier nodes drawn with probability proportional to
    degree. A draw picks uniformly from a list holding every node once per
    incident edge, repeated until `m` distinct nodes are picked. The draws
    are those of networkx < 2.6 (the list extended in set order, and one
    unused set of targets drawn after the last node), so under CPython an int
    seed gives exactly the edges of that version's ``barabasi_albert_graph``.

    References
    ----------
    .. [1] A.-L. Barabási and R. Albert, "Emergence of scaling in random
       networks", Science 286, 1999.
    .. [2] S. Xie, A. Kirillov, R. Girshick and K. He, "Exploring Randomly
       Wired Neural Networks for Image Recognition", ICCV 2019.
    """
    n = node_count(n)
    m = integer("m", m)
    if not 1 <= m < n:
        raise GeneratorError(f"m must satisfy 1 <= m < n, got m={m}, n={n}")
    rng, recorded = resolve_seed(seed)
    graph = nx.empty_graph(n)
    ends: list[int] = []  # each node once per incident edge
    targets: Iterable[int] = range(m)
    for source in range(m, n):
        graph.add_edges_from((source, target) for target in targets)
        ends.extend(targets)
        ends.extend([source] * m)
        targets = set()
        while len(targets) < m:
            targets.add(rng.choice(ends))
    return _as_dag(graph, "barabasi_albert", {"n": n, "m": m}, recorded)


def watts_strogatz(n: int, k: int, p: float, *, seed: Seed = None) -> nx.DiGraph:
    """Return a Watts–Strogatz small-world graph as a DAG.

    Parameters
    ----------
    n : int
        Number of nodes.
    k : int
        Ring degree: each node joins its ``k/2`` nearest neighbours on each
        side. Even, ``0 < k < n``.
    p : float
        Probability of rewiring each ring edge, ``0 <= p <= 1``.
    seed : int, random.Random or None, keyword-only
        Random source. Only an int is recorded in the provenance.

    Returns
    -------
    networkx.DiGraph
        Nodes ``0..n-1`` in ring (clockwise) order, ``n * k / 2`` edges
        ``u->v`` with ``u < v``, and ``graph["generator"] = {"name":
        "watts_strogatz", "params": {"n", "k", "p"}, "seed": ...}``.

    Raises
    ------
    GeneratorError
        If `n` or `k` is not an int, `k` is odd or ``not 0 < k < n``, `p` is
        not a real in ``[0, 1]``, or `seed` is of another type.

    Notes
    -----
    Runs ``networkx.watts_strogatz_graph`` on a ``random.Random`` built from
    `seed`, so an int seed gives exactly its edges: for i = 1..k/2 (outer
    loop) and every node u (inner loop), the edge from u to its i-th
    clockwise neighbour is rewired with probability `p` to a uniform node that
    is neither u nor a neighbour of u (skipped if u neighbours every node).
    No retry for connectivity. Unlike networkx, an odd `k` is rejected rather
    than rounded down, and ``k >= n`` rather than answered with a complete
    graph: the model needs an even ring degree below `n`.

    References
    ----------
    .. [1] D. J. Watts and S. H. Strogatz, "Collective dynamics of
       'small-world' networks", Nature 393, 1998.
    .. [2] S. Xie, A. Kirillov, R. Girshick and K. He, "Exploring Randomly
       Wired Neural Networks for Image Recognition", ICCV 2019.
    """
    n = node_count(n)
    k = integer("k", k)
    if k % 2 or not 0 < k < n:
        raise GeneratorError(f"k must be even and satisfy 0 < k < n, got k={k}, n={n}")
    p = probability("p", p)
    rng, recorded = resolve_seed(seed)
    graph = nx.watts_strogatz_graph(n, k, p, seed=rng)
    return _as_dag(graph, "watts_strogatz", {"n": n, "k": k, "p": p}, recorded)


def ws_flex(n: int, k: float, p: float, *, seed: Seed = None) -> nx.DiGraph:
    """Return a WS-flex graph (graph2nn) as a DAG.

    Parameters
    ----------
    n : int
        Number of nodes.
    k : float
        Average degree, any real with ``2 <= k <= n - 1``.
    p : float
        Probability of rewiring each ring edge, ``0 <= p <= 1``.
    seed : int, random.Random or None, keyword-only
        Random source. Only an int is recorded in the provenance.

    Returns
    -------
    networkx.DiGraph
        Nodes ``0..n-1`` in ring (clockwise) order, ``round(k * n / 2)``
        edges ``u->v`` with ``u < v``, and ``graph["generator"] = {"name":
        "ws_flex", "params": {"n", "k", "p"}, "seed": ...}``.

    Raises
    ------
    GeneratorError
        If `n` is not an int, `k` not a finite real with
        ``2 <= k <= n - 1``, `p` not a real in ``[0, 1]``, or `seed` of
        another type.

    Notes
    -----
    With ``E = round(k * n / 2)`` (Python's round: halves to even, as in
    graph2nn), node i joins its next ``c_i`` clockwise nodes, where ``c_i =
    E // n + 1`` for the first ``E % n`` nodes and ``E // n`` for the rest.
    Then node by node, each of those clockwise edges is rewired with
    probability `p` as in :func:`watts_strogatz` (uniform new end, no
    self-loop, no duplicate, skipped when the node neighbours every node).
    Random numbers are drawn in the order of graph2nn's ``ws_graph``, so one
    ``random.Random`` state gives its graph. With even integer `k` and
    ``p = 0`` this is the Watts–Strogatz ring lattice; with ``k = 2`` it equals
    :func:`watts_strogatz` for every `p`.

    graph2nn allows ``k <= n``; here ``k <= n - 1``, the largest average
    degree of a simple graph: above it the clockwise edges overlap and the
    graph silently has fewer than ``E`` edges.

    References
    ----------
    .. [1] J. You, J. Leskovec, K. He and S. Xie, "Graph Structure of Neural
       Networks", ICML 2020.
    """
    n = node_count(n)
    k = real("k", k)
    if not 2 <= k <= n - 1:
        raise GeneratorError(f"k must satisfy 2 <= k <= n - 1, got k={k}, n={n}")
    p = probability("p", p)
    rng, recorded = resolve_seed(seed)
    base, extra = divmod(round(k * n / 2), n)
    reach = [base + 1 if node < extra else base for node in range(n)]
    graph = nx.empty_graph(n)
    ring = [(u, (u + step) % n) for u in range(n) for step in range(1, reach[u] + 1)]
    graph.add_edges_from(ring)
    for u, v in ring:
        if rng.random() < p:
            _rewire(graph, u, v, rng)
    return _as_dag(graph, "ws_flex", {"n": n, "k": k, "p": p}, recorded)


def _rewire(graph: nx.Graph, u: int, v: int, rng: random.Random) -> None:
    """Replace edge u-v by u-w, w uniform among non-neighbours of u.

    Skipped when u neighbours every node. The draws follow networkx's
    ``watts_strogatz_graph`` (a saturated u is noticed after a second draw).
    """
    nodes = range(len(graph))
    w = rng.choice(nodes)
    while w == u or graph.has_edge(u, w):
        w = rng.choice(nodes)
        if graph.degree(u) >= len(graph) - 1:
            return
    graph.remove_edge(u, v)
    graph.add_edge(u, w)


def _as_dag(graph: nx.Graph, name: str, params: dict, seed: int | None) -> nx.DiGraph:
    """Orient a generated graph on nodes 0..n-1 (low -> high), recording its provenance.

    The same result as :func:`orient` for a generator's plain output, built
    directly because it sits on the hot path of every RandWire stage.
    """
    dag = nx.DiGraph(generator={"name": name, "params": params, "seed": seed})
    dag.add_nodes_from(range(len(graph)))
    dag.add_edges_from((u, v) for u in range(len(graph)) for v in sorted(graph.adj[u]) if u < v)
    return dag
