"""Relaxation modes of relaxed ops (``choice``, ``select``): how α and the candidates combine.

A mode works in two steps. :meth:`Mode.draw` turns one α matrix (rows × candidates) into a
:class:`Draw`, **once per forward pass**, for every row at once: the weights of a dense mode,
the sampled index of a sampling mode. Every site (relaxed module) that reads row ``r`` then
combines its candidates with row ``r`` of that one draw (:meth:`Mode.combine`), so sites sharing
an α row (the cells of a DARTS supernet) share one Gumbel sample, one single path, one binary
gate, and a supernet forward is always a member of the space. ``wiring.compile`` emits the draw
at the top of the generated ``forward`` (see :mod:`wiring.supernet`); a relaxed module called on
its own with a plain α vector draws for itself.

``softmax``  (DARTS) Σ softmax(α)_i · y_i, every candidate runs.
``sigmoid``  (Fair DARTS) Σ sigmoid(α)_i · y_i: candidates do not compete.
``gumbel``   (GDAS, ``search_model_gdas.py``) per row probs = softmax((log_softmax(α) + g)/τ),
             g Gumbel noise, redrawn while it holds inf or nan; hardwts = one_hot(argmax) −
             sg(probs) + probs; a site returns hardwts_k · y_k for the sampled k (only candidate k
             runs: AutoDL's DARTS-space ``MixedOp.forward_gdas``), plus Σ_{i≠k} hardwts_i when the
             state's ``unselected`` is set (its NAS-Bench-201 cell: zero in value, but every
             entry gets a gradient). Temperature ``tau`` (default 1.0).
``single_path``  (SPOS, FairNAS) per row the candidate ``active[row]``, drawn uniformly when
             it is ``None``; α is ignored (it gets no gradient).
``path_dropout``  (the one-shot model of Bender et al. 2018) per row, each of the k candidates is
             kept with probability 1 − r^(1/k) (r = the state's ``drop_rate``; all k are dropped with
             probability r), one drawn uniformly is kept when none is; a site sums its kept candidates'
             outputs (only those run). A row whose ``active`` is set runs that candidate alone (scoring
             one architecture with the shared weights). α is ignored.
``binary``   (ProxylessNAS, ``search/modules/mix_op.py``) p = softmax(α). While α takes no
             gradient (a weight step) one path is drawn from p. Otherwise, by ``estimator``:
             ``"two"`` (the paper's) draws two distinct paths from p, then the active one from the
             softmax over the pair; ``"full_v2"`` (the reference's default) draws the active path
             from p and involves every candidate. The forward runs the active candidate only
             (binary gates g, one-hot). In the backward each site adds ∂L/∂g_j = ⟨∂L/∂y, y_j⟩ for
             the involved paths j (an inactive y_j is recomputed under ``no_grad``), and the row's
             α gets ∂L/∂α_i = Σ_j ∂L/∂g_j · p_j(δ_ij − p_i) over the involved paths (p
             renormalised over them). After the optimiser step :func:`rescale` keeps the pair's
             total probability (``"two"`` only, as the reference).

Sampling modes draw from the state's ``generator`` (a ``torch.Generator``); while it is
``None`` they draw from torch's global RNG. Samples are drawn on the generator's device (CPU when
none is set) and moved to α's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch

from .errors import OpError

Weighting = Callable[[torch.Tensor], torch.Tensor]
Branch = Callable[[], torch.Tensor]
"""A candidate's output, computed only when called (so a mode runs only the candidates it needs)."""

DEFAULT_MODE = "softmax"
ESTIMATORS = ("full_v2", "two")
"""``binary`` mode's α-gradient estimators: the reference code's default first, the paper's second."""


@dataclass
class RelaxState:
    """What a mode's draw reads besides α: one per α key of a compiled supernet.

    ``active`` maps a row to its ``single_path`` candidate (a row missing or ``None`` is drawn
    uniformly); ``last`` is the most recent :class:`Draw` (for :func:`rescale` and for reading the
    sampled paths back)."""

    tau: float = 1.0
    generator: torch.Generator | None = None
    active: dict[int, int | None] = field(default_factory=dict)
    estimator: str = ESTIMATORS[0]
    unselected: bool = False
    """``gumbel``: add the unselected candidates' weights (AutoDL's NAS-Bench-201 cell) or not (its DARTS cell)."""
    drop_rate: float = 0.0
    """``path_dropout``: the rate r; each of a row's k candidates is dropped with probability r^(1/k)."""
    last: Draw | None = None


