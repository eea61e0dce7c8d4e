"""Relaxation modes of relaxed ops (``choice``, ``select``): how α and the candidates combine.

A mode is chosen at compile time (``wiring.compile(G, mode=...)``) and set on every
relaxed module (``module.mode = name``). Each is registered here under its name:

``softmax``  (DARTS) Σ softmax(α)_i · y_i, every candidate runs.
``sigmoid``  (Fair DARTS) Σ sigmoid(α)_i · y_i: candidates do not compete.
``gumbel``   (GDAS) a hard one-hot Gumbel-softmax sample h = one_hot(argmax((α+G)/τ)) with the
             straight-through gradient h − sg(s) + s, s = softmax((α+G)/τ); the forward is
             h_k · y_k for the sampled k only (only that candidate runs; its weight has value 1).
             Temperature: the module's ``tau`` (default 1.0, :func:`set_tau`).
``single_path``  (SPOS, FairNAS) exactly the candidate ``module.active``; α is ignored (it gets
             no gradient). Strategies set ``active`` per step (:func:`set_paths`); while it is
             ``None`` a candidate is drawn uniformly per forward (SPOS's uniform sampling).
``binary``   (ProxylessNAS, the paper's two-path method) p = softmax(α); two distinct paths are
             drawn from p, then the active one of them from the softmax over the pair. Only the
             active candidate runs in the forward (g = one-hot, one path's activations). The α
             gradient, as in the reference code, is ∂L/∂α_i = Σ_j ∂L/∂g_j · p_j(δ_ij − p_i) over
             the two sampled paths i, j, p renormalised over the pair, ∂L/∂g_j = ⟨∂L/∂y, y_j⟩;
             the inactive path's output y_j is recomputed under ``no_grad`` in the backward (only
             when α needs a gradient; batch-norm running statistics of that candidate update then,
             as in the reference). After the optimiser step, :func:`rescale` shifts the two α so
             the pair's total probability under softmax(α) is unchanged (the paper's rescaling).

Sampling modes draw from the module's ``generator`` (a ``torch.Generator``, set on every relaxed
module of a model by :func:`set_generator`); while it is ``None`` they draw from torch's global
RNG. Samples are drawn on the generator's device (CPU when none is set) and moved to α's.
The last sample is kept on the module as ``sampled`` (the index that ran).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch import nn

from .errors import OpError

Weighting = Callable[[torch.Tensor], torch.Tensor]
Branch = Callable[[], torch.Tensor]
"""A candidate's output, computed only when called (so a mode runs only the candidates it needs)."""

DEFAULT_MODE = "softmax"


def _weighted(weights: torch.Tensor, branches: Sequence[Branch]) -> torch.Tensor:
    out = weights[0] * branches[0]()
    for i in range(1, len(branches)):
        out = out + weights[i] * branches[i]()
    return out


class Mode:
    """How a relaxed module turns α and its candidates into one output."""

    name: str = ""
    weighting: Weighting | None = None  # set for dense modes (every candidate weighted)

    def combine(self, module: nn.Module, alpha: torch.Tensor, branches: Sequence[Branch]) -> torch.Tensor:
        raise NotImplementedError


class Dense(Mode):
    """Σ w_i · y_i with w = weighting(α); every candidate runs."""

    def __init__(self, name: str, weighting: Weighting) -> None:
        self.name, self.weighting = name, weighting

    def combine(self, module: nn.Module, alpha: torch.Tensor, branches: Sequence[Branch]) -> torch.Tensor:
        return _weighted(self.weighting(alpha), branches)


def _generator(module: nn.Module) -> torch.Generator | None:
    return getattr(module, "generator", None)


def _check_alpha(module: nn.Module, alpha: torch.Tensor, n: int) -> None:
    if alpha.dim() != 1 or alpha.shape[0] != n:
        raise OpError(f"mode {module.mode!r}: α must be a vector of {n} entries, got shape {tuple(alpha.shape)}")


