"""ENAS (wiring.search.oneshot.enas) on the SMALL ENAS micro and macro spaces and a few digits."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from spaces import enas, nasrl
from wiring.search.evaluators import fit_input
from wiring.search.oneshot import ENAS
from wiring.search.oneshot.enas import decision_names, shared_accuracy
from wiring.search.reinforce import Reinforce
from wiring.search.strategy import SearchError

from tiny_data import digits

OPTIONS = {"epochs": 2, "batch_size": 32, "controller_steps": 2, "controller_aggregate": 2, "final_samples": 3,
           "progress": False}
TINY_MICRO = {**enas.SMALL, "nodes": 2}


@pytest.fixture(scope="module")
def macro():
    return enas.space(**enas.SMALL_MACRO)


@pytest.fixture(scope="module")
def data():
    return digits(3, 16, train=64, val=32)


@pytest.fixture(scope="module")
def macro_run(macro, data):
    return ENAS(macro, seed=0, **OPTIONS).search(data)


def _check_member(sp, arch):
    assert len(sp.to_decisions(arch)) == len(sp.decisions())  # SpaceError if arch is not a member
    assert sp.decode(sp.encode(arch)) == arch


def test_micro_end_to_end(data):
    sp = enas.space(**enas.SMALL)
    r = ENAS(sp, seed=0, **{**OPTIONS, "epochs": 1, "controller_steps": 1}).search(data)
    _check_member(sp, r.arch)
    assert r.epochs_run == 1 and not r.stopped_early
    assert len(r.details["samples"]) == 3 and len(r.details["train_loss"]) == 1
    assert r.details["best_score"] == max(score for _, score in r.details["samples"])


def test_macro_end_to_end_records_history(macro, macro_run):
    r, o = macro_run, OPTIONS
    _check_member(macro, r.arch)
    assert r.epochs_run == o["epochs"] and r.reason == f"completed {o['epochs']} epochs"
    assert len(r.details["train_loss"]) == o["epochs"]
    assert len(r.details["rewards"]) == len(r.details["baseline"]) == o["epochs"] * o["controller_steps"]
    assert all(len(step) == o["controller_aggregate"] for step in r.details["rewards"])
    assert all(0.0 <= reward <= 1.0 for step in r.details["rewards"] for reward in step)
    for arch, score in r.details["samples"]:
        _check_member(macro, arch)
        assert 0.0 <= score <= 1.0


def test_same_seed_same_result_other_seed_differs(macro, data, macro_run):
    again = ENAS(macro, seed=0, **OPTIONS).search(data)
    assert again.arch == macro_run.arch
    for key in ("samples", "rewards", "baseline", "train_loss"):
        assert again.details[key] == macro_run.details[key]
    for (name, p), (_, q) in zip(again.model.state_dict().items(), macro_run.model.state_dict().items()):
        assert torch.equal(p, q), name
    other = ENAS(macro, seed=1, **OPTIONS).search(data)
    assert other.details["rewards"] != macro_run.details["rewards"] or \
        other.details["train_loss"] != macro_run.details["train_loss"]


def test_controller_is_updated(macro, macro_run):
    trained = macro_run.details["controller"]
    fresh = Reinforce(macro, seed=0, batch=OPTIONS["controller_aggregate"], hidden=64)
    before = dict(fresh.controller.named_parameters())
    changed = [name for name, p in trained.controller.named_parameters() if not torch.equal(p, before[name])]
    assert changed
    assert trained.baseline == macro_run.details["baseline"][-1]


def test_controller_takes_the_reference_settings(macro, data):
    """Micro script defaults (op logits reduced by 2.5, Adam β1 = 0, ε = 1e-3), the macro skip penalty."""
    controller = ENAS(macro, seed=0, **OPTIONS).start(data).controller
    assert controller.skip_weight == 0.8 and controller.controller.skip_target == 0.4
    assert controller.baseline == 0.0 and controller.controller.temperature is None  # the scripts' settings
    constants = {c for d, c in zip(macro.decisions(), controller.controller.constants) if d.kind == "choice"}
    assert constants == {1.1 / 2.5}  # the macro space's choices are all ops
    assert controller.optimizer.param_groups[0]["betas"] == (0.0, 0.999)
    assert controller.optimizer.param_groups[0]["eps"] == 1e-3


def test_final_pick_is_best_scored_sample(macro_run, data):
    samples = macro_run.details["samples"]
    best_arch, best_score = max(samples, key=lambda s: s[1])
    assert macro_run.arch == best_arch and macro_run.details["best_score"] == best_score
    # the returned supernet sits on the picked path and scores it the same
    assert shared_accuracy(macro_run.model, data.x_val, data.y_val, batch_size=OPTIONS["batch_size"]) == best_score


def test_progress_bar(macro, data, capsys):
    ENAS(macro, seed=0, **{**OPTIONS, "epochs": 1, "controller_steps": 1, "progress": True}).search(data)
    err = capsys.readouterr().err
    assert "ENAS: 100%" in err and "1/1" in err and "loss=" in err and "reward=" in err


def _record_parametrised_runs(model):
    """(choice module, candidate index) of every forward of a candidate that has parameters."""
    from ops.modules import MixedOp

    runs = []
    for m in model.modules():
        if isinstance(m, MixedOp):
            for i, c in enumerate(m.candidates):
                if next(c.parameters(), None) is not None:
                    c.register_forward_hook(lambda mod, args, out, m=m, i=i: runs.append((m, i)))
    return runs


def test_one_path_per_child_step_micro(data):
    sp = enas.space(**TINY_MICRO)
    e = ENAS(sp, seed=0, **OPTIONS)
    state = e.start(data)
    runs = _record_parametrised_runs(state.model)
    indices = e.sample(state)
    e.child_step(state, indices, (data.x_train[:8], data.y_train[:8]))
    arch = sp.from_decisions(indices)
    convs = {cell: sum(op.startswith("sep_conv") for node in getattr(arch, cell) for op in (node.op_a, node.op_b))
             for cell in ("normal", "reduce")}
    cells = {"normal": sp.layers + 2 - len(sp.pool_layers), "reduce": len(sp.pool_layers)}
    # one conv per (cell, node, slot) with a conv op: the other inputs' choices run a parameter-free candidate
    assert len(runs) == sum(convs[c] * cells[c] for c in cells)


def test_one_path_per_child_step_macro(macro, data):
    e = ENAS(macro, seed=0, **OPTIONS)
    state = e.start(data)
    runs = _record_parametrised_runs(state.model)
    indices = e.sample(state)
    e.child_step(state, indices, (data.x_train[:8], data.y_train[:8]))
    layer = {label: state.model.get_submodule(name) for name, label in state.model.node_names.items()}
    expected = [(layer[f"layer{t}"], enas.MACRO_OPS.index(l.op)) for t, l in enumerate(macro.from_decisions(indices))]
    assert runs == expected  # every branch has parameters: exactly the sampled one per layer ran


def test_decision_rows_follow_the_alpha_layout(macro):
    from wiring import compile as compile_graph, supernet

    def rows(space):
        model = compile_graph(space.supernet(), seed=0, mode="single_path")
        assert decision_names(space, model) == [d.name for d in space.decisions()]
        return {d.name: (d.key, d.row) for d in supernet.decisions(model)}

    assert rows(macro)["layer3.op"] == ("op", 3)
    assert rows(macro)["layer2.skip1"] == ("skip", 2)  # row t(t-1)/2 + i
    micro = enas.space(**TINY_MICRO)
    assert rows(micro)["reduce.node1.op_b"] == ("reduce_op", 3)
    assert rows(micro)["normal.node1.input_a"] == ("normal_in1", 0)


@pytest.mark.parametrize("bad", [{"epochs": 0}, {"batch_size": -1}, {"controller_steps": 0},
                                 {"controller_aggregate": 1.5}, {"final_samples": 0}, {"lr": -0.1},
                                 {"lr_min": 1.0}, {"momentum": 1.0}, {"grad_clip": 0}, {"lr_period": 0},
                                 {"weight_decay": -1e-4}, {"baseline_decay": 1.0}, {"temperature": 0},
                                 {"seed": "0"}, {"momentum": 0.0, "nesterov": True}])
def test_bad_parameters_raise(macro, bad):
    with pytest.raises(SearchError):
        ENAS(macro, **bad)


def test_space_without_what_enas_needs_raises(data):
    with pytest.raises(SearchError, match="supernet"):
        ENAS(object())
    sp = nasrl.space(**nasrl.SMALL)  # its α rows (kernel = height × width) do not match its decisions
    with pytest.raises(SearchError, match="decision"):
        ENAS(sp, **OPTIONS).search(fit_input(data, (sp.in_channels, sp.image_size, sp.image_size)))


def test_bad_data_raises(macro, data):
    with pytest.raises(SearchError, match="x_val"):
        ENAS(macro, **OPTIONS).search(replace(data, x_val=data.x_val[:0], y_val=data.y_val[:0]))
    with pytest.raises(SearchError, match="fit_input"):
        ENAS(macro, **OPTIONS).search(fit_input(data, (3, 8, 8)))
