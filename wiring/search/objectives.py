"""Composable objectives: the MnasNet reward (docs/papers.md §7), several objectives and constraints at once."""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

from .strategy import SearchError

MNASNET_WEIGHTS = {"soft": (-0.07, -0.07), "hard": (0.0, -1.0)}
"""(α, β) of the MnasNet reward: soft constraint α = β = −0.07; hard constraint α = 0, β = −1."""


def mnasnet_reward(accuracy: float, latency: float, target: float, *, alpha: float = -0.07,
                   beta: float = -0.07) -> float:
    """ACC(m) · [LAT(m) / T]^w with w = α if LAT ≤ T else β (Tan et al. 2019)."""
    if not latency > 0 or not target > 0:
        raise SearchError(f"latency and target must be positive, got latency={latency!r}, target={target!r}")
    return accuracy * (latency / target) ** (alpha if latency <= target else beta)


class MnasNetReward:
    """Wraps an objective and a cost function into the MnasNet reward; keeps both parts as metrics.

    ``objective(arch)`` returns the accuracy (a float or a dict with
    ``"score"``); ``cost(arch)`` returns the latency (or any cost, e.g.
    multiply-adds from ``wiring.cost``); ``mode`` is ``"soft"`` or ``"hard"``
    (or give ``alpha``/``beta``). Calling it returns ``{"score": reward,
    "accuracy": ..., "cost": ...}``, which the runner records in full.
    """

    def __init__(self, objective: Callable[[Hashable], Any], cost: Callable[[Hashable], float], target: float, *,
                 mode: str = "soft", alpha: float | None = None, beta: float | None = None) -> None:
        if mode not in MNASNET_WEIGHTS:
            raise SearchError(f"mode must be one of {sorted(MNASNET_WEIGHTS)}, got mode={mode!r}")
        if not isinstance(target, (int, float)) or not target > 0:
            raise SearchError(f"target must be positive, got target={target!r}")
        default_alpha, default_beta = MNASNET_WEIGHTS[mode]
        self.objective, self.cost, self.target = objective, cost, target
        self.alpha = default_alpha if alpha is None else alpha
        self.beta = default_beta if beta is None else beta

    def __call__(self, arch: Hashable) -> dict[str, float]:
        result = self.objective(arch)
        accuracy = result["score"] if isinstance(result, dict) else result
        cost = self.cost(arch)
        reward = mnasnet_reward(accuracy, cost, self.target, alpha=self.alpha, beta=self.beta)
        return {"score": reward, "accuracy": accuracy, "cost": cost}


class Objectives:
    """The objective of a multi-objective or constrained run (what :func:`~wiring.search.run` evaluates).

    ``objectives`` maps each objective's name to ``"max"`` or ``"min"`` (in
    order); ``objective(arch)`` must return a dict holding a number under each
    name. The result gains ``"score"``: the first objective turned so that
    higher is better (its value for ``"max"``, minus it for ``"min"``), which
    ``SearchResult.best`` ranks by. ``constraints(result) -> sequence of
    numbers`` (Optuna's convention: feasible when every one is <= 0) adds
    ``"constraints"`` and ``"violation"`` (the sum of the positive ones). A
    missing or non-finite objective value fails the trial, naming it.
    """

    def __init__(self, objective: Callable[[Hashable], Any], objectives: Mapping[str, str] | None = None,
                 constraints: Callable[[dict[str, Any]], Sequence[float]] | None = None) -> None:
        self.objective = objective
        self.objectives = check_objectives(objectives) if objectives is not None else None
        if constraints is not None and not callable(constraints):
            raise SearchError(f"constraints must be callable (result -> sequence of numbers), got {constraints!r}")
        self.constraints = constraints

    def __call__(self, arch: Hashable) -> dict[str, Any]:
        result = self.objective(arch)
        result = dict(result) if isinstance(result, Mapping) else {"score": result}
        if self.objectives is not None:
            for name in self.objectives:
                value = result.get(name)
                if not _finite(value):
                    raise ValueError(f"objective returned {value!r} for objective {name!r}, not a finite number "
                                     f"(objectives: {', '.join(self.objectives)}; it returned keys {sorted(result)})")
            first, direction = next(iter(self.objectives.items()))
            result["score"] = result[first] if direction == "max" else -result[first]
        if self.constraints is not None:
            values = list(self.constraints(result))
            if not all(_finite(v) for v in values):
                raise ValueError(f"constraints returned {values!r}, not finite numbers")
            result["constraints"] = [float(v) for v in values]
            result["violation"] = float(sum(v for v in values if v > 0))
        return result

    @property
    def several(self) -> bool:
        """Whether more than one objective is named (the strategy is then told tuples)."""
        return self.objectives is not None and len(self.objectives) > 1

    def values(self, metrics: Mapping[str, Any]) -> tuple[float, ...]:
        """A complete trial's objective values turned so that higher is better, as strategies are told them."""
        return tuple(float(metrics[n]) if d == "max" else -float(metrics[n]) for n, d in self.objectives.items())


def check_objectives(objectives: Any) -> dict[str, str]:
    """``objectives`` as a dict name -> ``"max"``/``"min"``; :class:`SearchError` naming a bad entry."""
    if not isinstance(objectives, Mapping) or not objectives:
        raise SearchError(f"objectives must be a non-empty dict of name -> 'max' or 'min', e.g. "
                          f"{{'accuracy': 'max', 'params': 'min'}}, got {objectives!r}")
    for name, direction in objectives.items():
        if not isinstance(name, str) or not name or name == "score":
            raise SearchError(f"objective names must be non-empty strings other than 'score', got {name!r}")
        if direction not in ("max", "min"):
            raise SearchError(f"objective {name!r} must be 'max' or 'min', got {direction!r}")
    return dict(objectives)


def parse_objectives(text: str) -> dict[str, str]:
    """``"accuracy:max,params:min"`` as ``{"accuracy": "max", "params": "min"}`` (the CLI's ``--objectives``)."""
    objectives = {}
    for part in str(text).split(","):
        name, _, direction = part.strip().partition(":")
        if not name or direction not in ("max", "min") or name in objectives:
            raise SearchError(f"--objectives takes name:max or name:min, comma-separated, each name once, e.g. "
                              f"accuracy:max,params:min; got {part.strip()!r} in {text!r}")
        objectives[name] = direction
    return check_objectives(objectives)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
