"""Multi-objective and constrained runs: what is stored and told, resume, the front (issue 12)."""

from __future__ import annotations

import sqlite3

import pytest

from wiring.search import NSGA2, RandomSearch, RegularizedEvolution, SearchError, load_result, run
from wiring.search.objectives import Objectives, parse_objectives

from test_runner import Toy

OBJECTIVES = {"accuracy": "max", "params": "min"}


def two(arch: tuple) -> dict:
    return {"accuracy": sum(arch) / 12, "params": 10 * arch[0] + arch[1], "note": "x"}


def small(result: dict) -> list[float]:
    return [result["params"] - 25]


def missing_params(arch: tuple) -> dict:
    return {"accuracy": 0.5} if arch[0] < 2 else two(arch)


class Recording(NSGA2):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.told = []

    def tell(self, arch, value, *, violation=0.0):
        self.told.append((arch, value, violation))
        super().tell(arch, value, violation=violation)


def nsga2(seed: int = 0) -> Recording:
    return Recording(Toy(), seed=seed, population=6, offspring=6)


def test_the_strategy_is_told_each_objective_turned_to_maximise_and_score_is_the_first():
    strategy = nsga2()
    result = run(strategy, two, budget=20, objectives=OBJECTIVES, progress=False)
    assert len(strategy.told) == 20
    for (arch, value, violation), trial in zip(strategy.told, result.trials):
        assert value == (two(arch)["accuracy"], -two(arch)["params"]) and violation == 0.0
        assert trial.score == two(arch)["accuracy"] and trial.metrics["params"] == two(arch)["params"]
    assert result.objectives == OBJECTIVES
    front = result.front
    assert front and all(t.status == "complete" for t in front)
    for t in result.complete:  # nothing outside the front dominates a member of it
        assert not any(t.score >= f.score and t.metrics["params"] <= f.metrics["params"]
                       and (t.score, t.metrics["params"]) != (f.score, f.metrics["params"]) for f in front)


def test_constraints_are_stored_told_and_rank_infeasible_trials_last():
    strategy = nsga2()
    result = run(strategy, two, budget=20, objectives=OBJECTIVES, constraints=small, progress=False)
    for (arch, _, violation), trial in zip(strategy.told, result.trials):
        assert trial.metrics["constraints"] == [two(arch)["params"] - 25]
        assert violation == trial.metrics["violation"] == max(0, two(arch)["params"] - 25)
    assert all(t.metrics["violation"] == 0 for t in result.front)
    assert any(t.metrics["violation"] > 0 for t in result.complete)
    assert result.best.metrics["violation"] == 0
    single = run(RegularizedEvolution(Toy(), seed=0, population=4, sample=2), two, budget=8,
                 objectives={"accuracy": "max"}, constraints=small, progress=False)
    assert single.best.metrics["violation"] == 0


def test_a_missing_objective_fails_the_trial_naming_it():
    result = run(nsga2(), missing_params, budget=12, objectives=OBJECTIVES, progress=False)
    failed = [t for t in result.trials if t.arch[0] < 2]
    assert failed and all(t.status == "failed" and "for objective 'params'" in t.error for t in failed)
    assert all(t.status == "complete" for t in result.trials if t.arch[0] >= 2)


@pytest.mark.parametrize("batch", [None, 4])
def test_a_multi_objective_search_resumes_to_the_uninterrupted_result(tmp_path, batch):
    reference = run(nsga2(), two, budget=18, objectives=OBJECTIVES, constraints=small, batch=batch,
                    progress=False)
    db = tmp_path / "s.db"
    run(nsga2(), two, budget=8, storage=db, objectives=OBJECTIVES, constraints=small, batch=batch, progress=False)
    resumed = run(nsga2(), two, budget=18, storage=db, objectives=OBJECTIVES, constraints=small, batch=batch,
                  progress=False)
    assert [t.encoding for t in resumed.trials] == [t.encoding for t in reference.trials]
    assert [t.metrics for t in resumed.trials] == [t.metrics for t in reference.trials]
    assert load_result(db).objectives == OBJECTIVES


def test_other_objectives_or_constraints_are_refused_and_an_older_storage_resumes(tmp_path):
    db = tmp_path / "s.db"
    run(nsga2(), two, budget=6, storage=db, objectives=OBJECTIVES, progress=False)
    with pytest.raises(SearchError, match=r'objectives was \{"accuracy": "max", "params": "min"\}, now'):
        run(nsga2(), two, budget=8, storage=db, objectives={"accuracy": "max", "params": "max"}, progress=False)
    with pytest.raises(SearchError, match="constraints was null, now"):
        run(nsga2(), two, budget=8, storage=db, objectives=OBJECTIVES, constraints=small, progress=False)
    old = tmp_path / "old.db"  # written before objectives were recorded: it meant one score
    run(RandomSearch(Toy(), seed=0), two, budget=3, storage=old, objectives={"accuracy": "max"}, progress=False)
    with sqlite3.connect(old) as connection:
        connection.execute("DELETE FROM meta WHERE key IN ('objectives', 'constraints')")
    connection.close()
    with pytest.raises(SearchError, match='objectives was null, now {"accuracy": "max"}'):
        run(RandomSearch(Toy(), seed=0), two, budget=5, storage=old, objectives={"accuracy": "max"}, progress=False)
    assert len(run(RandomSearch(Toy(), seed=0), lambda a: two(a)["accuracy"], budget=5, storage=tmp_path / "n.db",
                   progress=False).trials) == 5


