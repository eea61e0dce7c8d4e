"""Pareto fronts, NSGA-II's sorting and crowding distance, and the hypervolume, against brute force."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wiring.search import SearchError, crowding_distance, hypervolume, non_dominated_sort, pareto_front


def points_of(k: int, max_size: int = 8) -> st.SearchStrategy[list[tuple[int, ...]]]:
    """Small integer points: many ties and duplicates, the hard cases for dominance."""
    return st.lists(st.tuples(*[st.integers(0, 5)] * k), min_size=0, max_size=max_size)


def dominates(a, b) -> bool:
    return all(x <= y for x, y in zip(a, b)) and a != b


def brute_fronts(points) -> list[list[int]]:
    """Peel non-dominated sets off one at a time."""
    left, fronts = set(range(len(points))), []
    while left:
        front = sorted(i for i in left if not any(dominates(points[j], points[i]) for j in left))
        fronts.append(front)
        left -= set(front)
    return fronts


def brute_hypervolume(points, reference) -> float:
    """Inclusion–exclusion over every subset of boxes [p, reference]."""
    boxes = [p for p in points if all(x < r for x, r in zip(p, reference))]
    total = 0.0
    for size in range(1, len(boxes) + 1):
        for subset in itertools.combinations(boxes, size):
            corner = [max(values) for values in zip(*subset)]
            total += (-1) ** (size + 1) * math.prod(r - c for r, c in zip(reference, corner))
    return total


@given(k=st.integers(1, 4), data=st.data())
def test_non_dominated_sort_equals_peeling_fronts(k, data):
    points = data.draw(points_of(k, max_size=12))
    assert non_dominated_sort(points) == brute_fronts(points)


@given(points=points_of(2, max_size=10))
def test_pareto_front_is_the_first_front_best_score_first(points):
    front = pareto_front(points)  # (score, cost): maximise, minimise
    flipped = [(-s, c) for s, c in points]
    assert sorted(front) == (brute_fronts(flipped)[0] if points else [])
    assert [points[i][0] for i in front] == sorted((points[i][0] for i in front), reverse=True)


def test_pareto_front_keeps_its_two_objective_reading_and_takes_k_directions():
    points = [(0.9, 10.0), (0.8, 5.0), (0.85, 12.0), (0.7, 5.0), (0.95, 20.0)]
    assert pareto_front(points) == [4, 0, 1]
    three = [(0.9, 10.0, 3.0), (0.9, 10.0, 2.0), (0.8, 5.0, 9.0), (float("nan"), 1.0, 1.0)]
    assert pareto_front(three, ("max", "min", "min")) == [1, 2]
    with pytest.raises(SearchError, match="one direction per objective"):
        pareto_front(three)
    with pytest.raises(SearchError, match="directions must be 'max' or 'min', got 'up'"):
        pareto_front(points, ("up", "min"))
    with pytest.raises(SearchError, match=r"points\[1\] must be 2 numbers"):
        pareto_front([(1.0, 2.0), (1.0, "x")])


@given(k=st.integers(1, 3), data=st.data())
def test_hypervolume_equals_inclusion_exclusion(k, data):
    points = data.draw(points_of(k, max_size=7))
    reference = data.draw(st.tuples(*[st.integers(0, 7)] * k))
    assert hypervolume(points, reference) == pytest.approx(brute_hypervolume(points, reference))


def test_hypervolume_by_hand_and_with_directions():
    assert hypervolume([(1, 2), (2, 1)], (3, 3)) == 3.0
    assert hypervolume([(1, 2, 1), (2, 1, 1), (1, 1, 2)], (3, 3, 3)) == 7.0
    # accuracy up, params down: the same volume as the negated problem
    assert hypervolume([(0.9, 2.0), (0.8, 1.0)], (0.0, 3.0), ("max", "min")) == pytest.approx(0.9 * 1 + 0.8 * 1)
    assert hypervolume([], (1.0, 1.0)) == 0.0
    with pytest.raises(SearchError, match="reference must be finite numbers"):
        hypervolume([(1, 1)], (float("nan"), 2))
    with pytest.raises(SearchError, match="reference has 3 objectives, the points 2"):
        hypervolume([(1, 1)], (2, 2, 2))


@given(points=points_of(3, max_size=8).filter(lambda p: len(p) >= 1), scale=st.sampled_from([1, 10, 1000]))
def test_a_dominated_point_adds_no_hypervolume_and_scaling_scales_it(points, scale):
    reference = (6, 6, 6)
    worse = tuple(min(v + 1, 6) for v in points[0])
    assert hypervolume(points + [worse], reference) == pytest.approx(hypervolume(points, reference))
    scaled = [(x * scale, y, z) for x, y, z in points]
    assert hypervolume(scaled, (6 * scale, 6, 6)) == pytest.approx(scale * hypervolume(points, reference))


def test_crowding_distance_by_hand():
    line = [(1, 4), (2, 3), (3, 2), (4, 1)]
    assert crowding_distance(line, [0, 1, 2, 3]) == {0: math.inf, 1: 4 / 3, 2: 4 / 3, 3: math.inf}
    uneven = [(0, 10), (1, 9), (9, 1), (10, 0)]  # the point next to a wide gap is less crowded
    distance = crowding_distance(uneven, [0, 1, 2, 3])
    assert distance[1] == pytest.approx(distance[2]) == pytest.approx(2 * 9 / 10)
    assert crowding_distance(line, [1, 2]) == {1: math.inf, 2: math.inf}


@given(points=st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), min_size=3, max_size=9, unique=True),
       scale=st.sampled_from([0.5, 3.0]))
def test_crowding_distance_ends_are_infinite_and_it_ignores_the_scale_of_an_objective(points, scale):
    front = list(range(len(points)))
    distance = crowding_distance(points, front)
    for m in range(2):
        values = [p[m] for p in points]
        for end in (min(values), max(values)):  # one of the points at each end (ties: the first by index)
            assert any(distance[i] == math.inf for i in front if values[i] == end)
    assert all(d >= 0 for d in distance.values())
    rescaled = crowding_distance([(x * scale, y) for x, y in points], front)
    assert rescaled == pytest.approx(distance)
