"""Pareto dominance in k objectives: fronts, NSGA-II's non-dominated sorting and crowding distance, hypervolume.

Points are sequences of k numbers; ``directions`` says per objective whether
higher (``"max"``) or lower (``"min"``) is better. Internally everything is
minimised (maximised objectives are negated). Points with a NaN are dominated
by every other point and never on a front.

- :func:`dominates`: Pareto dominance of one point over another.
- :func:`pareto_front`: indices of the non-dominated points.
- :func:`non_dominated_sort`: all fronts, best first (Deb et al. 2002, fast
  non-dominated sorting).
- :func:`crowding_distance`: NSGA-II's crowding distance within one front.
- :func:`hypervolume`: the exact volume the points dominate up to a reference
  point (2-d sweep; k-d by slicing, as Whiley et al.'s HSO).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .strategy import SearchError

DIRECTIONS = ("max", "min")


def _as_minimised(points: Sequence[Sequence[float]], directions: Sequence[str] | None,
                  what: str = "points") -> list[tuple[float, ...]]:
    """``points`` as tuples to minimise; :class:`SearchError` naming a malformed point or direction."""
    rows = [tuple(point) for point in points]
    if not rows:
        return []
    k = len(rows[0])
    directions = ("min",) * k if directions is None else tuple(directions)
    bad = [d for d in directions if d not in DIRECTIONS]
    if bad:
        raise SearchError(f"directions must be 'max' or 'min', got {bad[0]!r}")
    if len(directions) != k:
        raise SearchError(f"{len(directions)} directions {directions} for {what} of {k} objectives; give one "
                          f"direction per objective")
    minimised = []
    for i, row in enumerate(rows):
        if len(row) != k or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in row):
            raise SearchError(f"{what}[{i}] must be {k} numbers, got {row!r}")
        if any(math.isnan(v) for v in row):
            minimised.append((math.inf,) * k)  # worse than anything: on no front but the last
        else:
            minimised.append(tuple(-float(v) if d == "max" else float(v) for v, d in zip(row, directions)))
    return minimised


def _dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """``a`` is no worse than ``b`` in every objective and better in one (minimisation)."""
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def dominates(a: Sequence[float], b: Sequence[float], directions: Sequence[str] | None = None) -> bool:
    """``a`` is no worse than ``b`` in every objective and better in one (``directions``: all ``"min"``)."""
    x, y = _as_minimised([a, b], directions)
    return _dominates(x, y)


def pareto_front(points: Sequence[Sequence[float]], directions: Sequence[str] = ("max", "min")) -> list[int]:
    """Indices of the points no other point dominates, best first in the first objective.

    The default ``directions`` read 2-d points as (score, cost): higher score,
    lower cost. Points with a NaN are never on the front; equal points are all on it.
    """
    minimised = _as_minimised(points, directions)
    front = [i for i, p in enumerate(minimised)
             if not math.isinf(p[0]) and not any(_dominates(q, p) for q in minimised)]
    return sorted(front, key=lambda i: (minimised[i], i))


def non_dominated_sort(points: Sequence[Sequence[float]], directions: Sequence[str] | None = None) -> list[list[int]]:
    """Every front of ``points``, best first: front 0 is non-dominated, front 1 is once the first is removed...

    Deb et al.'s fast non-dominated sorting, O(k·n²). ``directions`` defaults to
    minimising every objective. Indices within a front are ascending.
    """
    minimised = _as_minimised(points, directions)
    n = len(minimised)
    dominated_by = [[] for _ in range(n)]  # the points each point dominates
    counts = [0] * n  # how many points dominate each point
    for i in range(n):
        for j in range(i + 1, n):
            if _dominates(minimised[i], minimised[j]):
                dominated_by[i].append(j)
                counts[j] += 1
            elif _dominates(minimised[j], minimised[i]):
                dominated_by[j].append(i)
                counts[i] += 1
    fronts, current = [], [i for i in range(n) if counts[i] == 0]
    while current:
        fronts.append(sorted(current))
        following = []
        for i in current:
            for j in dominated_by[i]:
                counts[j] -= 1
                if counts[j] == 0:
                    following.append(j)
        current = following
    return fronts


def crowding_distance(points: Sequence[Sequence[float]], front: Sequence[int],
                      directions: Sequence[str] | None = None) -> dict[int, float]:
    """NSGA-II's crowding distance of each index of ``front`` among the points of that front.

    Per objective the front is sorted; its two ends get ``inf`` and every other
    point the gap between its neighbours divided by the objective's range; the
    distances add over objectives (Deb et al. 2002, §III-B). An objective with no
    range adds nothing to the interior points.
    """
    minimised = _as_minimised(points, directions)
    distance = {i: 0.0 for i in front}
    if len(front) <= 2:
        return {i: math.inf for i in front}
    k = len(minimised[front[0]])
    for m in range(k):
        ordered = sorted(front, key=lambda i: (minimised[i][m], i))
        low, high = minimised[ordered[0]][m], minimised[ordered[-1]][m]
        distance[ordered[0]] = distance[ordered[-1]] = math.inf
        if high == low:
            continue
        for before, i, after in zip(ordered, ordered[1:], ordered[2:]):
            distance[i] += (minimised[after][m] - minimised[before][m]) / (high - low)
    return distance


def hypervolume(points: Sequence[Sequence[float]], reference: Sequence[float],
                directions: Sequence[str] | None = None) -> float:
    """The volume of objective space the points dominate, bounded by ``reference`` (exact).

    ``directions`` defaults to minimising every objective; ``reference`` is a
    point worse than the points in every objective (points not better than it
    in every objective add nothing). Exact in any dimension: a sweep in 2-d, and
    slicing along the last objective above (fast for 2–3 objectives and fronts
    of hundreds of points; the cost grows steeply with more objectives).
    """
    reference = tuple(reference)
    if not reference or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                                for v in reference):
        raise SearchError(f"reference must be finite numbers, one per objective, got {reference!r}")
    (ref,) = _as_minimised([reference], directions, "reference")
    minimised = _as_minimised(points, directions)
    if minimised and len(minimised[0]) != len(ref):
        raise SearchError(f"reference has {len(ref)} objectives, the points {len(minimised[0])}")
    inside = [p for p in minimised if all(x < r for x, r in zip(p, ref))]
    return _volume(sorted(set(inside)), ref)


def _volume(points: list[tuple[float, ...]], ref: tuple[float, ...]) -> float:
    if not points:
        return 0.0
    if len(ref) == 1:
        return ref[0] - min(p[0] for p in points)
    if len(ref) == 2:
        volume, best_y = 0.0, ref[1]
        for x, y in sorted(points):  # by x ascending: each point adds the strip below the best y so far
            if y < best_y:
                volume += (ref[0] - x) * (best_y - y)
                best_y = y
        return volume
    # Slice along the last objective: between consecutive levels, the points at or below a level dominate a
    # (k-1)-d region of constant shape.
    by_last = sorted(points, key=lambda p: p[-1])
    volume = 0.0
    for i, point in enumerate(by_last):
        top = by_last[i + 1][-1] if i + 1 < len(by_last) else ref[-1]
        if top > point[-1]:
            volume += (top - point[-1]) * _volume([p[:-1] for p in by_last[:i + 1]], ref[:-1])
    return volume
