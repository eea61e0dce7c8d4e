"""Parameter importance of a search: how much of the score's variance each decision explains on its own.

For each parameter (a decision of the space, or a recorded hyperparameter), the complete trials are grouped by
its value, and its importance is the **correlation ratio** η² = Σ_g n_g (m_g − m)² / Σ_i (y_i − m)²: the variance
of the group means (weighted by group size) over the variance of the scores. It is the first-order (main-effect)
variance share of a one-way ANOVA, what fANOVA calls a main effect, computed on the trials as sampled rather
than on a fitted model: 0 when the parameter's value does not move the mean score, 1 when it alone fixes the
score. The shares of several parameters need not sum to 1 (interactions; correlated samples of an adaptive
strategy). With few trials per value η² is biased upwards (each group mean is noisy), so the table gives the
number of values and trials behind each share.

Values: with a space, each decision's choice (:meth:`~spaces.base.Space.decisions`,
:meth:`~spaces.base.Space.to_decisions`; a hyperparameter space snaps floats to its grid); without one, each
recorded hyperparameter (:attr:`Trial.hyperparameters`), numbers with more than :data:`BINS` distinct values
put in :data:`BINS` bins of equal counts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

BINS = 5
"""Bins for a numeric hyperparameter with more distinct values than this (no space given)."""

MIN_TRIALS = 4
"""Complete trials needed before any importance is shown."""


@dataclass(frozen=True)
class Importance:
    """One parameter's η² and what it rests on: its values (groups), their trial counts and mean scores."""

    name: str
    eta2: float
    groups: tuple[tuple[str, int, float], ...]
    """``(value, trials, mean score)`` per value, best mean first."""

    @property
    def best(self) -> tuple[str, int, float]:
        return self.groups[0]


def eta_squared(values: Sequence[Any], scores: Sequence[float]) -> float | None:
    """η² of ``scores`` grouped by ``values`` (None when the scores do not vary or there is one group)."""
    n = len(scores)
    if n < 2 or len(set(values)) < 2:
        return None
    mean = math.fsum(scores) / n
    total = math.fsum((y - mean) ** 2 for y in scores)
    if not total > 0:
        return None
    groups: dict[Any, list[float]] = {}
    for v, y in zip(values, scores):
        groups.setdefault(v, []).append(y)
    between = math.fsum(len(ys) * (math.fsum(ys) / len(ys) - mean) ** 2 for ys in groups.values())
    return min(1.0, max(0.0, between / total))


def parameter_values(trials: Sequence[Any], space: Any = None) -> tuple[str, dict[str, list[str]]] | None:
    """``(where from, name -> one value label per trial)``: the space's decisions where it has them and every
    trial decodes, else the recorded hyperparameters; None when there are neither."""
    if space is not None and callable(getattr(space, "to_decisions", None)) and trials:
        try:
            decisions = list(space.decisions())
            columns: dict[str, list[str]] = {d.name: [] for d in decisions}
            if len(columns) == len(decisions) and decisions:
                for trial in trials:
                    indices = space.to_decisions(trial.arch)
                    for d, i in zip(decisions, indices):
                        columns[d.name].append(_label(d.choices[i]))
                return "decisions", columns
        except Exception:  # noqa: BLE001 -- a space without decisions (or an arch it does not take): fall back
            pass
    configs = [t.hyperparameters for t in trials]
    if not configs or not all(isinstance(c, dict) and c for c in configs):
        return None
    names = [name for name in configs[0] if all(name in c for c in configs)]
    columns = {}
    for name in names:
        raw = [c[name] for c in configs]
        columns[name] = _binned(raw) if _numeric(raw) and len(set(raw)) > BINS else [_label(v) for v in raw]
    return ("hyperparameters", columns) if columns else None


def importances(trials: Sequence[Any], space: Any = None) -> tuple[str, list[Importance]] | None:
    """The η² of every parameter over the complete trials, largest first; None when there are fewer than
    :data:`MIN_TRIALS` complete trials or no parameter values (see :func:`parameter_values`)."""
    complete = [t for t in trials if t.status == "complete" and t.score is not None and math.isfinite(t.score)]
    if len(complete) < MIN_TRIALS or (space is not None and any(t.arch is None for t in complete)):
        if space is None or len(complete) < MIN_TRIALS:
            return None
        space = None  # some encodings did not decode: use what was recorded
    found = parameter_values(complete, space)
    if found is None:
        return None
    source, columns = found
    scores = [t.score for t in complete]
    results = []
    for name, values in columns.items():
        eta2 = eta_squared(values, scores)
        if eta2 is None:
            continue
        groups: dict[str, list[float]] = {}
        for v, y in zip(values, scores):
            groups.setdefault(v, []).append(y)
        summary = sorted(((v, len(ys), math.fsum(ys) / len(ys)) for v, ys in groups.items()), key=lambda g: -g[2])
        results.append(Importance(name, eta2, tuple(summary)))
    results.sort(key=lambda r: -r.eta2)
    return source, results


def _numeric(values: Sequence[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _label(value: Any) -> str:
    return format(value, ".4g") if isinstance(value, float) else str(value)


def _binned(values: Sequence[float]) -> list[str]:
    """Each value's bin among :data:`BINS` bins of (nearly) equal counts, labelled by its range."""
    ordered = sorted(values)
    first = {}
    for rank, v in enumerate(ordered):
        first.setdefault(v, rank)  # equal values share a bin: the one of their first rank
    bins = [min(BINS - 1, first[v] * BINS // len(values)) for v in values]
    ranges: dict[int, list[float]] = {}
    for b, v in zip(bins, values):
        ranges.setdefault(b, []).append(v)
    labels = {b: f"{_label(float(min(vs)))}…{_label(float(max(vs)))}" for b, vs in ranges.items()}
    return [labels[b] for b in bins]
