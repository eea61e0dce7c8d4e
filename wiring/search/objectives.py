"""Composable objectives: the MnasNet reward (docs/papers.md §7)."""

from __future__ import annotations

from collections.abc import Callable, Hashable
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
