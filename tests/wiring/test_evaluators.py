"""Performance estimation: training/tabular evaluators, learning-curve stopping, successive halving, Hyperband."""

import pickle

import networkx as nx
import pytest

import wiring
from spaces import Decision, DecisionSpace
from wiring.search import RandomSearch, RegularizedEvolution, SearchError
from wiring.search.evaluators import (CurveStopper, TabularEvaluator, TrainingEvaluator, hyperband,
                                      successive_halving)


class Digits(DecisionSpace):
    """A tiny classifier for 8×8 digits: stem width and one op per layer."""

    name = "digits"

    def decisions(self):
        return [Decision("width", (4, 8)), Decision("op", ("sep_conv", "relu_conv_bn", "identity"))]

    def to_graph(self, arch):
        width, op = arch
        G = nx.DiGraph(schema=wiring.SCHEMA_VERSION)
        G.add_node("x", op="input", params={"channels": 1, "size": [8, 8]})
        G.add_node("stem", op="conv_bn", params={"channels": width, "relu": True})
        G.add_node("body", op=op, params={} if op == "identity" else {"channels": width})
        G.add_node("head", op="head", params={"num_classes": 10})
        G.add_node("out", op="output")
        nx.add_path(G, ["x", "stem", "body", "head", "out"])
        return G

    def encode(self, arch):
        return f"{arch[0]}:{arch[1]}"

    def decode(self, text):
        width, op = text.split(":")
        return (int(width), op)


def test_training_evaluator_reports_validation_score_and_keeps_test_apart():
    evaluator = TrainingEvaluator(Digits(), epochs=2, data_fraction=0.3, optimizer="adam", lr=0.02)
    result = evaluator((8, "sep_conv"))
    assert set(result) == {"score", "test_accuracy", "params", "macs", "epochs", "train_seconds", "stopped"}
    assert 0.0 <= result["score"] <= 1.0 and result["epochs"] == 2 and not result["stopped"]
    assert result["params"] == wiring.cost(Digits().to_graph((8, "sep_conv"))).params
    assert len(evaluator.data().y_train) < 0.35 * 1257
    assert pickle.loads(pickle.dumps(evaluator))._data is None  # workers reload the data


def test_training_evaluator_rejects_bad_fidelity():
    with pytest.raises(SearchError, match="data_fraction"):
        TrainingEvaluator(Digits(), data_fraction=0)


def test_curve_stopper_extrapolates_and_stops_hopeless_trials():
    stopper = CurveStopper(min_epochs=3, warmup=1)
    rising = [0.3, 0.5, 0.6, 0.65]
    assert stopper.predict(rising, 20) > 0.65
    from wiring.train import EpochRecord

    history = [EpochRecord(i + 1, 1.0, 0.1, v, 0.1) for i, v in enumerate([0.1, 0.12, 0.13])]
    assert not stopper.should_stop(history, 20)  # no finished trial yet: nothing to beat
    stopper.record(0.9)
    assert stopper.should_stop(history, 20)


def test_curve_stopper_stops_a_training_trial_and_records_it():
    stopper = CurveStopper(min_epochs=2, warmup=1)
    stopper.record(1.0)  # an unbeatable best
    evaluator = TrainingEvaluator(Digits(), epochs=6, data_fraction=0.2, stopper=stopper)
    result = evaluator((4, "identity"))
    assert result["stopped"] and result["epochs"] < 6


def test_successive_halving_promotes_the_top_third_and_tells_every_candidate():
    strategy = RandomSearch(Digits(), seed=0)
    seen = []

    def evaluate(arch, fidelity):
        seen.append(fidelity)
        return arch[0] + (arch[1] == "sep_conv") + fidelity / 100

    records = successive_halving(strategy, evaluate, candidates=9, min_fidelity=1, max_fidelity=9)
    assert seen.count(1) == 9 and seen.count(3) == 3 and seen.count(9) == 1
    assert sum(r.promoted for r in records) == 3 + 1
    assert len(strategy.history) == 9 and not strategy.pending


def test_hyperband_runs_brackets_with_any_strategy():
    strategy = RegularizedEvolution(Digits(), seed=0, population=4, sample=2)
    records = hyperband(strategy, lambda arch, f: float(arch[0]) * f, min_fidelity=1, max_fidelity=9)
    assert {r.fidelity for r in records} == {1, 3, 9}
    assert len(strategy.history) == 9 + 5 + 3


def test_tabular_evaluator_on_nas_bench_graph():
    import random

    from spaces import nasbench_graph

    space = nasbench_graph.space(dataset="cora")
    arch = space.sample(random.Random(0))
    result = TabularEvaluator(space)(arch)
    assert result["score"] == space.query(arch)["valid_perf"]
    assert result["test_accuracy"] == space.query(arch)["perf"]


def test_successive_halving_over_epochs_of_the_training_evaluator():
    evaluator = TrainingEvaluator(Digits(), data_fraction=0.2, optimizer="adam", lr=0.02)
    strategy = RandomSearch(Digits(), seed=1)
    records = successive_halving(strategy, lambda arch, epochs: evaluator(arch, epochs=int(epochs))["score"],
                                 candidates=3, min_fidelity=1, max_fidelity=3)
    assert [r.fidelity for r in records] == [1, 1, 1, 3]
    promoted = next(r for r in records if r.promoted)
    assert records[-1].arch == promoted.arch and promoted.score == max(r.score for r in records[:3])
    assert len(strategy.history) == 3