def test_argument_errors():
    with pytest.raises(SearchError, match="RegularizedEvolution optimises one score; for 2 objectives"):
        run(RegularizedEvolution(Toy(), seed=0), two, budget=2, objectives=OBJECTIVES, progress=False)
    for bad, message in [({}, "non-empty dict"), ({"a": "up"}, "'a' must be 'max' or 'min'"),
                         ({"score": "max"}, "other than 'score'")]:
        with pytest.raises(SearchError, match=message):
            Objectives(two, bad)
    with pytest.raises(SearchError, match="constraints must be callable"):
        Objectives(two, OBJECTIVES, constraints=3)
    assert parse_objectives("accuracy:max, params:min") == OBJECTIVES
    for bad in ("accuracy", "accuracy:up", "a:max,a:min", ""):
        with pytest.raises(SearchError, match="--objectives takes name:max or name:min"):
            parse_objectives(bad)


def test_the_cli_searches_several_objectives_and_prints_the_front(capsys):
    from wiring.cli import main

    assert main(["search", "--space", "nasbench_graph", "--strategy", "nsga2", "--budget", "8",
                 "--objectives", "accuracy:max,para:min", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Pareto front (accuracy max, para min):" in out and "accuracy 0." in out
    assert main(["search", "--space", "nasbench_graph", "--strategy", "regularizedevolution", "--budget", "2",
                 "--objectives", "accuracy:max,para:min", "--quiet"]) != 0
    assert "optimises one score" in capsys.readouterr().err


def test_the_front_plot_is_written_and_needs_two_objectives(tmp_path):
    result = run(nsga2(), two, budget=10, objectives=OBJECTIVES, constraints=small, progress=False)
    path = result.plot_front(tmp_path / "front.png")
    assert path.stat().st_size > 1000 and path.read_bytes()[:4] == b"\x89PNG"
    single = run(RandomSearch(Toy(), seed=0), two, budget=2, objectives={"accuracy": "max"}, progress=False)
    with pytest.raises(SearchError, match="needs a search run with two or more objectives"):
        single.plot_front(tmp_path / "no.png")


def costly(arch: tuple) -> dict:
    return {**two(arch), "score": two(arch)["accuracy"], "time_cost": 10.0 + arch[0]}


@pytest.mark.parametrize("batch", [None, 2])
def test_a_time_budget_charges_each_trial_its_simulated_cost_and_resumes_counting_it(tmp_path, batch):
    db = tmp_path / "s.db"
    result = run(RandomSearch(Toy(), seed=0), costly, budget=100, time_budget=35, storage=db, batch=batch,
                 progress=False)
    k = batch or 1  # with batches the budget is checked between batches: the last batch crosses it
    costs = [t.metrics["time_cost"] for t in result.trials]
    assert len(costs) % k == 0 and sum(costs[:-k]) < 35 <= sum(costs)
    resumed = run(RandomSearch(Toy(), seed=0), costly, budget=100, time_budget=70, storage=db, batch=batch,
                  progress=False)
    more = [t.metrics["time_cost"] for t in resumed.trials]
    assert resumed.trials[:len(costs)] == result.trials
    assert len(more) % k == 0 and sum(more[:-k]) < 70 <= sum(more)
    assert len(run(RandomSearch(Toy(), seed=0), costly, budget=3, time_budget=10**6, progress=False).trials) == 3
    with pytest.raises(SearchError, match="time_budget must be a positive number of seconds"):
        run(RandomSearch(Toy(), seed=0), costly, budget=3, time_budget=0, progress=False)


def test_parego_weights_are_the_simplex_lattice_drawn_uniformly():
    import random as random_module
    from collections import Counter

    from wiring.search.model_based import parego_weights

    rng = random_module.Random(0)
    for k, count in ((2, 11), (3, 15)):
        drawn = Counter(tuple(parego_weights(k, rng)) for _ in range(200 * count))
        assert len(drawn) == count and all(abs(sum(w) - 1) < 1e-12 and min(w) >= 0 for w in drawn)
        assert max(drawn.values()) < 1.5 * min(drawn.values())


def test_parego_scalarises_normalised_objectives_by_augmented_tchebycheff():
    from wiring.search import BayesianOptimization

    strategy = BayesianOptimization(Toy(), seed=0, initial=3, candidates=5, scalarisation="parego")
    archs = [strategy.ask() for _ in range(3)]
    for arch, value in zip(archs, [(1.0, -10.0), (0.0, 0.0), (0.5, -5.0)]):
        strategy.tell(arch, value)
    strategy.rng.sample = lambda population, k: [3][:k]  # the weight vector (0.2, 0.8)
    scalars = [v for _, v in strategy._scored()]
    # costs (-acc, params) normalised: (0, 1), (1, 0), (0.5, 0.5); max λf + 0.05 Σ λf
    expected = [-(0.8 + 0.05 * 0.8), -(0.2 + 0.05 * 0.2), -(0.4 + 0.05 * 0.5)]
    assert scalars == pytest.approx(expected)
    assert "scalarisation" not in vars(BayesianOptimization(Toy(), seed=0))  # off: not in the setup
    result = run(BayesianOptimization(Toy(), seed=0, initial=4, candidates=10, scalarisation="parego"), two,
                 budget=8, objectives=OBJECTIVES, progress=False)
    assert len(result.complete) == 8 and result.front
    with pytest.raises(SearchError, match="BayesianOptimization optimises one score"):
        run(BayesianOptimization(Toy(), seed=0), two, budget=2, objectives=OBJECTIVES, progress=False)
    with pytest.raises(SearchError, match="scalarisation must be None or 'parego'"):
        BayesianOptimization(Toy(), scalarisation="weighted")
