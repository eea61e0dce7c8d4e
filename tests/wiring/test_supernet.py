"""The one-shot protocol (wiring.supernet): decisions of compiled supernets, one relaxation per α row per forward."""

from importlib import import_module

import pytest
import torch

import ops
import spaces
import wiring
from wiring import supernet
from wiring.testing import example_inputs

SAMPLING = ["gumbel", "single_path", "binary"]


def small(name):
    module = import_module(f"spaces.{name}")
    return module, module.space(**module.SMALL)


def run_once(name, mode, seed=0):
    module, space = small(name)
    G = space.supernet()
    model = wiring.compile(G, seed=0, mode=mode)
    supernet.set_generator(model, seed)
    custom = getattr(module, "example_inputs", None)
    x = custom(G) if custom is not None else example_inputs(G, batch=2)
    calls = []
    model.alphas.register_forward_hook(lambda m, args, out: calls.append(args[0]))
    out = model(*x)
    return space, model, calls, out


def sites_by_decision(model):
    grouped = {}
    for site in supernet.sites(model):
        grouped.setdefault(site.decision, []).append(site)
    return grouped


@pytest.mark.parametrize("mode", ops.modes())
@pytest.mark.parametrize("name", spaces.SPACES)
def test_every_alpha_row_is_relaxed_once_per_forward_and_its_sites_agree(name, mode):
    space, model, calls, _ = run_once(name, mode)
    assert sorted(calls) == sorted(supernet.alphas(model))  # one draw per α key (all its rows at once)
    drawn = supernet.last_index(model)
    for decision, group in sites_by_decision(model).items():
        ran = {s.module.sampled for s in group if s.module.sampled is not None}
        if mode in SAMPLING:  # every site of the row that ran, ran the row's one draw
            assert ran <= {drawn[decision]}, (decision, ran, drawn[decision])
        elif mode == "path_dropout":  # one keep-mask per row: its sites ran the same candidates
            masks = dict(supernet.states(model))[group[0].key].last.weights[group[0].row]
            expected = int(masks.nonzero()[0]) if int(masks.sum()) == 1 else None
            assert all(s.module.sampled == expected for s in group if s.module.sampled is not None or expected is None)
        else:
            assert ran == set()


def test_single_path_darts_cells_share_the_drawn_op():
    """A single-path draw with α shared across cells picks the same op in every cell of that type."""
    _, model, _, _ = run_once("darts", "single_path", seed=3)
    for decision, group in sites_by_decision(model).items():
        assert len(group) > 1 and len({s.module.sampled for s in group}) == 1, decision


def test_gdas_cells_get_one_gumbel_sample_per_forward():
    """GDAS' hardwts are drawn once per forward for all cells (AutoDL's search_model_gdas.py)."""
    _, model, _, _ = run_once("nasbench201", "gumbel", seed=5)
    draw = dict(supernet.states(model))["cell"].last
    assert draw.weights.shape == (6, 5)
    torch.testing.assert_close(draw.weights.detach().sum(-1), torch.ones(6))  # one-hot values
    for decision, group in sites_by_decision(model).items():
        assert len(group) == 3 and {s.module.sampled for s in group} == {draw.index[group[0].row]}


def test_gdas_unselected_weights_get_gradient_only_in_the_nasbench201_form():
    space, model, _, out = run_once("nasbench201", "gumbel")
    torch.nn.functional.cross_entropy(out, torch.tensor([0, 1])).backward()
    without = supernet.alpha(model, "cell").grad.clone()
    model.zero_grad(set_to_none=True)
    for _, state in supernet.states(model):
        state.unselected = True
    supernet.set_generator(model, 0)
    x = example_inputs(space.supernet(), batch=2)
    torch.nn.functional.cross_entropy(model(*x), torch.tensor([0, 1])).backward()
    with_unselected = supernet.alpha(model, "cell").grad
    assert space.gdas_unselected is True
    assert not torch.allclose(without, with_unselected)


def test_dense_weights_are_computed_once_per_key():
    _, model, calls, _ = run_once("darts", "softmax")
    assert sorted(calls) == ["normal", "reduce"]
    draw = dict(supernet.states(model))["normal"].last
    torch.testing.assert_close(draw.weights, torch.softmax(supernet.alpha(model, "normal"), -1))


@pytest.mark.parametrize("name", [n for n in spaces.SPACES if small(n)[1].decision_rows() is not None])
def test_decision_rows_name_the_compiled_decisions(name):
    _, space = small(name)
    model = wiring.compile(space.supernet(), seed=0, mode="single_path")
    compiled = {d.name: d for d in supernet.decisions(model)}
    rows = space.decision_rows()
    assert set(rows) == {d.name for d in space.decisions()} == set(compiled)
    for d in space.decisions():
        assert (compiled[d.name].key, compiled[d.name].row) == rows[d.name]
        assert len(compiled[d.name].choices) == len(d.choices)
    if name == "nasbench_graph":
        return  # its derive canonicalises equivalent links (the table's keys), so it is not a plain argmax
    # derive reads each decision as the argmax of its row: set one row's column and read it back
    for d in space.decisions()[:6]:
        if len(d.choices) < 2:
            continue
        with torch.no_grad():
            for a in supernet.alphas(model).values():
                a.zero_()
            supernet.alpha(model, rows[d.name][0])[rows[d.name][1], len(d.choices) - 1] = 1.0
        i = [x.name for x in space.decisions()].index(d.name)
        assert space.to_decisions(space.derive(model))[i] == len(d.choices) - 1, d.name


def test_a_decision_names_one_row():
    import networkx as nx

    G = nx.DiGraph()
    G.add_node("x", op="input", params={"channels": 2, "size": [4, 4]})
    cands = [{"op": "identity"}, {"op": "zero", "name": "nothing"}]
    G.add_node("a", op="choice", params={"candidates": cands, "key": "k", "index": 0, "decision": "d"})
    G.add_node("b", op="choice", params={"candidates": cands, "key": "k", "index": 1, "decision": "d"})
    G.add_node("out", op="output")
    G.add_edges_from([("x", "a"), ("a", "b"), ("b", "out")])
    with pytest.raises(wiring.GraphError, match="decision 'd' already names α 'k' row 0"):
        wiring.validate(G)
    G.nodes["b"]["params"]["decision"] = "e"
    model = wiring.compile(G)
    assert [(d.name, d.choices) for d in supernet.decisions(model)] == [("d", ("identity", "nothing")),
                                                                        ("e", ("identity", "nothing"))]
    with pytest.raises(wiring.GraphError, match="no decision 'f'; its decisions: d, e"):
        supernet.decision(model, "f")