@dataclass
class Draw:
    """One forward pass's relaxation of an α matrix of ``width`` candidates: ``weights`` (rows × width;
    dense modes, ``gumbel``'s hardwts, ``binary``'s gates, ``path_dropout``'s keep-masks), ``index`` (per
    row, the candidate that runs: sampling modes), ``involved`` (``binary``: per row, the paths whose gate
    gradient is computed)."""

    mode: Mode
    width: int
    weights: torch.Tensor | None = None
    index: list[int] | None = None
    involved: list[tuple[int, ...]] | None = None
    before: torch.Tensor | None = None
    """``binary``: α before the update, for :func:`rescale`."""
    unselected: bool = False

    def __getitem__(self, row: int) -> Row:
        return Row(self, row)


@dataclass(frozen=True)
class Row:
    """Row ``row`` of a :class:`Draw`: what a relaxed module receives in place of its α vector."""

    draw: Draw
    row: int


def _weighted(weights: torch.Tensor, branches: Sequence[Branch]) -> torch.Tensor:
    out = weights[0] * branches[0]()
    for i in range(1, len(branches)):
        out = out + weights[i] * branches[i]()
    return out


def _device(state: RelaxState) -> torch.device:
    return state.generator.device if state.generator is not None else torch.device("cpu")


def _check_width(draw: Draw, row: int, n: int, site: Any) -> None:
    if draw.width != n:
        raise OpError(f"mode {draw.mode.name!r}: {site} has {n} candidates but its α row {row} has {draw.width} "
                      f"entries")


class Mode:
    """How a relaxed module turns α and its candidates into one output."""

    name: str = ""
    weighting: Weighting | None = None  # set for dense modes (every candidate weighted)

    def draw(self, alpha: torch.Tensor, state: RelaxState) -> Draw:
        """The relaxation of the α matrix ``alpha`` (rows × candidates) for one forward pass."""
        raise NotImplementedError

    def combine(self, row: Row, branches: Sequence[Branch], site: Any) -> tuple[torch.Tensor, int | None]:
        """Site ``site``'s output from its ``branches`` under row ``row`` of a draw, and the candidate
        that ran (``None`` for dense modes)."""
        raise NotImplementedError


class Dense(Mode):
    """Σ w_i · y_i with w = weighting(α) computed once per matrix; every candidate runs."""

    def __init__(self, name: str, weighting: Weighting) -> None:
        self.name, self.weighting = name, weighting

    def draw(self, alpha: torch.Tensor, state: RelaxState) -> Draw:
        return Draw(self, alpha.shape[-1], weights=self.weighting(alpha))

    def combine(self, row: Row, branches: Sequence[Branch], site: Any) -> tuple[torch.Tensor, int | None]:
        _check_width(row.draw, row.row, len(branches), site)
        return _weighted(row.draw.weights[row.row], branches), None


class Gumbel(Mode):
    name = "gumbel"

    def draw(self, alpha: torch.Tensor, state: RelaxState) -> Draw:
        tau = float(state.tau)
        if not tau > 0:
            raise OpError(f"mode 'gumbel': tau must be > 0, got {state.tau!r}")
        device = _device(state)
        while True:  # AutoDL's loop: redraw a sample holding inf or nan
            noise = torch.empty(alpha.shape, device=device).exponential_(generator=state.generator)
            gumbels = -noise.log().to(device=alpha.device, dtype=alpha.dtype)
            probs = torch.softmax((torch.log_softmax(alpha, dim=-1) + gumbels) / tau, dim=-1)
            index = probs.detach().argmax(dim=-1, keepdim=True)
            hard = torch.zeros_like(probs).scatter_(-1, index, 1.0) - probs.detach() + probs
            if torch.isfinite(hard).all():
                return Draw(self, alpha.shape[-1], weights=hard, index=index.reshape(-1).tolist(), unselected=state.unselected)

    def combine(self, row: Row, branches: Sequence[Branch], site: Any) -> tuple[torch.Tensor, int | None]:
        _check_width(row.draw, row.row, len(branches), site)
        w, k = row.draw.weights[row.row], row.draw.index[row.row]
        out = w[k] * branches[k]()
        if row.draw.unselected:
            for i in range(len(branches)):
                if i != k:
                    out = out + w[i]  # zero in value; carries the entry's gradient (NB201's forward_gdas)
        return out, k


