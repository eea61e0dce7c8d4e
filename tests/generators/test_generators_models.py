"""Each generator against fixed pins and against independent references."""

import itertools
import statistics

import networkx as nx
import pytest

import generators


def oriented(graph: nx.Graph) -> list[tuple[int, int]]:
    """The edges of an undirected graph on 0..n-1, each as (low, high), sorted."""
    return sorted((min(u, v), max(u, v)) for u, v in graph.edges())


# Obtained by running each generator once (regression pins).
PINS = [
    (generators.erdos_renyi, (8, 0.3), [
        (0, 2), (0, 3), (0, 4), (1, 2), (1, 4), (1, 5), (1, 7), (2, 3), (2, 6),
        (3, 5), (4, 6), (5, 7), (6, 7),
    ]),
    (generators.barabasi_albert, (8, 2), [
        (0, 2), (0, 3), (0, 7), (1, 2), (1, 4), (1, 5), (1, 7), (2, 3), (2, 4),
        (2, 6), (4, 5), (4, 6),
    ]),
    (generators.watts_strogatz, (8, 4, 0.75), [
        (0, 3), (0, 4), (0, 5), (1, 2), (1, 4), (1, 5), (1, 6), (1, 7), (2, 6),
        (2, 7), (3, 4), (3, 5), (3, 6), (3, 7), (4, 5), (6, 7),
    ]),
    (generators.ws_flex, (8, 3.5, 0.5), [
        (0, 1), (0, 4), (0, 7), (1, 3), (1, 4), (1, 6), (1, 7), (2, 3), (2, 4),
        (3, 6), (4, 5), (5, 6), (5, 7), (6, 7),
    ]),
]


@pytest.mark.parametrize(
    ("generator", "args", "edges"), PINS, ids=[pin[0].__name__ for pin in PINS]
)
def test_fixed_seed_pin(generator, args, edges):
    assert list(generator(*args, seed=42).edges()) == edges


# -- Erdős–Rényi and Watts–Strogatz: exactly networkx's edges -----------------


@pytest.mark.parametrize("n", [1, 2, 5, 16, 32])
@pytest.mark.parametrize("p", [0.0, 0.1, 0.2, 0.5, 1.0])
def test_erdos_renyi_equals_networkx(n, p):
    for seed in range(10):
        G = generators.erdos_renyi(n, p, seed=seed)
        assert list(G.edges()) == oriented(nx.gnp_random_graph(n, p, seed=seed))


@pytest.mark.parametrize(("n", "k"), [(3, 2), (8, 2), (8, 4), (9, 8), (16, 6), (32, 4), (33, 10)])
@pytest.mark.parametrize("p", [0.0, 0.25, 0.75, 1.0])
def test_watts_strogatz_equals_networkx(n, k, p):
    for seed in range(10):
        G = generators.watts_strogatz(n, k, p, seed=seed)
        assert list(G.edges()) == oriented(nx.watts_strogatz_graph(n, k, p, seed=seed))
        assert G.number_of_edges() == n * k // 2


def test_watts_strogatz_saturated_ring_is_complete():
    # k = n - 1: every rewiring is skipped, the graph stays complete.
    G = generators.watts_strogatz(7, 6, 1.0, seed=0)
    assert G.number_of_edges() == 7 * 6 // 2


# -- Barabási–Albert: the paper's model ---------------------------------------


@pytest.mark.parametrize(("n", "m"), [(2, 1), (8, 2), (12, 1), (32, 5), (40, 39), (64, 7)])
def test_barabasi_albert_structure(n, m):
    for seed in range(20):
        G = generators.barabasi_albert(n, m, seed=seed)
        assert G.number_of_edges() == m * (n - m)
        assert set(G.predecessors(m)) == set(range(m))
        assert all(G.in_degree(v) == m for v in range(m, n))
        assert [v for v in G if G.in_degree(v) == 0] == list(range(m))


