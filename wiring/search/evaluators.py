"""Performance estimation: training and tabular evaluators, learning-curve stopping, successive halving / Hyperband.

Evaluators are objectives for :func:`wiring.search.run`: ``evaluator(arch) ->
{"score": validation accuracy, ...}`` with the test accuracy kept apart as a
metric (docs/papers.md §11). They are plain picklable objects, so process-pool and Ray
workers can run them.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

from ..analysis import analyse
from ..cost import cost
from ..data import Dataset, load_dataset
from ..data.images import mapped, take
from ..train import EpochRecord, train
from .strategy import SearchError, Strategy


class TrainingEvaluator:
    """Compile a candidate, train it on a dataset at a given fidelity, report validation accuracy.

    ``dataset``: a name of :data:`wiring.data.DATASETS` (read with ``path`` and
    ``dataset_options`` by :func:`wiring.data.load_dataset`, in each worker of a
    process pool) or a :class:`wiring.data.Dataset` (the user's own, pickled to workers).

    Fidelity: ``epochs`` and ``data_fraction`` (a stratified subsample of the
    training split; validation and test splits stay whole). Images are fitted
    to the graph's input (channels repeated, bilinear resize), so any image
    space trains on the embedded 8×8 digits. ``stopper`` (e.g.
    :class:`CurveStopper`) may end hopeless trials early: their result carries
    ``"stopped": True``. Returns ``{"score", "test_accuracy", "params", "macs",
    "epochs", "train_seconds", "stopped"}``.
    """

    def __init__(self, space: Any, *, dataset: str | Dataset = "digits", epochs: int = 5, data_fraction: float = 1.0,
                 seed: int = 0, stopper: CurveStopper | None = None, path: str | None = None,
                 dataset_options: dict[str, Any] | None = None, **train_options: Any) -> None:
        if not callable(getattr(space, "to_graph", None)):
            raise SearchError(f"TrainingEvaluator needs a space with to_graph(), got {space!r}")
        if not 0 < data_fraction <= 1:
            raise SearchError(f"data_fraction must be in (0, 1], got data_fraction={data_fraction!r}")
        self.space, self.dataset, self.epochs, self.data_fraction = space, dataset, epochs, data_fraction
        self.seed, self.stopper, self.train_options = seed, stopper, train_options
        self.path, self.dataset_options = path, dict(dataset_options or {})
        self._data = None
        self._fitted: dict[tuple[int, ...], Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_data": None, "_fitted": {}}  # workers read a named dataset themselves

    def data(self) -> Any:
        if self._data is None:
            data = self.dataset if isinstance(self.dataset, Dataset) else load_dataset(
                self.dataset, path=self.path, seed=self.seed, **self.dataset_options)
            self._data = training_fraction(data, self.data_fraction, self.seed)
        return self._data

    def __call__(self, arch: Hashable, *, epochs: int | None = None) -> dict[str, Any]:
        G = self.space.to_graph(arch)
        analysis = analyse(G)
        shape = tuple(analysis.nodes[analysis.inputs[0]].out_shape)
        if shape not in self._fitted:  # one resize per input shape, not per trial
            self._fitted[shape] = fit_input(self.data(), shape)
        data = self._fitted[shape]
        stop = None if self.stopper is None else (lambda history: self.stopper.should_stop(history,
                                                                                         epochs or self.epochs))
        result = train(G, data, epochs=epochs or self.epochs, seed=self.seed, progress=False,
                       early_stopping=stop, **self.train_options)
        size = cost(G, data.input_shape)
        if self.stopper is not None and not result.stopped_early:
            self.stopper.record(result.val_accuracy)
        return {"score": result.val_accuracy, "test_accuracy": result.test_accuracy, "params": size.params,
                "macs": size.macs, "epochs": result.epochs_run, "train_seconds": result.train_seconds,
                "stopped": result.stopped_early}


def fit_input(data: Any, shape: tuple[int, ...]) -> Any:
    """``data`` with images shaped like a graph's input: channels repeated, bilinear resize."""
    from dataclasses import replace

    import torch.nn.functional as F

    if tuple(data.input_shape) == tuple(shape):
        return data
    channels, *size = shape
    if len(size) != 2 or channels % data.input_shape[0]:
        raise SearchError(f"cannot fit {data.name} images {data.input_shape} to the graph's input {tuple(shape)}")

    def adapt(x: Any) -> Any:
        x = x.repeat(1, channels // data.input_shape[0], 1, 1)
        return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)

    return replace(data, x_train=mapped(data.x_train, adapt), x_val=mapped(data.x_val, adapt),
                   x_test=mapped(data.x_test, adapt), input_shape=tuple(shape))


def training_fraction(data: Any, fraction: float, seed: int) -> Any:
    """``data`` with its training split cut to ``fraction`` of it (at least ``num_classes`` examples), stratified by
    class with a seeded draw; ``data`` itself when nothing is cut."""
    keep = max(data.num_classes, round(fraction * len(data.y_train)))
    return data if keep >= len(data.y_train) else _subsample(data, keep, seed)


def _subsample(data: Any, keep: int, seed: int) -> Any:
    from dataclasses import replace

    import torch

    rng = np.random.default_rng(seed)
    labels = data.y_train.numpy()
    chosen = []
    for label in np.unique(labels):  # stratified: each class in proportion
        members = np.flatnonzero(labels == label)
        chosen += list(rng.permutation(members)[:max(1, round(keep * len(members) / len(labels)))])
    index = np.array(sorted(chosen), dtype=np.int64)
    return replace(data, x_train=take(data.x_train, index), y_train=data.y_train[torch.from_numpy(index)])


class TabularEvaluator:
    """Look a candidate up in a benchmark table (``space.query(arch)``, e.g. ``spaces.nasbench_graph``).

    Tables hold no training time: the budget is counted in queries. Returns
    ``{"score": row[metric], "test_accuracy": row[test_metric], ...the row}``.
    """

    def __init__(self, space: Any, *, metric: str = "valid_perf", test_metric: str = "perf") -> None:
        if not callable(getattr(space, "query", None)):
            raise SearchError(f"TabularEvaluator needs a space with query(arch), got {space!r}")
        self.space, self.metric, self.test_metric = space, metric, test_metric

    def __call__(self, arch: Hashable) -> dict[str, Any]:
        row = self.space.query(arch)
        if self.metric not in row:
            raise SearchError(f"the table has no metric {self.metric!r}; it has {sorted(row)}")
        return {**row, "score": row[self.metric], "test_accuracy": row.get(self.test_metric)}


def _saturating(t: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    """a − b·t^(−c): a learning curve rising to its asymptote a."""
    return a - b * np.power(t, -c)


class CurveStopper:
    """Learning-curve extrapolation: stop a trial whose extrapolated final score cannot beat the best.

    After ``min_epochs`` epochs, fit ``a − b·t^(−c)`` to the validation
    accuracies and extrapolate to the final epoch; stop when that estimate,
    plus ``margin``, is below the best final score seen so far. With too few
    finished trials (``warmup``) nothing is stopped. State is per process.
    """

    def __init__(self, *, min_epochs: int = 3, margin: float = 0.02, warmup: int = 3) -> None:
        if min_epochs < 2:
            raise SearchError(f"min_epochs must be at least 2 to fit a curve, got {min_epochs}")
        self.min_epochs, self.margin, self.warmup = min_epochs, margin, warmup
        self.finals: list[float] = []

    def record(self, final: float) -> None:
        self.finals.append(final)

    def predict(self, scores: list[float], epochs: int) -> float:
        """The extrapolated score at ``epochs`` from the scores of epochs 1..len(scores)."""
        t = np.arange(1, len(scores) + 1, dtype=float)
        y = np.asarray(scores, dtype=float)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", OptimizeWarning)  # few points: no covariance, the fit still holds
                (a, b, c), _ = curve_fit(_saturating, t, y, p0=(y[-1], max(y[-1] - y[0], 1e-3), 1.0),
                                         bounds=([0.0, -1.0, 0.01], [1.0, 10.0, 5.0]), maxfev=2000)
        except (RuntimeError, ValueError):
            return float(y.max())
        return float(np.clip(_saturating(np.array([float(epochs)]), a, b, c)[0], y.max(), 1.0))

    def should_stop(self, history: list[EpochRecord], epochs: int) -> bool:
        if len(history) < self.min_epochs or len(self.finals) < self.warmup or len(history) >= epochs:
            return False
        predicted = self.predict([record.val_accuracy for record in history], epochs)
        return predicted + self.margin < max(self.finals)


@dataclass
class Rung:
    """One evaluation of successive halving: an architecture at a fidelity."""

    arch: Hashable
    fidelity: float
    score: float | None
    promoted: bool = False


def successive_halving(strategy: Strategy, evaluate: Callable[[Hashable, float], float | None], *, candidates: int,
                       min_fidelity: float, max_fidelity: float, eta: int = 3) -> list[Rung]:
    """Successive halving over ``candidates`` asks of ``strategy``: keep the top 1/``eta`` at each rung.

    ``evaluate(arch, fidelity)`` returns a score (None: failed); fidelities
    grow geometrically by ``eta`` from ``min_fidelity`` to ``max_fidelity``
    (epochs or data fraction). Each candidate is told to the strategy with the
    score of the highest rung it reached; the eliminated ones are the
    "stopped" trials.
    """
    if eta < 2 or not 0 < min_fidelity <= max_fidelity or candidates < 1:
        raise SearchError(f"need eta >= 2, 0 < min_fidelity <= max_fidelity, candidates >= 1; got eta={eta}, "
                          f"min_fidelity={min_fidelity}, max_fidelity={max_fidelity}, candidates={candidates}")
    rungs = max(1, 1 + math.floor(math.log(max_fidelity / min_fidelity, eta) + 1e-9))
    asked = [strategy.ask() for _ in range(candidates)]
    reached: list[float | None] = [None] * candidates
    alive = list(range(candidates))
    records: list[Rung] = []
    for level in range(rungs):
        fidelity = min(max_fidelity, min_fidelity * eta ** level)
        level_records = []
        for i in alive:
            level_records.append((i, Rung(asked[i], fidelity, evaluate(asked[i], fidelity))))
            reached[i] = level_records[-1][1].score
        records += [record for _, record in level_records]
        if level == rungs - 1:
            break
        ranked = sorted((item for item in level_records if item[1].score is not None), key=lambda item: -item[1].score)
        keep = ranked[:max(1, len(alive) // eta)]
        for _, record in keep:
            record.promoted = True
        alive = [i for i, _ in keep]
    for arch, score in zip(asked, reached):
        strategy.tell(arch, score)
    return records


def hyperband(strategy: Strategy, evaluate: Callable[[Hashable, float], float | None], *, min_fidelity: float,
              max_fidelity: float, eta: int = 3) -> list[Rung]:
    """Hyperband (Li et al.): successive halving brackets trading candidates for starting fidelity."""
    s_max = math.floor(math.log(max_fidelity / min_fidelity, eta) + 1e-9)
    records: list[Rung] = []
    for s in range(s_max, -1, -1):
        n = math.ceil((s_max + 1) / (s + 1) * eta ** s)
        records += successive_halving(strategy, evaluate, candidates=n, min_fidelity=max_fidelity / eta ** s,
                                      max_fidelity=max_fidelity, eta=eta)
    return records
