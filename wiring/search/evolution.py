"""Evolutionary strategies: regularized (aging) evolution and SPOS' constrained evolution."""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from typing import Any

from generators.checks import positive_int

from .strategy import SearchError, Strategy


class RegularizedEvolution(Strategy):
    """Regularized evolution (AmoebaNet, Real et al. 2019; docs/papers.md §6).

    The first ``population`` asks are random samples. Then each ask samples
    ``sample`` members of the population uniformly, mutates the best (by the
    space's mutations) and, when told, the child joins and the **oldest**
    member leaves (aging). Failed trials (value None) never join; a trial told
    with a constraint violation joins but loses every tournament to a feasible
    one. Paper settings: P=100, S=25.

    ``unique=True`` (not in the paper, which may evaluate an architecture
    twice) redraws a sample or mutant already asked, up to ``max_tries``
    times, so no trial is spent on a repeat; useful on tabular benchmarks,
    where a repeat returns the same value.
    """

    def __init__(self, space: Any, *, seed: int | None = None, population: int = 100, sample: int = 25,
                 unique: bool = False, max_tries: int = 100) -> None:
        super().__init__(space, seed=seed)
        self.population_size = positive_int("population", population, error=SearchError)
        self.sample_size = positive_int("sample", sample, error=SearchError)
        if sample > population:
            raise SearchError(f"sample must not exceed population, got sample={sample}, population={population}")
        self.unique, self.max_tries = unique, positive_int("max_tries", max_tries, error=SearchError)
        self.population: deque[tuple[Hashable, float]] = deque()
        self.asked: set[str] = set()
        self._seeded = 0

    def _ask(self) -> Hashable:
        if self._seeded < self.population_size or not self.population:
            self._seeded += 1
            return self._draw(lambda: self.space.sample(self.rng))
        members = [self.population[self.rng.randrange(len(self.population))] for _ in range(self.sample_size)]
        parent = max(members, key=lambda member: self.rank_key(*member))[0]
        return self._draw(lambda: self.space.mutate(parent, self.rng))

    def _draw(self, draw: Any) -> Hashable:
        """``draw()``; with ``unique``, redrawn while it gives an architecture asked before (the last draw wins)."""
        return self._unseen(draw, self.asked, self.max_tries) if self.unique else draw()

    def _tell(self, arch: Hashable, value: float | None) -> None:
        if value is None:
            return
        self.population.append((arch, value))
        if len(self.population) > self.population_size:
            self.population.popleft()


class ConstrainedEvolution(Strategy):
    """SPOS' evolutionary search (Guo et al. 2020; docs/papers.md §9), usable with any objective.

    Generation 0: ``population`` random samples (the space's constraint, e.g.
    ``Constraint(max_macs=330e6)``, rejects candidates by static cost). Each
    later generation takes the ``top_k`` best told so far and proposes
    ``mutations`` mutants (every decision resampled with probability
    ``mutation_prob`` when the space exposes decisions, else one
    ``space.mutate``) and ``crossovers`` children of two random parents;
    candidates already evaluated or violating the constraint are rejected
    and redrawn; trials told with a constraint violation rank after every
    feasible one. Paper settings: population 50, top-k 10, 25 + 25 per round,
    p = 0.1, 20 iterations (``budget`` = 50 + 19 × 50 trials in the runner).
    """

    def __init__(self, space: Any, *, seed: int | None = None, population: int = 50, top_k: int = 10,
                 mutations: int = 25, crossovers: int = 25, mutation_prob: float = 0.1,
                 max_tries: int = 1000) -> None:
        super().__init__(space, seed=seed)
        self.population_size = positive_int("population", population, error=SearchError)
        self.top_k = positive_int("top_k", top_k, error=SearchError)
        self.mutations = positive_int("mutations", mutations, error=SearchError) if mutations else 0
        self.crossovers = positive_int("crossovers", crossovers, error=SearchError) if crossovers else 0
        if self.mutations + self.crossovers == 0:
            raise SearchError("mutations + crossovers must be positive, got 0")
        if not 0 < mutation_prob <= 1:
            raise SearchError(f"mutation_prob must be in (0, 1], got mutation_prob={mutation_prob!r}")
        self.mutation_prob = mutation_prob
        self.max_tries = positive_int("max_tries", max_tries, error=SearchError)
        self.seen: set[str] = set()
        self.queue: list[Hashable] = []

    def _ask(self) -> Hashable:
        if not self.queue:
            self.queue = self._generation()
        if not self.queue:  # parents too alike to breed anything new: fall back to fresh samples
            self.queue = self._fill(lambda: self.space.sample(self.rng), 1)
        if not self.queue:
            raise SearchError(f"no new admissible candidate in {self.max_tries} draws: the space may be exhausted")
        return self.queue.pop(0)

    def _generation(self) -> list[Hashable]:
        told = sorted((item for item in self.history if item[1] is not None), key=lambda item: self.rank_key(*item),
                      reverse=True)
        parents = [arch for arch, _ in told[:self.top_k]]
        if len(self.history) + len(self.pending) < self.population_size or not parents:
            count = self.population_size if not self.history else self.mutations + self.crossovers
            return self._fill(lambda: self.space.sample(self.rng), count)
        children = self._fill(lambda: self._mutant(self.rng.choice(parents)), self.mutations)
        if len(parents) >= 2 and callable(getattr(self.space, "crossover", None)):
            children += self._fill(lambda: self.space.crossover(*self.rng.sample(parents, 2), self.rng),
                                   self.crossovers)
        return children

    def _fill(self, draw: Any, count: int) -> list[Hashable]:
        found = (self._fresh(draw) for _ in range(count))
        return [arch for arch in found if arch is not None]

    def _mutant(self, parent: Hashable) -> Hashable:
        decisions = getattr(self.space, "decisions", None)
        if decisions is None:
            return self.space.mutate(parent, self.rng)
        indices = self.space.to_decisions(parent)
        for i, decision in enumerate(decisions()):
            if self.rng.random() < self.mutation_prob:
                indices[i] = self.rng.randrange(len(decision.choices))
        return self.space.from_decisions(indices)

    def _fresh(self, draw: Any) -> Hashable | None:
        """A candidate not evaluated or queued before that the space admits (constraint by rejection), or None."""
        admits = getattr(self.space, "admits", lambda arch: True)
        for _ in range(self.max_tries):
            arch = draw()
            key = self.space.encode(arch)
            if key not in self.seen and admits(arch):
                self.seen.add(key)
                return arch
        return None
