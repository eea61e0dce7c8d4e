"""Model-based strategies: Bayesian optimisation (GP + EI) and a GNN predictor over typed DAGs.

Both share one loop: after ``initial`` random asks, fit a model on what was
told (again after every ``refit_every`` new results), score a pool of
``candidates`` fresh candidates (a ``mutants`` fraction of them mutants of the
five best so far, the rest random samples) and ask the best-scoring one not
asked before.

Optionally (off by default) zero-cost proxies join the surrogate's inputs, as in
NASLib's zero-cost-augmented predictors: ``proxy_features=("synflow", "nwot")``
scores every candidate on one seeded minibatch of ``proxy_data`` and appends the
standardised values (:class:`~wiring.search.proxies.ProxyFeatures`).
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from generators.checks import positive_int
from spaces.base import Space

from ..data import Dataset
from .proxies import ProxyFeatures
from .strategy import SearchError, Strategy


class _ModelBased(Strategy):
    scalarisation: str | None = None
    """``"parego"``: several objectives, scalarised afresh at every ask (set only when on, see BayesianOptimization)."""
    proxy_features: tuple[str, ...] = ()
    """Zero-cost proxies joining the surrogate's inputs (none by default)."""
    proxy_data: str | Dataset | None = None
    """The data the proxies read (set with ``proxy_features``; off, neither enters the setup fingerprint)."""

    def __init__(self, space: Any, *, seed: int | None = None, initial: int = 10, candidates: int = 100,
                 mutants: float = 0.5, refit_every: int = 1, proxy_features: Sequence[str] = (),
                 proxy_data: str | Dataset = "digits") -> None:
        super().__init__(space, seed=seed)
        self.refit_every, self._fitted_on = positive_int("refit_every", refit_every, error=SearchError), 0
        positive_int("initial", initial, error=SearchError)
        positive_int("candidates", candidates, error=SearchError)
        if not 0 <= mutants <= 1:
            raise SearchError(f"mutants must be a fraction in [0, 1], got mutants={mutants!r}")
        self.initial, self.candidates, self.mutant_fraction = initial, candidates, mutants
        self.asked: set[str] = set()
        if isinstance(proxy_features, str) or not isinstance(proxy_features, Sequence):
            raise SearchError(f"proxy_features must be a sequence of proxy names, got {proxy_features!r}")
        self._proxies = None
        if proxy_features:  # instance attributes only when on: a storage written without proxies still resumes
            self.proxy_features, self.proxy_data = tuple(proxy_features), proxy_data
            self._proxies = ProxyFeatures(space, self.proxy_features, proxy_data)

    def _proxy_columns(self, archs: Sequence[Hashable], *, fit: bool) -> np.ndarray | None:
        """The standardised proxy features of ``archs`` (``fit``: standardised by these), or None without any."""
        if self._proxies is None:
            return None
        return self._proxies.fit(archs) if fit else self._proxies.transform(archs)

    def _scored(self) -> list[tuple[Hashable, float]]:
        """The told (architecture, value) pairs the surrogate fits."""
        return [(a, v) for a, v in self.history if v is not None]

    def _ask(self) -> Hashable:
        scored = self._scored()
        if len(scored) < self.initial:
            return self._unseen(lambda: self.space.sample(self.rng), self.asked, 100)
        if not self._fitted_on or len(scored) - self._fitted_on >= self.refit_every or self.scalarisation:
            self._fit([a for a, _ in scored], np.array([v for _, v in scored], dtype=float))
            self._fitted_on = len(scored)
        best = [a for a, _ in sorted(scored, key=lambda item: -item[1])[:5]]
        pool, keys = [], set()
        for i in range(self.candidates):
            if i < self.mutant_fraction * self.candidates:
                arch = self.space.mutate(best[i % len(best)], self.rng)
            else:
                arch = self.space.sample(self.rng)
            key = self.space.encode(arch)
            if key not in self.asked and key not in keys:
                keys.add(key)
                pool.append(arch)
        if not pool:
            return self._unseen(lambda: self.space.sample(self.rng), self.asked, 100)
        scores = self._score(pool, max(v for _, v in scored))
        choice = pool[int(np.argmax(scores))]
        self.asked.add(self.space.encode(choice))
        return choice

    @abstractmethod
    def _fit(self, archs: list[Hashable], values: np.ndarray) -> None:
        """Fit the surrogate on the told architectures."""

    @abstractmethod
    def _score(self, pool: list[Hashable], best: float) -> np.ndarray:
        """Acquisition score of each candidate (higher is asked first)."""