def _uniform(n: int, state: RelaxState) -> int:
    return int(torch.randint(n, (1,), generator=state.generator, device=_device(state)))


def _check_index(mode: str, k: Any, n: int, where: str) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < n:
        raise OpError(f"mode {mode!r}: {where} index {k!r} out of range for {n} candidates")
    return k


class SinglePath(Mode):
    name = "single_path"

    def draw(self, alpha: torch.Tensor, state: RelaxState) -> Draw:
        rows, n = alpha.shape
        index = []
        for r in range(rows):
            k = state.active.get(r)
            index.append(_uniform(n, state) if k is None else _check_index(self.name, k, n, f"row {r}'s active"))
        return Draw(self, n, index=index)

    def combine(self, row: Row, branches: Sequence[Branch], site: Any) -> tuple[torch.Tensor, int | None]:
        _check_width(row.draw, row.row, len(branches), site)
        k = getattr(site, "active", None)  # a site's own override (e.g. ENAS' idle branches)
        k = row.draw.index[row.row] if k is None else k
        k = _check_index(self.name, k, len(branches), f"{type(site).__name__}'s active")
        return branches[k](), k


class PathDropout(Mode):
    name = "path_dropout"

    def draw(self, alpha: torch.Tensor, state: RelaxState) -> Draw:
        rows, n = alpha.shape
        rate = float(state.drop_rate)
        if not 0 <= rate <= 1:
            raise OpError(f"mode 'path_dropout': drop_rate must be in [0, 1], got {state.drop_rate!r}")
        keep = torch.zeros(rows, n)
        for r in range(rows):
            k = state.active.get(r)
            if k is not None:
                keep[r, _check_index(self.name, k, n, f"row {r}'s active")] = 1.0
                continue
            drop = torch.rand(n, generator=state.generator, device=_device(state)).cpu() < rate ** (1 / n)
            if drop.all():
                drop[_uniform(n, state)] = False
            keep[r] = (~drop).float()
        return Draw(self, n, weights=keep.to(alpha.device))

    def combine(self, row: Row, branches: Sequence[Branch], site: Any) -> tuple[torch.Tensor, int | None]:
        _check_width(row.draw, row.row, len(branches), site)
        kept = row.draw.weights[row.row].nonzero().flatten().tolist()
        out = branches[kept[0]]()
        for i in kept[1:]:
            out = out + branches[i]()
        return out, kept[0] if len(kept) == 1 else None


class _Gates(torch.autograd.Function):
    """Binary gates of every row (one-hot values); the backward maps ∂L/∂g to ∂L/∂α by rows."""

    @staticmethod
    def forward(ctx: Any, alpha: torch.Tensor, index: list[int], involved: list[tuple[int, ...]]) -> torch.Tensor:
        ctx.involved = involved
        ctx.save_for_backward(alpha)
        gates = torch.zeros_like(alpha)
        gates[torch.arange(len(index), device=alpha.device), torch.tensor(index, device=alpha.device)] = 1.0
        return gates

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        (alpha,) = ctx.saved_tensors
        grad_alpha = torch.zeros_like(alpha)
        with torch.no_grad():
            for r, paths in enumerate(ctx.involved):
                if len(paths) < 2:
                    continue
                idx = torch.tensor(paths, device=alpha.device)
                p = torch.softmax(alpha[r, idx], dim=-1)
                dg = grad[r, idx]
                # Σ_j dg_j p_j (δ_ij − p_i) = p_i dg_i − p_i Σ_j dg_j p_j
                grad_alpha[r].index_add_(0, idx, p * dg - p * (dg * p).sum())
        return grad_alpha, None, None


