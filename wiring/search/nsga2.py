"""NSGA-II over any space (Deb et al. 2002), with NSGANet's settings (Lu et al. 2019; docs/papers.md §15).

Told values are tuples, every objective to maximise (the runner negates the
ones to minimise); a single number is one objective. A generation:

1. **Survival.** The told members (the previous survivors and the offspring
   told since) are ranked by constrained non-dominated sorting: feasible
   trials by Pareto fronts, then infeasible ones by their violation; the
   best ``population`` survive, a front that does not fit whole being cut by
   crowding distance (the most isolated kept).
2. **Offspring.** ``offspring`` children, each from two binary tournaments
   among the survivors (the one that dominates wins, else the less crowded;
   infeasible: the smaller violation), crossed over by the space's
   ``crossover`` with probability ``crossover_prob``, then mutated by the
   space's ``mutate``. A child asked before is redrawn (NSGANet's
   ``eliminate_duplicates``), up to ``max_tries`` times.

Generation 0 is ``population`` random samples. NSGANet: population 40,
40 offspring per generation, 30 (micro) or 50 (macro) generations. The
reference draws with numpy via pymoo; here the strategy's own
``random.Random`` is used, so runs are reproducible from ``seed``, not
number-for-number equal to pymoo's. Its crowding distance treats equal
objective values as pymoo does not (Deb's original here), which only changes
ties.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from generators.checks import positive_int

from .pareto import crowding_distance, dominates, non_dominated_sort
from .strategy import SearchError, Strategy


MAXIMISE = ("max",)


class NSGA2(Strategy):
    """Non-dominated sorting genetic algorithm II; see the module docstring."""

    multi_objective = True

    def __init__(self, space: Any, *, seed: int | None = None, population: int = 40, offspring: int = 40,
                 crossover_prob: float = 0.9, max_tries: int = 100) -> None:
        super().__init__(space, seed=seed)
        self.population_size = positive_int("population", population, error=SearchError)
        self.offspring = positive_int("offspring", offspring, error=SearchError)
        if not 0 <= crossover_prob <= 1:
            raise SearchError(f"crossover_prob must be in [0, 1], got crossover_prob={crossover_prob!r}")
        self.crossover_prob = crossover_prob
        self.max_tries = positive_int("max_tries", max_tries, error=SearchError)
        self.survivors: list[tuple[Hashable, tuple[float, ...]]] = []
        self.newcomers: list[tuple[Hashable, tuple[float, ...]]] = []
        self.asked: set[str] = set()
        self.queue: list[Hashable] = []
        self._seeded = 0

    def _ask(self) -> Hashable:
        if self._seeded < self.population_size:
            self._seeded += 1
            return self._unseen(lambda: self.space.sample(self.rng), self.asked, self.max_tries)
        if not self.queue:
            self._survive()
            self.queue = self._children() if self.survivors else []
        if not self.queue:  # nothing told yet (all failed, or all pending): sample
            return self._unseen(lambda: self.space.sample(self.rng), self.asked, self.max_tries)
        return self.queue.pop(0)

    def _tell(self, arch: Hashable, value: Any) -> None:
        if value is None:
            return
        values = value if isinstance(value, tuple) else (value,)
        known = next((v for _, v in self.survivors + self.newcomers), None)
        if known is not None and len(known) != len(values):
            raise SearchError(f"NSGA2 was told {len(known)} objectives before, now {len(values)}: {value!r}")
        self.newcomers.append((arch, values))

    # -- survival ----------------------------------------------------------------

    def _ranked(self, members: list[tuple[Hashable, tuple[float, ...]]]) -> tuple[list[list[int]], dict[int, float]]:
        """Fronts of ``members`` (feasible by domination, then infeasible by violation, equal violations one
        front) and their crowding distances (0 for infeasible members)."""
        violations = [self.violation(arch) for arch, _ in members]
        feasible = [i for i, v in enumerate(violations) if v == 0]
        fronts, crowding = [], {}
        if feasible:
            points = [members[i][1] for i in feasible]
            directions = MAXIMISE * len(points[0])
            for local in non_dominated_sort(points, directions):
                fronts.append([feasible[j] for j in local])
                crowding.update({feasible[j]: d for j, d in crowding_distance(points, local, directions).items()})
        groups: dict[float, list[int]] = {}
        for i in sorted((i for i, v in enumerate(violations) if v > 0), key=lambda i: (violations[i], i)):
            groups.setdefault(violations[i], []).append(i)
            crowding[i] = 0.0
        return fronts + list(groups.values()), crowding

    def _survive(self) -> None:
        if not self.newcomers:
            return
        members = self.survivors + self.newcomers
        fronts, crowding = self._ranked(members)
        kept: list[int] = []
        for front in fronts:
            room = self.population_size - len(kept)
            if room <= 0:
                break
            kept += front if len(front) <= room else sorted(front, key=lambda i: (-crowding[i], i))[:room]
        self.survivors = [members[i] for i in sorted(kept)]
        self.newcomers = []

    # -- offspring ---------------------------------------------------------------

    def _children(self) -> list[Hashable]:
        _, crowding = self._ranked(self.survivors)
        return [self._unseen(lambda: self._child(crowding), self.asked, self.max_tries) for _ in range(self.offspring)]

    def _child(self, crowding: dict[int, float]) -> Hashable:
        first, second = self._tournament(crowding), self._tournament(crowding)
        crossover = getattr(self.space, "crossover", None)
        if callable(crossover) and first != second and self.rng.random() < self.crossover_prob:
            child = crossover(self.survivors[first][0], self.survivors[second][0], self.rng)
        else:
            child = self.survivors[first][0]
        return self.space.mutate(child, self.rng)

    def _tournament(self, crowding: dict[int, float]) -> int:
        """NSGANet's binary tournament: feasibility (smaller violation), then domination, then crowding."""
        a, b = self.rng.randrange(len(self.survivors)), self.rng.randrange(len(self.survivors))
        va, vb = self.violation(self.survivors[a][0]), self.violation(self.survivors[b][0])
        if va or vb:
            return a if va < vb else b if vb < va else self.rng.choice((a, b))
        fa, fb = self.survivors[a][1], self.survivors[b][1]
        if dominates(fa, fb, MAXIMISE * len(fa)):
            return a
        if dominates(fb, fa, MAXIMISE * len(fa)):
            return b
        if crowding[a] != crowding[b]:
            return a if crowding[a] > crowding[b] else b
        return self.rng.choice((a, b))

    @property
    def front(self) -> list[tuple[Hashable, tuple[float, ...]]]:
        """The feasible non-dominated (architecture, values) pairs told so far."""
        members = [(a, v if isinstance(v, tuple) else (v,)) for a, v in self.history
                   if v is not None and self.violation(a) == 0]
        if not members:
            return []
        return [members[i] for i in non_dominated_sort([v for _, v in members], MAXIMISE * len(members[0][1]))[0]]

