"""NAS-Bench-Graph (docs/papers.md §13): keys agree with the package for every table row, the benchmark's networks and
parameter counts, GNN ops on real edge lists, supernet and derive."""

import random
import sys

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from nas_bench_graph import Arch, light_read
from nas_bench_graph.architecture import gnn_list, gnn_list_proteins
from torch.utils.flop_counter import FlopCounterMode

import ops
import wiring
from ops import OpError
from spaces import Constraint, SpaceError, nasbench_graph
from spaces.nasbench_graph import DATASETS, OPS, PROTEINS_OPS, SMALL, GraphArch, example_inputs

LAYERS = ["gat", "gcn", "gin", "cheb", "sage", "arma", "graph_conv", "gnn_linear"]


@pytest.fixture(scope="module")
def cora():
    return nasbench_graph.space()


@pytest.fixture(scope="module")
def small():
    return nasbench_graph.space(**SMALL)


def test_ops_are_the_packages():
    assert OPS == tuple(gnn_list) and PROTEINS_OPS == tuple(gnn_list_proteins)


@pytest.mark.parametrize("dataset,size", [("cora", 26_206), ("proteins", 2_021)])
def test_enumeration_is_exactly_the_table_and_keys_agree_with_the_package(dataset, size):
    s = nasbench_graph.space(dataset=dataset)
    archs = list(s.enumerate())
    assert s.size() == size == len(set(archs))
    keys = [s.key(a) for a in archs]
    assert set(keys) == set(light_read(dataset)) and len(set(keys)) == size
    assert all(k == Arch(list(a.link), list(a.ops)).valid_hash() for k, a in zip(keys[::50], archs[::50]))
    assert all(s.canonical(a) == a for a in archs[::50])


def raw_pairs(op_names=OPS):
    link = st.tuples(st.just(0), st.integers(0, 1), st.integers(0, 2), st.integers(0, 3))
    ops_ = st.tuples(*[st.sampled_from(op_names)] * 4).filter(lambda o: set(o) != {"skip"})
    return st.tuples(link, ops_)


@given(raw_pairs())
def test_every_pair_maps_to_a_member_with_the_packages_key(pair):
    s = nasbench_graph.space()
    member = s.canonical(pair)
    assert member in set(s.enumerate())
    assert s.key(pair) == s.key(member) == Arch(list(pair[0]), list(pair[1])).valid_hash()
    assert s.decode(s.encode(pair)) == member == s.from_decisions(s.to_decisions(pair))


def test_equivalent_pairs_are_one_member(cora):
    # gcn -> gin -> fc and gcn -> cheb, with the nodes listed in two orders.
    a = cora.canonical(([0, 1, 2, 1], ["gcn", "gin", "fc", "cheb"]))
    b = cora.canonical(([0, 1, 1, 3], ["gcn", "cheb", "gin", "fc"]))
    assert a == b == ((0, 1, 1, 2), ("gcn", "gin", "cheb", "fc")) and isinstance(a, GraphArch)
    assert cora.key(a) == Arch([0, 1, 2, 1], ["gcn", "gin", "fc", "cheb"]).valid_hash()
    assert wiring.graph_hash(cora.to_graph(a)) == wiring.graph_hash(cora.to_graph(([0, 1, 1, 3],
                                                                                 ["gcn", "cheb", "gin", "fc"])))
    assert cora.query(a) == light_read("cora")[cora.key(a)]
    # The package README's second spelling ([0, 1, 1, 2], gcn, cheb, gin, fc) is another network: gcn -> cheb -> fc.
    assert cora.canonical(([0, 1, 1, 2], ["gcn", "cheb", "gin", "fc"])) != a


def test_encoding_format(cora):
    arch = GraphArch((0, 1, 2, 3), ("gcn", "gat", "sage", "fc"))
    assert cora.canonical(arch) == arch
    assert cora.encode(arch) == "link=0,1,2,3|ops=gcn,gat,sage,fc"
    assert cora.decode("link=0,1,2,3|ops=gcn,gat,sage,fc") == arch
    assert [d.name for d in cora.decisions()] == ["node2.input", "node3.input", "node4.input",
                                                  "node1.op", "node2.op", "node3.op", "node4.op"]
    assert cora.to_decisions(arch) == [1, 2, 3, 1, 0, 4, 7]


@pytest.mark.parametrize("text,token", [
    ("link=0,1,2,3", "expected 'link="),
    ("link=0,1,x,3|ops=gcn,gat,sage,fc", "'x'"),
    ("link=0,1,2,3|ops=gcn,gatt,sage,fc", "'gatt'"),
    ("link=0,1,2,4|ops=gcn,gat,sage,fc", "link[3]"),
    ("link=0,1,2|ops=gcn,gat,sage,fc", "link must list 4"),
    ("link=0,1,2,3|ops=gcn,gat,sage", "ops must name 4"),
    ("link=0,0,0,0|ops=skip,skip,skip,skip", "all-'skip'"),
])
def test_decode_errors_name_the_bad_token(cora, text, token):
    with pytest.raises(SpaceError) as info:
        cora.decode(text)
    assert token in str(info.value)