class Binary(Mode):
    name = "binary"

    def draw(self, alpha: torch.Tensor, state: RelaxState) -> Draw:
        if state.estimator not in ESTIMATORS:
            raise OpError(f"mode 'binary': unknown estimator {state.estimator!r}; known: {', '.join(ESTIMATORS)}")
        a = alpha.detach().to(device=_device(state), dtype=torch.float64)
        probs = torch.softmax(a, dim=-1)
        rows, n = alpha.shape
        learning = alpha.requires_grad and torch.is_grad_enabled()
        index, involved = [], []
        for r in range(rows):
            if n == 1:
                index.append(0), involved.append((0,))
            elif not learning:  # a weight step: one path from p
                index.append(int(torch.multinomial(probs[r], 1, generator=state.generator)))
                involved.append((index[-1],))
            elif state.estimator == "two":
                pair = torch.multinomial(probs[r], 2, replacement=False, generator=state.generator).tolist()
                c = int(torch.multinomial(torch.softmax(a[r, pair], -1), 1, generator=state.generator))
                index.append(pair[c]), involved.append((pair[c], pair[1 - c]))
            else:  # full_v2: the active path from p, every path involved
                index.append(int(torch.multinomial(probs[r], 1, generator=state.generator)))
                involved.append((index[-1], *(j for j in range(n) if j != index[-1])))
        gates = _Gates.apply(alpha, index, involved) if learning else None
        before = alpha.detach().clone() if learning and state.estimator == "two" else None
        return Draw(self, n, weights=gates, index=index, involved=involved, before=before)

    def combine(self, row: Row, branches: Sequence[Branch], site: Any) -> tuple[torch.Tensor, int | None]:
        draw, r = row.draw, row.row
        _check_width(draw, r, len(branches), site)
        k = draw.index[r]
        y = branches[k]()
        if draw.weights is None or len(draw.involved[r]) < 2:
            return y, k
        others = {j: branches[j] for j in draw.involved[r] if j != k}
        return _SiteGate.apply(draw.weights[r], y, k, others), k


class _SiteGate(torch.autograd.Function):
    """Identity on the active path's output y; ∂L/∂g_j = ⟨∂L/∂y, y_j⟩ for the active and the other
    involved paths (those recomputed under ``no_grad`` in the backward)."""

    @staticmethod
    def forward(ctx: Any, gates: torch.Tensor, y: torch.Tensor, active: int, others: dict[int, Branch]) -> torch.Tensor:
        ctx.active, ctx.others, ctx.width = active, others, gates.shape[0]
        ctx.save_for_backward(y)
        return y.clone()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        grad_gates = None
        if ctx.needs_input_grad[0]:
            (y,) = ctx.saved_tensors
            grad_gates = torch.zeros(ctx.width, dtype=grad.dtype, device=grad.device)
            with torch.no_grad():
                grad_gates[ctx.active] = (grad * y).sum()
                for j, branch in ctx.others.items():
                    grad_gates[j] = (grad * branch()).sum()
        ctx.others = None
        return grad_gates, grad, None, None


_MODES: dict[str, Mode] = {
    "softmax": Dense("softmax", partial(torch.softmax, dim=-1)),  # DARTS
    "sigmoid": Dense("sigmoid", torch.sigmoid),  # Fair DARTS: candidates do not compete
    "gumbel": Gumbel(),  # GDAS
    "single_path": SinglePath(),  # SPOS, FairNAS
    "binary": Binary(),  # ProxylessNAS
    "path_dropout": PathDropout(),  # the one-shot model (Bender et al. 2018)
}


def get_mode(mode: str) -> Mode:
    """The :class:`Mode` named ``mode``; an unknown mode lists the known ones."""
    try:
        return _MODES[mode]
    except (KeyError, TypeError):
        raise OpError(f"unknown relaxation mode {mode!r}; known modes: {', '.join(sorted(_MODES))}") from None


def weighting(mode: str) -> Weighting | None:
    """The weighting function of a dense ``mode`` (``None`` for sampling modes)."""
    return get_mode(mode).weighting


def modes() -> list[str]:
    return sorted(_MODES)


@torch.no_grad()
def rescale(state: RelaxState, alpha: torch.Tensor) -> None:
    """ProxylessNAS rescaling after an α update of a ``binary`` forward with the ``"two"`` estimator:
    per row, shift the two involved α by log(Σ exp(new) / Σ exp(old)) so their total probability mass
    under softmax(α) is kept (``rescale_updated_arch_param``). The draw is consumed."""
    draw = state.last
    state.last = None
    if draw is None or draw.before is None:
        return
    for r, pair in enumerate(draw.involved):
        if len(pair) != 2:
            continue
        idx = torch.tensor(pair, device=alpha.device)
        new, old = alpha[r, idx], draw.before[r, idx]
        offset = torch.logsumexp(new.double(), 0) - torch.logsumexp(old.double(), 0)
        alpha[r, idx] = new - offset.to(alpha.dtype)