def parego_weights(k: int, rng: Any) -> np.ndarray:
    """A weight vector drawn uniformly from ParEGO's simplex lattice: k non-negative multiples of 1/s summing to
    1 (s = 10 for 2 objectives, 4 for more; Knowles 2006)."""
    s = 10 if k == 2 else 4
    cuts = sorted(rng.sample(range(1, s + k), k - 1))  # stars and bars: a uniform draw of the lattice
    parts = [b - a - 1 for a, b in zip([0, *cuts], [*cuts, s + k])]
    return np.array(parts, dtype=float) / s


def features(space: Any, arch: Hashable) -> list[float]:
    """``space.features(arch)``: one-hot per decision, numeric hyperparameters as values in [0, 1] (a space of the
    protocol not derived from :class:`spaces.base.Space` gets its default)."""
    method = getattr(space, "features", None)
    return method(arch) if callable(method) else Space.features(space, arch)


class BayesianOptimization(_ModelBased):
    """Gaussian process (scikit-learn, Matern 5/2 + noise) with expected improvement (docs/papers.md §11).

    Architectures become one-hot vectors over their decisions; numeric
    hyperparameters enter as values scaled to [0, 1] (log scale where declared).
    EI picks among ``candidates`` fresh samples and mutants of the best.
    """

    def __init__(self, space: Any, *, seed: int | None = None, initial: int = 10, candidates: int = 200,
                 mutants: float = 0.5, xi: float = 0.01, refit_every: int = 1, proxy_features: Sequence[str] = (),
                 proxy_data: str | Dataset = "digits", scalarisation: str | None = None) -> None:
        super().__init__(space, seed=seed, initial=initial, candidates=candidates, mutants=mutants,
                         refit_every=refit_every, proxy_features=proxy_features, proxy_data=proxy_data)
        if scalarisation not in (None, "parego"):
            raise SearchError(f"scalarisation must be None or 'parego', got scalarisation={scalarisation!r}")
        if scalarisation:  # instance attributes only when on: storages written before still resume
            self.scalarisation, self.multi_objective = scalarisation, True
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        self.xi = xi
        self.gp = GaussianProcessRegressor(ConstantKernel() * Matern(nu=2.5) + WhiteKernel(), normalize_y=True,
                                           random_state=self.rng.getrandbits(31))

    def _scored(self) -> list[tuple[Hashable, float]]:
        """ParEGO (Knowles 2006): with several objectives, each told tuple becomes one number under a weight
        vector drawn afresh at every ask from the simplex lattice (s = 10 for 2 objectives, 4 above), on
        objectives normalised to [0, 1] over the told trials, by the augmented Tchebycheff function
        max_j λ_j f_j + 0.05 Σ_j λ_j f_j (f to minimise; negated here, as the GP maximises)."""
        told = super()._scored()
        if not self.scalarisation or not told or not isinstance(told[0][1], tuple):
            return told
        costs = np.array([[-v for v in values] for _, values in told], dtype=float)
        low, span = costs.min(axis=0), np.ptp(costs, axis=0)
        normalised = (costs - low) / np.where(span > 0, span, 1.0)
        weights = parego_weights(costs.shape[1], self.rng)
        scalar = (normalised * weights).max(axis=1) + 0.05 * (normalised * weights).sum(axis=1)
        return [(arch, -float(v)) for (arch, _), v in zip(told, scalar)]

    def _fit(self, archs: list[Hashable], values: np.ndarray) -> None:
        import warnings

        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.gp.fit(self._inputs(archs, fit=True), values)

    def _inputs(self, archs: Sequence[Hashable], *, fit: bool) -> np.ndarray:
        encoded = np.array([features(self.space, a) for a in archs], dtype=float)
        proxies = self._proxy_columns(archs, fit=fit)
        return encoded if proxies is None else np.hstack([encoded, proxies])

    def _score(self, pool: list[Hashable], best: float) -> np.ndarray:
        from scipy.stats import norm

        mean, std = self.gp.predict(self._inputs(pool, fit=False), return_std=True)
        std = np.maximum(std, 1e-9)
        z = (mean - best - self.xi) / std
        return (mean - best - self.xi) * norm.cdf(z) + std * norm.pdf(z)


