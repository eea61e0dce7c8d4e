"""wiring.compile: generated fx code, stable names, seeding, α handling, modes, inputs/outputs, subgraphs."""

from __future__ import annotations

import copy
import re

import networkx as nx
import pytest
import torch
import torch.nn.functional as F

import ops
import wiring
from graphs import ALL, chain, multi_input, multi_output, node, small_cnn, with_choice, with_subgraph

IMAGE = (2, 3, 8, 8)


def inputs_for(name: str, batch: int = 2) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(123)
    if name == "multi_input":
        return torch.randn(batch, 3, 8, 8, generator=gen), torch.randn(batch, 6, generator=gen)
    return (torch.randn(batch, 3, 8, 8, generator=gen),)


def module_of(model, label):
    """The submodule compiled for graph node ``label``."""
    names = [name for name, lab in model.node_names.items() if lab == label]
    assert len(names) == 1
    return getattr(model, names[0])


def state(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def same_state(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# -- running and generated code ---------------------------------------------------


@pytest.mark.parametrize("name", sorted(ALL))
def test_compiled_module_runs(name):
    model = wiring.compile(ALL[name](), seed=0)
    assert isinstance(model, wiring.CompiledGraph)
    assert isinstance(model, torch.fx.GraphModule)
    out = model(*inputs_for(name))
    if name == "multi_output":
        assert [tuple(t.shape) for t in out] == [(2, 3), (2, 5)]
    else:
        assert out.shape == (2, 4 if name == "multi_input" else 3)
        assert torch.isfinite(out).all()


def test_generated_code_is_readable():
    """``model.code`` is plain Python naming the submodules ``n<i>`` and freeing intermediates."""
    model = wiring.compile(small_cnn(), seed=0)
    code = model.code
    assert "def forward(self, x)" in code
    children = [name for name, _ in model.named_children()]
    assert children and all(re.fullmatch(r"n\d+", name) for name in children)
    for name in children:
        assert f"self.{name}(" in code
    assert "= None" in code and "x = None" in code
    assert "ops_functional" in code  # parameter-free ops are direct function calls


def test_module_names_are_stable_topological_index():
    """``n<i>`` is node i of ``stable_order`` (lexicographic topological sort, ints by value, others as str)."""
    G = small_cnn()
    order = wiring.stable_order(G)
    assert order == list(nx.lexicographical_topological_sort(G, key=str))  # str labels: plain string order
    model = wiring.compile(G, seed=0)
    assert model.node_names  # not vacuous
    for name, label in model.node_names.items():
        assert order[int(name[1:])] == label
    assert set(model.node_names) == {name for name, _ in model.named_children()}
    # Only nodes with parameters or state become submodules.
    ops_of = {G.nodes[label]["op"] for label in model.node_names.values()}
    assert ops_of == {"conv_bn", "relu_conv_bn", "sep_conv", "head"}


def test_int_labels_order_by_value_past_ten_nodes():
    chain = nx.DiGraph()
    chain.add_node(0, op="input", params={"channels": 2, "size": [4, 4]})
    for i in range(1, 12):
        chain.add_node(i, op="identity")
        chain.add_edge(0, i)
    chain.add_node(12, op="sum")
    chain.add_edges_from((i, 12) for i in range(1, 12))
    chain.add_node(13, op="output")
    chain.add_edge(12, 13)
    assert wiring.stable_order(chain) == list(range(14))


def test_node_names_map_to_matching_modules():
    G = small_cnn()
    model = wiring.compile(G)
    assert isinstance(module_of(model, "stem"), ops.modules.ConvBN)
    assert isinstance(module_of(model, "down"), ops.modules.SepConv)
    assert isinstance(module_of(model, "head"), ops.modules.Head)


def test_relabelling_keeping_str_order_keeps_state_dict():
    """Labels never become module names: relabelling that keeps the str order keeps keys and (seeded) weights."""
    G = small_cnn()
    as_ints = {label: i for i, label in enumerate(sorted(G, key=str))}  # 10 nodes: ints 0..9 keep the str order
    prefixed = {label: f"layer_{label}" for label in G}
    reference = state(wiring.compile(G, seed=3))
    for mapping in (as_ints, prefixed):
        H = nx.relabel_nodes(G, mapping)
        model = wiring.compile(H, seed=3)
        assert same_state(state(model), reference)
        assert set(model.node_names.values()) == {mapping[label] for label in wiring.compile(G).node_names.values()}


def test_insertion_order_does_not_matter():
    """The same graph built with nodes and edges inserted in reverse compiles to the same seeded module."""
    G = small_cnn()
    H = nx.DiGraph()
    H.graph.update(G.graph)
    H.add_nodes_from(reversed(list(G.nodes(data=True))))
    H.add_edges_from(reversed(list(G.edges(data=True))))
    assert list(H) != list(G)
    a, b = wiring.compile(G, seed=1), wiring.compile(H, seed=1)
    assert a.code == b.code
    assert same_state(state(a), state(b))


def test_compile_does_not_mutate_graph():
    G = with_subgraph()
    before = wiring.to_json(G)
    wiring.compile(G, seed=0, mode="sigmoid")
    assert wiring.to_json(G) == before
    assert G.nodes["stem"]["params"] == {"channels": 4}  # no defaults written back


def test_invalid_graph_fails_before_torch():
    G = small_cnn()
    G.add_edge("s", "stem")
    with pytest.raises(wiring.GraphError, match="cycle"):
        wiring.compile(G)


# -- seeding ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["small_cnn", "with_shared_choice", "with_subgraph"])
def test_seed_reproducible_and_rng_untouched(name):
    """Same seed -> identical weights and α, whatever the global RNG; the caller's RNG state is untouched."""
    G = ALL[name]()
    torch.manual_seed(1)
    before = torch.get_rng_state()
    a = state(wiring.compile(G, seed=0))
    assert torch.equal(torch.get_rng_state(), before)
    torch.manual_seed(2)
    b = state(wiring.compile(G, seed=0))
    assert same_state(a, b)
    c = state(wiring.compile(G, seed=1))
    assert a.keys() == c.keys() and not same_state(a, c)


def test_unseeded_compiles_differ():
    """Without a seed, initialisation draws from the global RNG (so two compiles differ)."""
    a, b = state(wiring.compile(small_cnn())), state(wiring.compile(small_cnn()))
    assert not same_state(a, b)


@pytest.mark.parametrize("seed", ["0", 1.5, True, [0], 2**64, -2**63 - 1])
def test_bad_seed(seed):
    with pytest.raises(wiring.GraphError, match="seed") as info:
        wiring.compile(small_cnn(), seed=seed)
    assert repr(seed) in str(info.value)


@pytest.mark.parametrize("seed", [-2**63, 2**64 - 1, 0])
def test_extreme_seeds_accepted(seed):
    wiring.compile(chain("conv_bn", channels=2), seed=seed)


# -- architecture parameters ---------------------------------------------------


def _ids(params):
    return [id(p) for p in params]


@pytest.mark.parametrize("name", sorted(ALL))
def test_arch_and_weight_parameters_partition(name):
    """arch_parameters() and weight_parameters() are disjoint, each without duplicates, and cover parameters()."""
    model = wiring.compile(ALL[name]())
    arch, weights, every = _ids(model.arch_parameters()), _ids(model.weight_parameters()), _ids(model.parameters())
    assert len(set(arch)) == len(arch) and len(set(weights)) == len(weights)
    assert not set(arch) & set(weights)
    assert sorted(arch + weights) == sorted(every)
    assert weights


def test_alphas_by_key_cover_nested_subgraphs():
    model = wiring.compile(with_subgraph(key="k"))
    alphas = model.alphas_by_key()
    assert "k" in alphas and set(map(id, alphas.values())) == set(map(id, model.arch_parameters()))


def test_private_alphas():
    """Without keys each relaxed node has its own α of shape (1, width)."""
    model = wiring.compile(with_choice())
    assert sorted(tuple(a.shape) for a in model.arch_parameters()) == [(1, 3), (1, 4), (1, 4)]


def test_shared_alpha_rows():
    """Choices sharing ``key`` use rows of one α of shape (rows, width)."""
    model = wiring.compile(with_choice(key="k"))
    shapes = {name: tuple(p.shape) for name, p in model.named_parameters() if name.startswith("alphas.")}
    assert shapes == {"alphas.k": (2, 4), "alphas._" + _name_of(model, "sel"): (1, 3)}
    assert "alphas.k" in model.state_dict()


def _name_of(model, label):
    return next(name for name, lab in model.node_names.items() if lab == label)


def test_alpha_shared_across_subgraph_and_parent():
    """One key used in a cell (twice nested) and in the parent is one Parameter object, counted once."""
    model = wiring.compile(with_subgraph(key="normal"))
    arch = model.arch_parameters()
    assert len(arch) == 1 and arch[0].shape == (3, 4)
    alpha = arch[0]
    cells = [getattr(model, _name_of(model, label)) for label in ("cell1", "cell2")]
    assert all(isinstance(c, wiring.CompiledGraph) for c in cells)
    assert all(not hasattr(c, "alphas") for c in cells)  # nested graphs get the draw, the root holds α
    assert model.alphas.normal is alpha
    assert sum(p is alpha for p in model.parameters()) == 1
    assert sum(p.numel() for p in model.parameters()) == wiring.cost(with_subgraph(), (3, 8, 8)).params


def test_private_alphas_in_reused_subgraph_are_distinct():
    """A cell without keys used twice gets separate α per use."""
    model = wiring.compile(with_subgraph(key=None))
    assert len(model.arch_parameters()) == 5
    assert len(set(_ids(model.arch_parameters()))) == 5


def test_no_alphas_without_relaxed_nodes():
    model = wiring.compile(small_cnn())
    assert model.arch_parameters() == []
    assert len(model.weight_parameters()) == len(list(model.parameters())) > 0


# -- modes --------------------------------------------------------------------


def _choice_graph(key=None, index=0):
    return chain("choice", candidates=[{"op": "identity"}, {"op": "zero"}, {"op": "max_pool"}], key=key, index=index)


@pytest.mark.parametrize("mode, weigh", [(None, lambda a: torch.softmax(a, -1)), ("softmax", lambda a: torch.softmax(a, -1)),
                                         ("sigmoid", torch.sigmoid)])
def test_choice_weighting_matches_hand_computation(mode, weigh):
    model = wiring.compile(_choice_graph(), mode=mode)
    (alpha,) = model.arch_parameters()
    with torch.no_grad():
        alpha.copy_(torch.tensor([[0.5, -1.0, 2.0]]))
    x = torch.randn(*IMAGE)
    w = weigh(torch.tensor([0.5, -1.0, 2.0]))
    expected = w[0] * x + w[1] * 0 + w[2] * F.max_pool2d(x, 3, 1, 1)
    torch.testing.assert_close(model(x), expected)


def test_shared_alpha_uses_its_row():
    """A choice with ``key``/``index`` reads row ``index`` of the shared α."""
    model = wiring.compile(_choice_graph(key="k", index=1))
    (alpha,) = model.arch_parameters()
    assert alpha.shape == (2, 3)
    with torch.no_grad():
        alpha.copy_(torch.tensor([[9.0, 9.0, -9.0], [0.0, 0.0, 3.0]]))
    x = torch.randn(*IMAGE)
    w = torch.softmax(torch.tensor([0.0, 0.0, 3.0]), -1)
    torch.testing.assert_close(model(x), w[0] * x + w[2] * F.max_pool2d(x, 3, 1, 1))


@pytest.mark.parametrize("mode", ["softmax", "sigmoid"])
def test_select_weighting(mode):
    """``select`` weighs its in-edges in slot order."""
    G = nx.DiGraph()
    node(G, "in", "input", channels=3, size=[8, 8])
    node(G, "mp", "max_pool")
    node(G, "sel", "select")
    node(G, "out", "output")
    G.add_edges_from([("in", "mp"), ("sel", "out")])
    G.add_edge("mp", "sel", slot=0)
    G.add_edge("in", "sel", slot=1)
    model = wiring.compile(G, mode=mode)
    (alpha,) = model.arch_parameters()
    with torch.no_grad():
        alpha.copy_(torch.tensor([[1.0, -2.0]]))
    w = getattr(torch, mode)(torch.tensor([1.0, -2.0]), **({"dim": -1} if mode == "softmax" else {}))
    x = torch.randn(*IMAGE)
    torch.testing.assert_close(model(x), w[0] * F.max_pool2d(x, 3, 1, 1) + w[1] * x)


def test_mode_reaches_nested_relaxed_modules():
    model = wiring.compile(with_subgraph(), mode="sigmoid")
    relaxed = [m for m in model.modules() if isinstance(m, ops.modules.Relaxed)]
    assert len(relaxed) == 5
    assert {m.mode for m in relaxed} == {"sigmoid"}
    assert {m.mode for m in wiring.compile(with_subgraph()).modules() if isinstance(m, ops.modules.Relaxed)} == {
        "softmax"}


@pytest.mark.parametrize("mode", ["gumbel_nope", "", "SOFTMAX ", 3])
def test_unknown_mode_lists_modes(mode):
    with pytest.raises(wiring.GraphError) as info:
        wiring.compile(with_choice(), mode=mode)
    message = str(info.value)
    assert repr(mode) in message
    for known in ops.modes():
        assert known in message


# -- inputs, outputs, subgraphs ---------------------------------------------------


def test_multi_input_placeholders_in_index_order():
    """Inputs become placeholders ``x0, x1`` by their ``index`` (not by label order)."""
    G = multi_input()
    model = wiring.compile(G, seed=0).eval()
    assert "def forward(self, x0, x1)" in model.code
    img, feat = inputs_for("multi_input")
    head = module_of(model, "head")(module_of(model, "conv")(img))
    expected = head + module_of(model, "fc")(feat)
    torch.testing.assert_close(model(img, feat), expected)
    with pytest.raises(TypeError):
        model(img)


def test_multi_output_tuple_in_slot_order():
    G = multi_output()
    model = wiring.compile(G)
    out = model(torch.randn(*IMAGE))
    assert isinstance(out, tuple) and [o.shape[1] for o in out] == [3, 5]
    G.edges["main", "out"]["slot"], G.edges["aux", "out"]["slot"] = 1, 0
    out = wiring.compile(G)(torch.randn(*IMAGE))
    assert [o.shape[1] for o in out] == [5, 3]


def test_subgraph_compiles_to_nested_module():
    model = wiring.compile(with_subgraph(key=None), seed=0)
    cell1 = getattr(model, _name_of(model, "cell1"))
    cell2 = getattr(model, _name_of(model, "cell2"))
    assert isinstance(cell1, wiring.CompiledGraph) and cell1 is not cell2
    assert "def forward(self, x0, x1, relax_" in cell1.code  # the cell's inputs, then the draws it reads
    assert set(cell1.node_names.values()) == {2, 3, 5}
    w1, w2 = dict(cell1.named_parameters()), dict(cell2.named_parameters())
    assert w1 and w1.keys() == w2.keys()
    assert all(w1[k] is not w2[k] for k in w1)  # each use of the cell has its own weights...
    a1, a2 = ({k for k in model.alphas_by_key() if k.startswith(f"_{_name_of(model, c)}_")} for c in ("cell1", "cell2"))
    assert len(a1) == len(a2) == 2 and not a1 & a2  # ... and its own private α


def test_gradients_reach_alpha_and_weights():
    for name in ("with_choice", "with_subgraph", "with_shared_choice"):
        model = wiring.compile(ALL[name](), seed=0)
        out = model(*inputs_for(name))
        (out ** 2).mean().backward()
        for p in model.arch_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name
        assert all(p.grad is not None for p in model.weight_parameters()), name


def test_deepcopy_runs_and_keeps_structure():
    """A deep copy runs, gives the same output, keeps node_names and α sharing, and shares no tensors."""
    model = wiring.compile(with_subgraph(), seed=0).eval()
    clone = copy.deepcopy(model)
    x = torch.randn(*IMAGE)
    torch.testing.assert_close(clone(x), model(x))
    assert clone.node_names == model.node_names
    assert isinstance(clone, wiring.CompiledGraph)
    (alpha,) = clone.arch_parameters()
    assert alpha is not model.arch_parameters()[0]
    assert set(clone.alphas_by_key()) == set(model.alphas_by_key())
    assert not set(_ids(clone.parameters())) & set(_ids(model.parameters()))


def test_state_dict_round_trip_between_compiles():
    """Two compiles of one graph share a state_dict layout; loading one into the other gives equal outputs."""
    G = with_choice(key="k")
    a, b = wiring.compile(G, seed=0).eval(), wiring.compile(G, seed=1).eval()
    b.load_state_dict(a.state_dict())
    x = torch.randn(*IMAGE)
    torch.testing.assert_close(a(x), b(x))


def test_alpha_starts_at_a_thousandth_of_a_standard_normal():
    """DARTS' initialisation, 1e-3·N(0, 1), reproducible from the compile seed (a mutant zeroing α survived before)."""
    from spaces import darts

    G = darts.space(**darts.SMALL).supernet()
    alpha = wiring.compile(G, seed=3).alphas_by_key()["normal"].detach()
    assert alpha.shape == (14, 8) and (alpha != 0).all()
    assert 0.5e-3 < float(alpha.std()) < 2e-3 and float(alpha.abs().max()) < 1e-2
    torch.testing.assert_close(wiring.compile(G, seed=3).alphas_by_key()["normal"].detach(), alpha)
    assert not torch.equal(wiring.compile(G, seed=4).alphas_by_key()["normal"].detach(), alpha)