def test_proteins_has_its_five_ops_only():
    s = nasbench_graph.space(dataset="proteins")
    with pytest.raises(SpaceError, match="'gat'"):
        s.canonical(((0, 1, 2, 3), ("gat", "gcn", "gcn", "gcn")))
    assert {op for a in s.enumerate() for op in a.ops} == set(PROTEINS_OPS)


@pytest.mark.parametrize("options,text", [
    ({"dataset": "karate"}, "dataset='karate'"),
    ({"dataset": ["cora"]}, "dataset=['cora']"),
    ({"hidden": 6}, "hidden=6"),
    ({"hidden": 0}, "hidden=0"),
    ({"num_features": 2.5}, "num_features=2.5"),
    ({"num_classes": True}, "num_classes=True"),
    ({"dropout": 1.0}, "dropout=1.0"),
    ({"dropout": "0.5"}, "dropout='0.5'"),
])
def test_bad_options_name_option_and_value(options, text):
    with pytest.raises(SpaceError) as info:
        nasbench_graph.space(**options)
    assert text in str(info.value)


def test_missing_package_is_a_space_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "nas_bench_graph", None)
    with pytest.raises(SpaceError, match=r"nas-wiring\[nasbench\]"):
        nasbench_graph.space()


@pytest.mark.parametrize("dataset", [d for d in DATASETS if d != "physics"])
def test_parameter_counts_reproduce_the_tables(dataset):
    """The tables' ``para`` = this network's parameters + those the benchmark's model holds unused.

    (physics: 1,567 of its 26,206 rows fit no model setting, so it is left out.)
    """
    s, table = nasbench_graph.space(dataset=dataset), light_read(dataset)
    for arch in random.Random(0).sample(list(s.enumerate()), 40):
        params = wiring.cost(s.to_graph(arch)).params + s.unused_params(arch)
        assert params == round(table[s.key(arch)]["para"] * 1e6), (dataset, arch)


def test_network_follows_the_benchmarks_model(cora):
    # node1 reads the raw features: no BN before it; the others get BN-ReLU-dropout; skip passes that on.
    arch = GraphArch((0, 1, 1, 2), ("gcn", "fc", "skip", "gat"))
    assert cora.canonical(arch) == arch
    G = cora.to_graph(arch)
    assert G.nodes["dropout"]["params"] == {"p": 0.7} and "pre" not in G and "prep1" not in G
    assert [G.nodes[n]["op"] for n in ("node1", "node2", "node3", "node4")] == ["gcn", "gnn_linear", "identity",
                                                                             "gat"]
    assert {u: G.edges[u, "node1"]["slot"] for u in G.predecessors("node1")} == {"dropout": 0, "edges": 1}
    assert [list(G.predecessors(n)) for n in ("prep2", "prep3", "prep4")] == [["node1"], ["node1"], ["node2"]]
    assert list(G.predecessors("node3")) == ["prep3"]
    assert {u: G.edges[u, "concat"]["slot"] for u in G.predecessors("concat")} == {"node3": 0, "node4": 1}
    assert G.nodes["classifier"]["params"] == {"features": 256} and G.nodes["post"]["params"] == {"features": 7}
    assert wiring.cost(G).params + cora.unused_params(arch) == round(cora.query(arch)["para"] * 1e6)
    # A skip after a computed node is the canonical skip-first form (the package treats skip as identity).
    assert cora.canonical(((0, 1, 2, 1), ("gcn", "skip", "gat", "fc"))) == ((0, 1, 2, 2), ("skip", "gcn", "gat",
                                                                                         "fc"))


def test_compiled_networks_run_and_cost_matches_the_module(small):
    rng = random.Random(0)
    for _ in range(3):
        G = small.to_graph(small.sample(rng))
        model = wiring.compile(G, seed=0).eval()
        x, edges = example_inputs(G, nodes=7, edges=20)
        cost = wiring.cost(G)
        assert cost.params == sum(p.numel() for p in model.parameters())
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            out = model(x, edges)
        assert out.shape == (7, small.num_classes) and torch.isfinite(out).all()
        assert 2 * 7 * cost.macs == counter.get_total_flops()  # macs are per graph node, whatever the edges