class _GIN(nn.Module):
    def __init__(self, features: int, hidden: int, layers: int, extra: int = 0) -> None:
        super().__init__()
        from torch_geometric.nn import GINConv

        dims = [features] + [hidden] * layers
        self.convs = nn.ModuleList(
            GINConv(nn.Sequential(nn.Linear(a, b), nn.ReLU(), nn.Linear(b, b))) for a, b in zip(dims, dims[1:]))
        self.out = nn.Sequential(nn.Linear(hidden + extra, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, data: Any, extra: torch.Tensor | None = None) -> torch.Tensor:
        """Predicted scores of a batch of graphs; ``extra`` (graphs × extra) joins the pooled embedding."""
        from torch_geometric.nn import global_add_pool

        x = data.x
        for conv in self.convs:
            x = torch.relu(conv(x, data.edge_index))
        pooled = global_add_pool(x, data.batch)
        return self.out(pooled if extra is None else torch.cat([pooled, extra], dim=1)).squeeze(-1)


class PredictorSearch(_ModelBased):
    """A GIN (torch-geometric) trained on the typed DAGs told so far predicts scores (beyond the seed systems).

    Every architecture becomes ``wiring.to_pyg(space.to_graph(arch))`` (op
    one-hot features, subgraphs expanded); after ``initial`` random asks the
    GIN is retrained (``epochs`` of Adam on standardised scores) before each
    ask and the best-predicted fresh candidate is asked. Proxy features
    (``proxy_features``) join the pooled graph embedding before the output MLP.
    """

    def __init__(self, space: Any, *, seed: int | None = None, initial: int = 10, candidates: int = 100,
                 mutants: float = 0.5, hidden: int = 32, layers: int = 3, epochs: int = 60, lr: float = 0.005,
                 refit_every: int = 1, proxy_features: Sequence[str] = (), proxy_data: str | Dataset = "digits"
                 ) -> None:
        super().__init__(space, seed=seed, initial=initial, candidates=candidates, mutants=mutants,
                         refit_every=refit_every, proxy_features=proxy_features, proxy_data=proxy_data)
        if not callable(getattr(space, "to_graph", None)):
            raise SearchError(f"PredictorSearch needs a space with to_graph(), got {space!r}")
        self.hidden, self.layers, self.epochs, self.lr = hidden, layers, epochs, lr
        self._graphs: dict[str, Any] = {}
        self.model: _GIN | None = None

    def _data(self, arch: Hashable) -> Any:
        from ..pyg import to_pyg

        key = self.space.encode(arch)
        if key not in self._graphs:
            self._graphs[key] = to_pyg(self.space.to_graph(arch))
        return self._graphs[key]

    def _fit(self, archs: list[Hashable], values: np.ndarray) -> None:
        from torch_geometric.data import Batch

        batch = Batch.from_data_list([self._data(a) for a in archs])
        target = torch.tensor((values - values.mean()) / (values.std() + 1e-9), dtype=torch.float32)
        extra = self._extra(archs, fit=True)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.rng.getrandbits(63))
            self.model = _GIN(batch.x.shape[1], self.hidden, self.layers, 0 if extra is None else extra.shape[1])
            optimizer = torch.optim.Adam(self.model.parameters(), lr=self.lr)
            for _ in range(self.epochs):
                optimizer.zero_grad()
                loss = nn.functional.mse_loss(self.model(batch, extra), target)
                loss.backward()
                optimizer.step()
        if not math.isfinite(loss.item()):
            raise SearchError("the predictor diverged (non-finite loss)")

    def _score(self, pool: Sequence[Hashable], best: float) -> np.ndarray:
        from torch_geometric.data import Batch

        with torch.no_grad():
            return self.model(Batch.from_data_list([self._data(a) for a in pool]), self._extra(pool, fit=False)).numpy()

    def _extra(self, archs: Sequence[Hashable], *, fit: bool) -> torch.Tensor | None:
        columns = self._proxy_columns(archs, fit=fit)
        return None if columns is None else torch.tensor(columns, dtype=torch.float32)
