"""ZeroCostEvaluator: an objective for :func:`wiring.search.run` scoring each candidate by a zero-cost proxy."""

from __future__ import annotations

import math
import time
from collections.abc import Hashable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from ...analysis import analyse
from ...compiler import compile as compile_graph
from ...cost import cost
from ...data import Dataset, load_dataset
from ..evaluators import fit_input
from ..strategy import SearchError
from .registry import check_names, get, score


class Minibatch:
    """One seeded minibatch of a dataset's training split, fitted to each graph input shape it is asked for.

    ``data`` is a dataset name (loaded on first use, so a pickled copy reloads it in its worker) or a
    :class:`~wiring.data.Dataset`. The ``batch_size`` examples are drawn without replacement by
    ``numpy.random.default_rng(seed)``; images are fitted as :class:`~wiring.search.evaluators.TrainingEvaluator`
    fits them (channels repeated, bilinear resize). One small batch is kept per input shape.
    """

    def __init__(self, data: str | Dataset = "digits", *, batch_size: int = 64, seed: int = 0) -> None:
        if not isinstance(data, (str, Dataset)):
            raise SearchError(f"data must be a dataset name or a wiring.data.Dataset, got {data!r}")
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 2:
            raise SearchError(f"batch_size must be an int >= 2 (correlations need two samples), got {batch_size!r}")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise SearchError(f"seed must be an int, got seed={seed!r}")
        self.data, self.batch_size, self.seed = data, batch_size, seed
        self._batch: Dataset | None = None
        self._fitted: dict[tuple[int, ...], tuple[torch.Tensor, torch.Tensor]] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_batch": None, "_fitted": {}}

    def batch(self) -> Dataset:
        """The drawn examples, as a dataset whose training split holds them (and whose other splits are empty)."""
        if self._batch is None:
            data = load_dataset(self.data, seed=self.seed) if isinstance(self.data, str) else self.data
            if len(data.y_train) < 2:
                raise SearchError(f"{data.name} has {len(data.y_train)} training example(s); a minibatch needs two")
            rng = np.random.default_rng(self.seed)
            index = torch.as_tensor(np.sort(rng.choice(len(data.y_train), min(self.batch_size, len(data.y_train)),
                                                       replace=False)))
            x, y = data.x_train[index], data.y_train[index]
            self._batch = replace(data, x_train=x, y_train=y, x_val=x[:0], y_val=y[:0], x_test=x[:0], y_test=y[:0])
        return self._batch

    def fitted(self, shape: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(inputs, labels)`` with inputs shaped ``(batch, *shape)``."""
        shape = tuple(shape)
        if shape not in self._fitted:
            batch = fit_input(self.batch(), shape)
            self._fitted[shape] = (batch.x_train, batch.y_train)
        return self._fitted[shape]


class ZeroCostEvaluator:
    """Score a candidate by a zero-cost proxy: build its graph, compile it with seeded weights, score it on one
    seeded minibatch (see :mod:`wiring.search.proxies` for each proxy and what it reads).

    Streaming: each architecture is built, compiled, scored and dropped; only the minibatch is kept. A proxy that
    is undefined for a candidate (NaN, ±inf) raises :class:`SearchError` naming the candidate and the proxy, so
    :func:`~wiring.search.run` records a failed trial. ``metrics`` names further proxies recorded beside the score
    (their values may be non-finite). Returns ``{"score", <proxy>, *metrics, "params", "macs",
    "proxy_seconds"}``.
    """

    def __init__(self, space: Any, proxy: str = "nwot", data: str | Dataset = "digits", *, batch_size: int = 64,
                 seed: int = 0, metrics: Sequence[str] = ()) -> None:
        if not callable(getattr(space, "to_graph", None)):
            raise SearchError(f"ZeroCostEvaluator needs a space with to_graph(), got {space!r}")
        get(proxy)
        self.space, self.proxy = space, proxy
        self.metrics = check_names(metrics, "metrics")
        self.minibatch = Minibatch(data, batch_size=batch_size, seed=seed)
        self.data, self.batch_size, self.seed = data, batch_size, seed

    def __call__(self, arch: Hashable) -> dict[str, Any]:
        G = self.space.to_graph(arch)
        analysis = analyse(G)
        if len(analysis.inputs) != 1:
            raise SearchError(f"ZeroCostEvaluator scores graphs of one input; {self._name(arch)} has "
                              f"{len(analysis.inputs)}")
        shape = tuple(analysis.nodes[analysis.inputs[0]].out_shape)
        x, y = self.minibatch.fitted(shape)
        started = time.perf_counter()
        model = compile_graph(G, seed=self.seed)
        values = {name: score(name, model, x, y, graph=G, seed=self.seed) for name in dict.fromkeys(
            (self.proxy, *self.metrics))}
        seconds = time.perf_counter() - started
        value = values[self.proxy]
        if not math.isfinite(value):
            raise SearchError(f"proxy {self.proxy!r} is {value} for {self._name(arch)}")
        size = cost(G, shape)
        return {"score": value, **values, "params": size.params, "macs": size.macs, "proxy_seconds": seconds}

    def _name(self, arch: Hashable) -> str:
        return repr(self.space.encode(arch))
