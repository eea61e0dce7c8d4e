"""Zero-cost proxies as surrogate features (NASLib's zero-cost-augmented predictors, e.g. ``omni_ngb.py``)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from ...analysis import analyse
from ...compiler import compile as compile_graph
from ...data import Dataset
from ..strategy import SearchError
from .evaluator import Minibatch
from .registry import PROXIES, check_names, score


class ProxyFeatures:
    """The values of ``names`` for an architecture of ``space``, standardised as NASLib's omni predictors do.

    :meth:`raw` scores an architecture once (its graph compiled with seeded weights, one seeded
    :class:`Minibatch`; cached by encoding: a few floats per architecture); proxies spanning orders of magnitude
    (:attr:`Proxy.log_scale`, e.g. synflow) enter as sign(v)·log(1 + |v|). :meth:`fit` takes each column's mean
    and standard deviation over the told architectures; :meth:`transform` standardises with them, and an
    undefined value (NaN, ±inf) becomes 0, the column's mean.
    """

    def __init__(self, space: Any, names: Sequence[str], data: str | Dataset = "digits", *, batch_size: int = 64,
                 seed: int = 0) -> None:
        if not callable(getattr(space, "to_graph", None)):
            raise SearchError(f"proxy features need a space with to_graph(), got {space!r}")
        self.names = check_names(names, "proxy_features")
        if not self.names:
            raise SearchError("proxy features need at least one proxy name")
        self.space, self.seed = space, seed
        self.minibatch = Minibatch(data, batch_size=batch_size, seed=seed)
        self._cache: dict[str, np.ndarray] = {}
        self._mean = np.zeros(len(self.names))
        self._std = np.ones(len(self.names))

    def raw(self, arch: Hashable) -> np.ndarray:
        """The (log-scaled where declared) proxy values of ``arch``; NaN where a proxy is undefined."""
        key = self.space.encode(arch)
        if key not in self._cache:
            G = self.space.to_graph(arch)
            analysis = analyse(G)
            x, y = self.minibatch.fitted(analysis.nodes[analysis.inputs[0]].out_shape)
            model = compile_graph(G, seed=self.seed)
            self._cache[key] = np.array([_scaled(name, score(name, model, x, y, graph=G, seed=self.seed))
                                         for name in self.names], dtype=float)
        return self._cache[key]

    def fit(self, archs: Sequence[Hashable]) -> np.ndarray:
        """Standardise by the told ``archs``' values; their standardised matrix (one row per arch)."""
        matrix = self._matrix(archs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column: its NaN mean is replaced below
            mean, std = np.nanmean(matrix, axis=0), np.nanstd(matrix, axis=0)
        self._mean = np.where(np.isfinite(mean), mean, 0.0)
        self._std = np.where(np.isfinite(std) & (std > 0), std, 1.0)
        return self.transform(archs)

    def transform(self, archs: Sequence[Hashable]) -> np.ndarray:
        """The standardised values of ``archs`` (one row per arch; 0 where undefined)."""
        standard = (self._matrix(archs) - self._mean) / self._std
        return np.where(np.isfinite(standard), standard, 0.0)

    def _matrix(self, archs: Sequence[Hashable]) -> np.ndarray:
        return np.array([self.raw(a) for a in archs], dtype=float).reshape(len(archs), len(self.names))


def _scaled(name: str, value: float) -> float:
    if not math.isfinite(value):
        return math.nan
    return math.copysign(math.log1p(abs(value)), value) if PROXIES[name].log_scale else value