@pytest.mark.parametrize("op", LAYERS)
def test_graph_layers_on_edge_lists(op):
    spec = ops.get(op)
    p = spec.resolve({"channels": 8})
    out = spec.shape([(5,), (2,)], p)
    layer = spec.build([(5,), (2,)], out, p).eval()
    x, edges = torch.randn(6, 5), torch.tensor([[0, 1], [1, 2], [2, 0], [2, 3], [3, 4], [4, 5]])
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        y = layer(x, edges)
    assert y.shape == (6, *out)
    cost = spec.cost([(5,), (2,)], out, p)
    assert cost.params == sum(t.numel() for t in layer.parameters())
    assert 2 * 6 * cost.macs == counter.get_total_flops()
    with torch.no_grad():
        moved = x.clone()
        moved[5] += 1.0  # messages run source -> target (2 -> 3 -> 4 -> 5): node 4 never hears from node 5
        assert torch.allclose(layer(moved, edges)[4], y[4])
        if op != "gnn_linear":
            moved = x.clone()
            moved[3] += 1.0
            assert not torch.allclose(layer(moved, edges)[4], y[4])


@pytest.mark.parametrize("params,shapes,text", [
    ({"channels": 8}, [(5,)], "slot 1"),
    ({"channels": 8, "edges": False}, [(5,), (2,)], "edges=False takes node features alone"),
    ({"channels": 8}, [(5,), (3,)], "shape (2,) per edge"),
    ({"channels": 8}, [(5, 4, 4), (2,)], "node features (F,)"),
    ({"channels": 6}, [(5,), (2,)], "multiple of its 4 heads"),
])
def test_graph_layer_shape_errors(params, shapes, text):
    spec = ops.get("gat")
    with pytest.raises(OpError) as info:
        spec.shape(shapes, spec.resolve(params))
    assert text in str(info.value)


def test_graph_layers_refuse_pyg_shaped_edge_index():
    spec = ops.get("gcn")
    p = spec.resolve({"channels": 4})
    layer = spec.build([(3,), (2,)], (4,), p)
    with pytest.raises(OpError, match=r"\(E, 2\) tensor \(edge_index.t\(\)\), got shape \(2, 5\)"):
        layer(torch.randn(4, 3), torch.randint(0, 4, (2, 5)))


def test_forgotten_edge_input_is_a_graph_error(small):
    G = small.to_graph(small.canonical(((0, 1, 2, 3), ("gcn", "gcn", "gcn", "gcn"))))
    G.remove_edge("edges", "node2")
    with pytest.raises(wiring.GraphError, match="node 'node2'.*slot 1"):
        wiring.validate(G)


def test_constraint_filters_by_static_cost(small):
    limit = wiring.cost(small.to_graph(small.canonical(((0, 1, 2, 3), ("fc", "fc", "fc", "fc"))))).params
    s = nasbench_graph.space(**SMALL, constraint=Constraint(max_params=limit))
    rng = random.Random(0)
    for _ in range(3):
        arch = s.sample(rng)
        assert wiring.cost(s.to_graph(arch)).params <= limit


def test_mutation_and_crossover_give_members(cora):
    rng, members = random.Random(0), set(cora.enumerate())
    a, b = cora.sample(rng), cora.sample(rng)
    for _ in range(5):
        child = cora.mutate(a, rng)
        assert child in members and child != a
        assert sum(x != y for x, y in zip(cora.to_decisions(child), cora.to_decisions(a))) >= 1
        assert cora.crossover(a, b, rng) in members


def test_supernet_alphas_and_derive(small):
    G = small.supernet()
    model = wiring.compile(G, seed=0).eval()
    shapes = {name.split(".")[-1]: tuple(p.shape) for name, p in model.named_parameters() if ".alphas." in
              f".{name}"}
    assert shapes == {"link2": (1, 2), "link3": (1, 3), "link4": (1, 4), "ops": (4, 9)}
    x, edges = example_inputs(G)
    with torch.no_grad():
        assert model(x, edges).shape == (6, small.num_classes)
    alphas = dict(model.named_parameters())
    skip = OPS.index("skip")
    with torch.no_grad():
        for key in ("link2", "link3", "link4"):
            alphas[f"alphas.{key}"].zero_()
            alphas[f"alphas.{key}"][0, -1] = 1.0  # each node reads the one before
        alphas["alphas.ops"].zero_()
        alphas["alphas.ops"][:, OPS.index("sage")] = 1.0
        alphas["alphas.ops"][1, OPS.index("gin")] = 2.0
    assert small.derive(model) == GraphArch((0, 1, 2, 3), ("sage", "gin", "sage", "sage"))
    with torch.no_grad():
        alphas["alphas.ops"].zero_()
        alphas["alphas.ops"][:, skip] = 5.0
        alphas["alphas.ops"][2, OPS.index("cheb")] = 1.0  # all skip: the strongest other op takes its node
    assert small.derive(model) == small.canonical(((0, 1, 2, 3), ("skip", "skip", "cheb", "skip")))
    with pytest.raises(SpaceError, match="alphas.ops"):
        small.derive(wiring.compile(small.to_graph(small.sample(random.Random(0)))))