def test_barabasi_albert_attaches_preferentially():
    # Paper setting. With uniform (not preferential) attachment the mean
    # maximum degree is about 15 and node m's mean degree about 14.
    n, m = 32, 5
    degrees = [dict(generators.barabasi_albert(n, m, seed=s).degree()) for s in range(30)]
    assert statistics.mean(max(d.values()) for d in degrees) > 18
    assert statistics.mean(d[m] for d in degrees) > 16


def test_barabasi_albert_equals_networkx_2_5():
    # networkx 2.5's barabasi_albert_graph(12, 3, seed=3), a case where its set
    # order differs from sorted order.
    expected = [
        (0, 3), (0, 6), (0, 10), (1, 3), (1, 4), (1, 5), (1, 7), (1, 8), (1, 9),
        (1, 11), (2, 3), (2, 4), (2, 5), (2, 7), (2, 11), (3, 4), (3, 6), (3, 10),
        (3, 11), (4, 5), (4, 9), (4, 10), (5, 6), (5, 7), (5, 8), (6, 8), (8, 9),
    ]
    assert list(generators.barabasi_albert(12, 3, seed=3).edges()) == expected


def test_networkx_star_start_is_not_used():
    # networkx >= 2.6 starts from a star, leaving a single source once oriented.
    for seed in range(10):
        G = generators.barabasi_albert(32, 5, seed=seed)
        star = generators.orient(nx.barabasi_albert_graph(32, 5, seed=seed))
        assert sum(d == 0 for _, d in star.in_degree()) == 1
        assert sum(d == 0 for _, d in G.in_degree()) == 5


# -- WS-flex ------------------------------------------------------------------


def clockwise(n: int, k: float) -> list[tuple[int, int]]:
    """The WS-flex ring before rewiring, written from docs/papers.md §1."""
    edges = round(k * n / 2)
    reach = [edges // n + (i < edges % n) for i in range(n)]
    ring = {(i, (i + d) % n) for i in range(n) for d in range(1, reach[i] + 1)}
    return sorted((min(e), max(e)) for e in ring)


FLEX = [
    (n, k)
    for n in (3, 4, 5, 8, 13, 32)
    for k in (2, 2.5, 3, 3.7, 4, 5.25, 6, n - 1.5, n - 1)
    if 2 <= k <= n - 1
]


@pytest.mark.parametrize(("n", "k"), FLEX)
def test_ws_flex_edge_count(n, k):
    for p, seed in itertools.product([0.0, 0.3, 0.75, 1.0], range(5)):
        assert generators.ws_flex(n, k, p, seed=seed).number_of_edges() == round(k * n / 2)


@pytest.mark.parametrize(("n", "k"), FLEX)
def test_ws_flex_without_rewiring_is_the_clockwise_ring(n, k):
    assert list(generators.ws_flex(n, k, 0.0, seed=0).edges()) == clockwise(n, k)


@pytest.mark.parametrize(("n", "k"), [(5, 2), (5, 4), (8, 4), (16, 6), (32, 4)])
def test_ws_flex_even_integer_degree_is_the_ring_lattice(n, k):
    lattice = nx.watts_strogatz_graph(n, k, 0.0)
    assert list(generators.ws_flex(n, k, 0.0).edges()) == oriented(lattice)


@pytest.mark.parametrize("n", [3, 4, 9, 32])
@pytest.mark.parametrize("p", [0.25, 0.75, 1.0])
def test_ws_flex_degree_two_equals_watts_strogatz(n, p):
    # One clockwise edge per node: both models rewire in the same order.
    for seed in range(10):
        assert list(generators.ws_flex(n, 2, p, seed=seed).edges()) == list(
            generators.watts_strogatz(n, 2, p, seed=seed).edges()
        )


@pytest.mark.parametrize("n", [4, 5, 8])
def test_ws_flex_largest_degree_is_complete(n):
    G = generators.ws_flex(n, n - 1, 1.0, seed=0)
    assert G.number_of_edges() == n * (n - 1) // 2