class Gumbel(Mode):
    name = "gumbel"

    def combine(self, module: nn.Module, alpha: torch.Tensor, branches: Sequence[Branch]) -> torch.Tensor:
        _check_alpha(module, alpha, len(branches))
        g = _generator(module)
        device = g.device if g is not None else torch.device("cpu")
        noise = torch.empty(alpha.shape, device=device).exponential_(generator=g).clamp_min(1e-20)
        gumbels = -noise.log().to(device=alpha.device, dtype=alpha.dtype)
        tau = float(getattr(module, "tau", 1.0))
        if not tau > 0:
            raise OpError(f"mode 'gumbel': tau must be > 0, got {tau!r}")
        soft = torch.softmax((alpha + gumbels) / tau, dim=-1)
        k = int(soft.detach().argmax())
        hard = 1.0 - soft[k].detach() + soft[k]  # value 1, gradient of soft[k]
        module.sampled = k
        return hard * branches[k]()


class SinglePath(Mode):
    name = "single_path"

    def combine(self, module: nn.Module, alpha: torch.Tensor, branches: Sequence[Branch]) -> torch.Tensor:
        n = len(branches)
        k = getattr(module, "active", None)
        if k is None:
            g = _generator(module)
            k = int(torch.randint(n, (1,), generator=g, device=g.device if g is not None else "cpu"))
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < n:
            raise OpError(f"mode 'single_path': active index {k!r} out of range for {n} candidates")
        module.sampled = k
        return branches[k]()


class _TwoPathGate(torch.autograd.Function):
    """Identity on the active path's output y; α's gradient by the ProxylessNAS two-path formula."""

    @staticmethod
    def forward(ctx: Any, alpha: torch.Tensor, y: torch.Tensor, involved: tuple[int, int],
                other: Branch) -> torch.Tensor:
        ctx.involved, ctx.other = involved, other
        ctx.save_for_backward(alpha, y)
        return y.clone()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        grad_alpha = None
        if ctx.needs_input_grad[0]:
            alpha, y = ctx.saved_tensors
            with torch.no_grad():
                outputs = (y, ctx.other())  # involved[0] is the active path
                dg = torch.stack([(grad * out).sum() for out in outputs]).to(alpha.dtype)
                idx = torch.tensor(ctx.involved, device=alpha.device)
                p = torch.softmax(alpha[idx], dim=-1)
                # Σ_j dg_j p_j (δ_ij − p_i) = p_i dg_i − p_i Σ_j dg_j p_j
                grad_pair = p * dg - p * (dg * p).sum()
                grad_alpha = torch.zeros_like(alpha).index_add_(0, idx, grad_pair)
        ctx.other = None
        return grad_alpha, grad, None, None


class Binary(Mode):
    name = "binary"

    def combine(self, module: nn.Module, alpha: torch.Tensor, branches: Sequence[Branch]) -> torch.Tensor:
        n = len(branches)
        _check_alpha(module, alpha, n)
        if n == 1:
            module.sampled, module.last_paths = 0, None
            return branches[0]()
        g = _generator(module)
        device = g.device if g is not None else torch.device("cpu")
        a = alpha.detach().to(device=device, dtype=torch.float64)
        pair = torch.multinomial(torch.softmax(a, -1), 2, replacement=False, generator=g)
        c = int(torch.multinomial(torch.softmax(a[pair], -1), 1, generator=g))
        active, inactive = int(pair[c]), int(pair[1 - c])
        module.sampled = active
        # for :func:`rescale`: α row (shares the parameter's storage), the pair, its α before the update
        module.last_paths = (alpha.detach(), (active, inactive), alpha.detach()[[active, inactive]].clone())
        y = branches[active]()
        if not alpha.requires_grad:
            return y
        return _TwoPathGate.apply(alpha, y, (active, inactive), branches[inactive])


