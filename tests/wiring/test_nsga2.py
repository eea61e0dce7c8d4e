"""NSGA-II's rules, each tested deterministically: survival, tournament, constraints, offspring; plus the
constraint ranking that RegularizedEvolution and ConstrainedEvolution share."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spaces import Decision, DecisionSpace
from wiring.search import NSGA2, ConstrainedEvolution, RandomSearch, RegularizedEvolution, SearchError
from wiring.search.pareto import crowding_distance, non_dominated_sort


class Grid(DecisionSpace):
    """Three decisions of eight values; mutate and crossover record their parents."""

    def __init__(self) -> None:
        super().__init__()
        self.mutated, self.crossed = [], []

    def decisions(self):
        return [Decision(f"d{i}", tuple(range(8))) for i in range(3)]

    def to_graph(self, arch):  # not needed: NSGA2 never builds graphs
        raise NotImplementedError

    def encode(self, arch):
        return "-".join(map(str, arch))

    def decode(self, text):
        return tuple(int(x) for x in text.split("-"))

    def mutate(self, arch, rng):
        self.mutated.append(arch)
        return super().mutate(arch, rng)

    def crossover(self, a, b, rng):
        child = super().crossover(a, b, rng)
        self.crossed.append((a, b, child))
        return child


def told_generation(strategy: NSGA2, values) -> list:
    archs = [strategy.ask() for _ in values]
    for arch, value in zip(archs, values):
        strategy.tell(arch, value)
    return archs


def brute_survivors(values: list[tuple], size: int) -> set[int]:
    """Front by front; the front that does not fit is cut by decreasing crowding distance (ties by index)."""
    kept = []
    for front in non_dominated_sort(values, ("max",) * len(values[0])):
        room = size - len(kept)
        if room <= 0:
            break
        if len(front) <= room:
            kept += front
        else:
            local = crowding_distance([values[i] for i in front], range(len(front)), ("max",) * len(values[0]))
            kept += sorted(front, key=lambda i: (-local[front.index(i)], i))[:room]
    return set(kept)


def test_generation_zero_is_population_distinct_samples_then_offspring_of_the_survivors():
    space = Grid()
    strategy = NSGA2(space, seed=0, population=6, offspring=4)
    first = told_generation(strategy, [(i, -i) for i in range(6)])
    assert len({space.encode(a) for a in first}) == 6 and not space.mutated
    children = [strategy.ask() for _ in range(4)]
    survivors = [a for a, _ in strategy.survivors]
    assert len(space.mutated) >= 4  # every child is a mutant (redraws of duplicates mutate again)
    assert all(a in survivors and b in survivors for a, b, _ in space.crossed)
    assert all(parent in survivors or parent in [child for *_, child in space.crossed] for parent in space.mutated)
    assert not {space.encode(c) for c in children} & {space.encode(a) for a in first}  # duplicates eliminated


@given(values=st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=8, max_size=8))
def test_survival_keeps_fronts_whole_and_cuts_the_last_by_crowding(values):
    strategy = NSGA2(Grid(), seed=1, population=5, offspring=3)
    archs = told_generation(strategy, [tuple(map(float, v)) for v in values[:5]])
    children = [strategy.ask() for _ in range(3)]  # the first ask runs the first survival: all five survive
    assert [a for a, _ in strategy.survivors] == archs
    for child, value in zip(children, values[5:]):
        strategy.tell(child, tuple(map(float, value)))
    members = strategy.survivors + strategy.newcomers
    strategy._survive()
    expected = brute_survivors([v for _, v in members], 5)
    assert sorted(a for a, _ in strategy.survivors) == sorted(members[i][0] for i in expected)


def test_an_infeasible_trial_survives_only_after_every_feasible_one_the_less_violating_first():
    strategy = NSGA2(Grid(), seed=0, population=4, offspring=2)
    archs = [strategy.ask() for _ in range(4)]
    strategy.tell(archs[0], (10.0, 10.0), violation=0.5)  # dominates everything, but infeasible
    strategy.tell(archs[1], (9.0, 9.0), violation=0.1)
    strategy.tell(archs[2], (0.0, 0.0))
    strategy.tell(archs[3], (1.0, -1.0))
    strategy.population_size = 3
    strategy._survive()
    assert [a for a, _ in strategy.survivors] == [archs[1], archs[2], archs[3]]
    assert strategy.front == [(archs[2], (0.0, 0.0)), (archs[3], (1.0, -1.0))]


class Fixed:
    """An rng stub: randrange answers from a list, choice picks the first."""

    def __init__(self, answers):
        self.answers = list(answers)

    def randrange(self, n):
        return self.answers.pop(0)

    def choice(self, options):
        return options[0]


@pytest.mark.parametrize("members, violations, contenders, expected", [
    ([(1.0, 1.0), (2.0, 2.0)], {}, (0, 1), 1),  # the dominating one wins
    ([(5.0, 0.0), (0.0, 5.0), (2.0, 2.0)], {}, (2, 0), 0),  # no domination: the less crowded (an end) wins
    ([(1.0, 1.0), (2.0, 2.0)], {1: 0.3}, (0, 1), 0),  # feasible beats infeasible, even one that dominates it
    ([(1.0, 1.0), (2.0, 2.0)], {0: 0.1, 1: 0.3}, (1, 0), 0),  # two infeasible ones: the smaller violation
])
def test_binary_tournament(members, violations, contenders, expected):
    space = Grid()
    strategy = NSGA2(space, seed=0, population=len(members), offspring=1)
    archs = [strategy.ask() for _ in members]
    for i, (arch, value) in enumerate(zip(archs, members)):
        strategy.tell(arch, value, violation=violations.get(i, 0.0))
    strategy.survivors = list(zip(archs, members))
    _, crowding = strategy._ranked(strategy.survivors)
    strategy.rng = Fixed(contenders)
    assert strategy._tournament(crowding) == expected


def test_the_same_seed_and_values_give_the_same_search_and_objective_counts_must_agree():
    def trajectory(seed):
        strategy = NSGA2(Grid(), seed=seed, population=4, offspring=3)
        asked = []
        for i in range(15):
            arch = strategy.ask()
            asked.append(arch)
            strategy.tell(arch, (float(sum(arch)), -float(arch[0])), violation=0.2 if i % 7 == 3 else 0.0)
        return asked
    assert trajectory(3) == trajectory(3)
    assert trajectory(3) != trajectory(4)
    strategy = NSGA2(Grid(), seed=0, population=2, offspring=1)
    a, b = strategy.ask(), strategy.ask()
    strategy.tell(a, (1.0, 2.0))
    with pytest.raises(SearchError, match="told 2 objectives before, now 3"):
        strategy.tell(b, (1.0, 2.0, 3.0))


def test_tell_checks_values_and_violations():
    single = RegularizedEvolution(Grid(), seed=0, population=2, sample=1)
    with pytest.raises(SearchError, match=r"value must be a number or None, got \(1.0, 2.0\)"):
        single.tell(single.ask(), (1.0, 2.0))
    many = RandomSearch(Grid(), seed=0)
    many.tell(many.ask(), (1.0, 2.0))  # random search takes any number of objectives
    with pytest.raises(SearchError, match="values must be a non-empty tuple of numbers"):
        many.tell(many.ask(), (1.0, math.nan))
    for bad in (-1.0, math.inf, math.nan, True):
        with pytest.raises(SearchError, match="violation must be a finite number >= 0"):
            many.tell(many.ask(), 1.0, violation=bad)


def test_regularized_evolution_prefers_a_feasible_parent_and_best_ranks_feasible_first():
    space = Grid()
    strategy = RegularizedEvolution(space, seed=0, population=2, sample=2)
    a, b = strategy.ask(), strategy.ask()
    strategy.tell(a, 0.9, violation=0.2)  # better, but breaks a constraint
    strategy.tell(b, 0.1)
    strategy.rng.randrange = lambda n, answers=[0, 1]: answers.pop(0)
    strategy.ask()
    assert space.mutated == [b]
    assert strategy.best == (b, 0.1)


def test_constrained_evolution_ranks_infeasible_trials_after_feasible_ones():
    space = Grid()
    strategy = ConstrainedEvolution(space, seed=0, population=3, top_k=1, mutations=2, crossovers=0,
                                    mutation_prob=1.0)
    archs = [strategy.ask() for _ in range(3)]
    for arch, value, violation in zip(archs, (0.9, 0.5, 0.1), (1.0, 0.0, 0.0)):
        strategy.tell(arch, value, violation=violation)
    parents = []
    strategy._mutant = lambda parent: parents.append(parent) or space.sample(strategy.rng)
    strategy.ask()
    assert parents and set(parents) == {archs[1]}  # top-1 is the best feasible trial