_MODES: dict[str, Mode] = {
    "softmax": Dense("softmax", partial(torch.softmax, dim=-1)),  # DARTS
    "sigmoid": Dense("sigmoid", torch.sigmoid),  # Fair DARTS: candidates do not compete
    "gumbel": Gumbel(),  # GDAS
    "single_path": SinglePath(),  # SPOS, FairNAS
    "binary": Binary(),  # ProxylessNAS
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


# -- helpers over a compiled model -----------------------------------------------------------


@dataclass(frozen=True)
class Site:
    """A relaxed module of a model: its path, and the α key and row fed to it (``None`` if unknown)."""

    path: str
    module: nn.Module
    key: Hashable | None
    row: int | None


def _alpha_source(model: nn.Module, node: Any) -> tuple[Hashable | None, int | None]:
    import operator

    last = node.args[-1] if node.args else None
    if getattr(last, "op", None) == "call_function" and last.target is operator.getitem:
        source, row = last.args
        if getattr(source, "op", None) == "get_attr" and isinstance(row, int):
            head, _, key = str(source.target).rpartition(".")
            if head.endswith("alphas"):
                return key, row
    return None, None


def sites(model: nn.Module) -> list[Site]:
    """Every relaxed module of ``model`` (nested subgraphs included), with the α key and row it gets."""
    from .modules import Relaxed

    found: dict[int, Site] = {}

    def walk(module: nn.Module, prefix: str) -> None:
        graph = getattr(module, "graph", None)
        if graph is not None and hasattr(graph, "nodes"):
            for node in graph.nodes:
                if node.op == "call_module":
                    sub = module.get_submodule(node.target)
                    path = f"{prefix}{node.target}"
                    if isinstance(sub, Relaxed) and id(sub) not in found:
                        found[id(sub)] = Site(path, sub, *_alpha_source(module, node))
        for name, child in module.named_children():
            walk(child, f"{prefix}{name}.")

    walk(model, "")
    for path, sub in model.named_modules():  # relaxed modules outside fx graphs
        if isinstance(sub, Relaxed) and id(sub) not in found:
            found[id(sub)] = Site(path, sub, None, None)
    return sorted(found.values(), key=lambda s: s.path)


Chooser = Mapping[Any, "int | None"] | Callable[[Site], "int | None"]


def set_paths(model: nn.Module, chooser: Chooser) -> dict[str, int | None]:
    """Set ``active`` (the ``single_path`` candidate) of every relaxed module of ``model``.

    ``chooser`` is a callable ``Site -> int | None`` or a mapping keyed by module path
    (``"n3"``, ``"n5.n2"``) or by ``(α key, row)``; the path wins when both match. A module the
    mapping does not name gets ``None`` (uniform sampling). Modules sharing an α key and row share
    a choice when keyed that way (e.g. the cells of a DARTS supernet). Returns path -> index.
    """
    chosen: dict[str, int | None] = {}
    for site in sites(model):
        if callable(chooser):
            k = chooser(site)
        elif site.path in chooser:
            k = chooser[site.path]
        else:
            k = chooser.get((site.key, site.row))
        if k is not None:
            n = len(site.module.candidates) if hasattr(site.module, "candidates") else None
            if isinstance(k, bool) or not isinstance(k, int) or k < 0 or (n is not None and k >= n):
                raise OpError(f"set_paths: index {k!r} out of range for {site.path!r} ({n} candidates)")
        site.module.active = k
        chosen[site.path] = k
    return chosen


def set_generator(model: nn.Module, generator: torch.Generator | int | None) -> torch.Generator | None:
    """Give every relaxed module of ``model`` one shared generator (an int seeds a new CPU one)."""
    if isinstance(generator, int) and not isinstance(generator, bool):
        generator = torch.Generator().manual_seed(generator)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise OpError(f"set_generator: expected a torch.Generator, an int seed or None, got {generator!r}")
    for site in sites(model):
        site.module.generator = generator
    return generator


def set_tau(model: nn.Module, tau: float) -> None:
    """Set the Gumbel temperature of every relaxed module of ``model``."""
    if not float(tau) > 0:
        raise OpError(f"set_tau: tau must be > 0, got {tau!r}")
    for site in sites(model):
        site.module.tau = float(tau)


@torch.no_grad()
def rescale(model: nn.Module) -> None:
    """ProxylessNAS rescaling after an α update of a ``binary`` forward: shift the two sampled α by
    log(Σ exp(new) / Σ exp(old)) so their total probability mass under softmax(α) is kept.

    Modules sharing an α row are rescaled one after another."""
    for site in sites(model):
        last = getattr(site.module, "last_paths", None)
        if last is None:
            continue
        row, pair, old = last
        idx = torch.tensor(pair, device=row.device)
        new = row[idx]
        offset = torch.logsumexp(new.double(), 0) - torch.logsumexp(old.double(), 0)
        row[idx] = new - offset.to(row.dtype)
        site.module.last_paths = None
