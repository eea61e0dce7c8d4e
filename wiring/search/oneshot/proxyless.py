"""ProxylessNAS (Cai et al. 2019, docs/papers.md §8) and GDAS (Dong & Yang 2019) on a space's supernet.

Both are single-path one-shot searches: the supernet is compiled in a sampling
relaxation mode (:mod:`ops.relax`), so each forward runs one candidate per
decision (one draw per α row, shared by every site of the row: :mod:`wiring.supernet`).

Loop (:meth:`SampledOneShot.search`), in the reference codes' order: the
training set is split 50/50 (seeded permutation) into a weight half and an α
half; ``warmup_epochs`` epochs of weight steps only (cosine from ``warmup_lr``),
then ``epochs`` search epochs; every step takes a weight step (SGD with
momentum, Nesterov by default, label smoothing ``label_smoothing``, cosine
learning rate from ``lr`` to ``lr_min`` over the search epochs, gradient norm
clipped to ``grad_clip``) on a batch of the weight half (α frozen, so only the
sampled path runs and nothing is spent on α), then, where
:meth:`SampledOneShot.alpha_steps` says so (after every ``arch_every``-th weight
step), an α step (Adam) on a batch of the α half. An epoch is one pass over the
weight half; α is recorded after each epoch (``alpha_history``).

:class:`ProxylessNAS` (``mode="binary"``): binarised gates (one path's
activations per forward; α gradient by the reference's ``full_v2`` estimator or
the paper's two-path one, see :mod:`ops.relax`; :func:`wiring.supernet.rescale`
after every α step). The α loss adds a differentiable expected latency
(docs/papers.md §8)

    E[LAT] = base + Σ_layers Σ_i softmax(α_layer)_i · LAT(op_i at that layer)

through the full softmax (as the reference code's ``expected_latency``), from a
:class:`wiring.LatencyTable` (``latency``; measured on
``space.latency_graphs()`` when ``None`` and the latency term is used):

- ``loss="paper"``: CE + λ·E[LAT] (λ = ``latency_weight``, E[LAT] in ms);
- ``loss="code"`` (the default): λ·CE·(log E[LAT] / log T)^β, the reference's
  ``mul#log`` (T = ``target`` in ms, default the expected latency of the
  initial, uniform α; β = ``beta``, 0.3; λ = ``latency_weight``, the script's α
  0.2; 0, the default, switches the latency term off).

The per-layer latency vectors are built once (:func:`layer_latencies`): each
graph of ``space.latency_graphs()`` uses one candidate at every searchable layer
``layer<i>`` (the node label of :meth:`~spaces.proxyless.ProxylessSpace.to_graph`),
so the table entry of that node (its op, params and input shape, as the table
keys it) is that candidate's latency at layer ``i``; ``zero`` costs 0 (the layer
is absent). ``base`` is the latency of the fixed nodes (stem, first block, head),
the same in every graph. The entries are those of the deployable network (ops
with their own identity shortcut), not of the supernet's candidates.

:class:`GDAS` (``mode="gumbel"``): hard Gumbel-softmax sampling with the
straight-through gradient; τ is annealed linearly per epoch from ``tau_max``
(10) to ``tau_min`` (0.1): τ_e = τ_max − (τ_max − τ_min)·e/(epochs − 1), as in
the reference ``GDAS.py``; α loss is plain CE. Works with any space whose
supernet has ``choice`` nodes and has ``derive(model)``.

Determinism: the search runs under a forked torch RNG seeded with ``seed``; the
relaxed modules sample from one ``torch.Generator`` seeded with ``seed``
(:func:`wiring.supernet.set_generator`); data order from another seeded generator.

Checkpoint (``checkpoint=path``, :mod:`.checkpoint`): after every epoch the
supernet, both optimisers, the schedule, both generators, the global RNG,
``alpha_history`` and the strategy's run state (GDAS: τ history; ProxylessNAS:
latency history, per-layer latencies, base and target, so a measured latency
table is not measured again) are saved to ``path``; :meth:`SampledOneShot.search`
with an existing file resumes from it, to the result an uninterrupted search
gives (:meth:`SampledOneShot.prepare` runs only on a fresh start).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from generators.checks import int_at_least, positive_int, real_in
from ops.relax import ESTIMATORS
from wiring import LatencyTable
from wiring.supernet import alpha, alphas as alphas_of, decisions, last_index, rescale, set_estimator, set_generator
from wiring.supernet import set_tau, states

from ..strategy import SearchError
from .base import Batch, OneShotResult, OneShotStrategy, cross_entropy
from .checkpoint import Checkpoint, PathArg
from .loop import Progress, alternating, check_data, epoch_batches


@dataclass
class SampledOneShotResult(OneShotResult):
    """:class:`OneShotResult` plus ``latency_history`` (ProxylessNAS: E[LAT] in ms before the first α step,
    then after every α step; empty without a latency table) and ``tau_history`` (GDAS: τ of each epoch)."""

    latency_history: list[float] = field(default_factory=list)
    tau_history: list[float] = field(default_factory=list)


def layer_latencies(space: Any, table: Any) -> tuple[float, dict[str, torch.Tensor]]:
    """``(base, {layer key: latency of each choice})`` from ``table`` (see the module docstring)."""
    decisions = space.decisions()
    per_choice: dict[str, list[float]] = {}  # candidate -> latency at every layer
    base = None
    for G in space.latency_graphs():
        by_node = table.node_latencies(G)  # GraphError naming the node and key of a missing entry
        ops = {G.nodes[f"layer{i}"]["op"] for i in range(len(decisions)) if f"layer{i}" in G}
        if len(ops) != 1:
            raise SearchError(f"a latency graph should use one candidate at every layer, got {sorted(ops)}")
        layers, rest = [0.0] * len(decisions), 0.0
        for label, total in by_node.items():
            if isinstance(label, str) and label.startswith("layer") and label[5:].isdigit():
                layers[int(label[5:])] = total
            else:
                rest += total
        per_choice[ops.pop()] = layers
        base = rest if base is None else base
    vectors = {}
    for i, d in enumerate(decisions):
        row = []
        for c in d.choices:
            if c == "zero":
                row.append(0.0)
            elif c in per_choice:
                row.append(per_choice[c][i])
            else:
                raise SearchError(f"no latency graph uses candidate {c!r} (layer{i})")
        vectors[d.name] = torch.tensor(row, dtype=torch.float32)
    return float(base or 0.0), vectors


class SampledOneShot(OneShotStrategy):
    """The shared loop of :class:`ProxylessNAS` and :class:`GDAS` (module docstring)."""

    mode = ""

    def __init__(self, space: Any, *, seed: int = 0, epochs: int = 50, batch_size: int = 64, lr: float = 0.025,
                 lr_min: float = 0.001, momentum: float = 0.9, nesterov: bool = True, weight_decay: float = 3e-4,
                 grad_clip: float | None = 5.0, label_smoothing: float = 0.0, warmup_epochs: int = 0,
                 warmup_lr: float = 0.05, arch_every: int = 1, arch_lr: float = 3e-4,
                 arch_betas: tuple[float, float] = (0.5, 0.999), arch_weight_decay: float = 1e-3,
                 device: str | torch.device = "cpu", progress: bool = True, checkpoint: PathArg = None) -> None:
        super().__init__(space, seed=seed, epochs=epochs, batch_size=batch_size, device=device, progress=progress,
                         checkpoint=checkpoint)
        positive_int("arch_every", arch_every, error=SearchError)
        int_at_least("warmup_epochs", warmup_epochs, 0, error=SearchError)
        real_in("label_smoothing", label_smoothing, 0.0, 1.0, include_high=False, error=SearchError)
        self.lr, self.lr_min, self.momentum, self.nesterov = lr, lr_min, momentum, bool(nesterov)
        self.weight_decay, self.grad_clip, self.label_smoothing = weight_decay, grad_clip, float(label_smoothing)
        self.warmup_epochs, self.warmup_lr, self.arch_every = warmup_epochs, warmup_lr, arch_every
        self.arch_lr, self.arch_betas, self.arch_weight_decay = arch_lr, tuple(arch_betas), arch_weight_decay

    # -- hooks ----------------------------------------------------------------------------------

    def prepare(self, model: nn.Module) -> None:
        """Called once after the model is built, on a fresh start (a resumed search restores the run state)."""

    def before_epoch(self, model: nn.Module, epoch: int) -> None:
        """Called at the start of every epoch (``epoch`` counts the warm-up epochs too)."""

    def alpha_loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        return cross_entropy(model, batch)

    def alpha_steps(self, epoch: int, step: int) -> bool:
        """Whether weight step ``step`` (0-based, within epoch ``epoch`` counted from the first search epoch)
        is followed by an α step: after every ``arch_every``-th weight step."""
        return (step + 1) % self.arch_every == 0

    def before_alpha_update(self, model: nn.Module) -> None:
        """Called between the α loss' backward and the α optimiser step (gradients are on α)."""

    def after_alpha_step(self, model: nn.Module) -> None:
        """Called after every α optimiser step."""

    def _result_extras(self) -> dict[str, Any]:
        return {}

    def _lr_factor(self, epoch: int) -> float:
        """The weight learning rate of ``epoch`` over ``lr``: a cosine from ``warmup_lr`` to 0 over the warm-up
        epochs, then a cosine from ``lr`` to ``lr_min`` over the search epochs (per epoch)."""
        if epoch < self.warmup_epochs:
            return self.warmup_lr * (1 + math.cos(math.pi * epoch / self.warmup_epochs)) / 2 / self.lr
        t = (epoch - self.warmup_epochs) / self.epochs
        return (self.lr_min + (self.lr - self.lr_min) * (1 + math.cos(math.pi * t)) / 2) / self.lr

    # -- search ---------------------------------------------------------------------------------

    def _weight_step(self, model: nn.Module, setup: Any, batch: Batch) -> torch.Tensor:
        """One SGD step of the weights on ``batch``; α frozen, so only the sampled path runs."""
        for a in setup.alphas:
            a.requires_grad_(False)
        try:
            setup.w_opt.zero_grad(set_to_none=True)
            x, y = batch
            loss = cross_entropy(model, (x, y), self.label_smoothing)
            loss.backward()
            if self.grad_clip is not None:
                nn.utils.clip_grad_norm_(setup.weights, self.grad_clip)
            setup.w_opt.step()
        finally:
            for a in setup.alphas:
                a.requires_grad_(True)
        return loss

    def _alpha_step(self, model: nn.Module, setup: Any, batch: Batch) -> None:
        setup.a_opt.zero_grad(set_to_none=True)
        grads = torch.autograd.grad(self.alpha_loss(model, batch), setup.alphas, allow_unused=True)
        for a, g in zip(setup.alphas, grads):
            a.grad = torch.zeros_like(a) if g is None else g.detach()
        self.before_alpha_update(model)
        setup.a_opt.step()
        self.after_alpha_step(model)
        for w in setup.weights:  # the α step's backward leaves nothing on the weights
            w.grad = None

    def _search(self, data: Any) -> SampledOneShotResult:
        model = self.build_model().to(self.device)
        check_data(self.space, data)
        relax = set_generator(model, self.seed)
        x, y = data.x_train, data.y_train
        setup = alternating(self, model, len(y))
        setup.schedule = torch.optim.lr_scheduler.LambdaLR(setup.w_opt, self._lr_factor)
        ckpt = Checkpoint.attach(self, data, model=model, optimizers=[setup.w_opt, setup.a_opt],
                                 schedulers=[setup.schedule], generators={"data": setup.generator, "relax": relax})
        loop = ckpt.resume()
        if loop is None:
            self.prepare(model)
            loop = {"epoch": 0, "history": []}
        else:
            self._restore_run_state(loop["run_state"])
        history: list[dict[str, torch.Tensor]] = loop["history"]
        loss = torch.tensor(float("nan"))
        total = self.warmup_epochs + self.epochs
        with Progress(self.progress, total, type(self).__name__, initial=loop["epoch"]) as bar:
            for epoch in range(loop["epoch"], total):
                self.before_epoch(model, epoch)
                model.train()
                search_epoch = epoch - self.warmup_epochs
                batches = epoch_batches(setup.w_idx, setup.a_idx, self.batch_size, setup.generator)
                for step, (tb, vb) in enumerate(batches):
                    loss = self._weight_step(model, setup, (x[tb].to(self.device), y[tb].to(self.device)))
                    if search_epoch >= 0 and self.alpha_steps(search_epoch, step):
                        self._alpha_step(model, setup, (x[vb].to(self.device), y[vb].to(self.device)))
                setup.schedule.step()
                history.append({key: a.detach().cpu().clone() for key, a in alphas_of(model).items()})
                ckpt.save(epoch=epoch + 1, history=history, run_state=self._run_state())
                bar.step(loss=float(loss.detach()))
        model.eval()
        return SampledOneShotResult(arch=self.derive(model), alpha_history=history, stopped_early=False,
                                    reason=f"completed {total} epochs", epochs_run=total, model=model,
                                    **self._result_extras())


class ProxylessNAS(SampledOneShot):
    """ProxylessNAS, binarised gates with a latency loss (module docstring).

    Defaults are the reference search's (``search/imagenet_arch_search.py``): 40 warm-up epochs of
    weights only (cosine from 0.05), then 120 epochs (cosine from 0.025 to 0), SGD with Nesterov
    momentum 0.9, weight decay 4e-5, label smoothing 0.1 on the weight step, batch 256; one α step
    after every 5th weight step from the second search epoch on, Adam (lr 1e-3, betas (0, 0.999), no
    weight decay); the ``full_v2`` estimator (``estimator="two"``: the paper's two paths, with
    :func:`wiring.supernet.rescale`). An α step leaves a decision's α untouched (gradient ``None``)
    when the path it ran is the ``zero`` op (the reference's ``is_zero_layer`` check).
    """

    mode = "binary"

    def __init__(self, space: Any, *, seed: int = 0, epochs: int = 120, warmup_epochs: int = 40,
                 batch_size: int = 256, lr: float = 0.025, lr_min: float = 0.0, warmup_lr: float = 0.05,
                 momentum: float = 0.9, nesterov: bool = True, weight_decay: float = 4e-5,
                 label_smoothing: float = 0.1, grad_clip: float | None = None, arch_every: int = 5,
                 arch_lr: float = 1e-3, arch_betas: tuple[float, float] = (0.0, 0.999), arch_weight_decay: float = 0.0,
                 estimator: str = "full_v2", latency: Any = None, latency_weight: float = 0.0,
                 target: float | None = None, loss: str = "code", beta: float = 0.3, latency_repeats: int = 10,
                 device: str | torch.device = "cpu", progress: bool = True, checkpoint: PathArg = None) -> None:
        super().__init__(space, seed=seed, epochs=epochs, batch_size=batch_size, lr=lr, lr_min=lr_min,
                         momentum=momentum, nesterov=nesterov, weight_decay=weight_decay, grad_clip=grad_clip,
                         label_smoothing=label_smoothing, warmup_epochs=warmup_epochs, warmup_lr=warmup_lr,
                         arch_every=arch_every, arch_lr=arch_lr, arch_betas=arch_betas,
                         arch_weight_decay=arch_weight_decay, device=device, progress=progress, checkpoint=checkpoint)
        if estimator not in ESTIMATORS:
            raise SearchError(f"estimator must be one of {', '.join(ESTIMATORS)}, got {estimator!r}")
        self.estimator = estimator
        if loss not in ("paper", "code"):
            raise SearchError(f"loss must be 'paper' or 'code', got {loss!r}")
        real_in("latency_weight", latency_weight, 0.0, error=SearchError)
        if target is not None and (isinstance(target, bool) or not isinstance(target, (int, float))
                                   or not target > 0 or target == 1):
            raise SearchError(f"target must be a latency in ms > 0 and != 1 (log T divides), got {target!r}")
        self.latency, self.latency_weight, self.target = latency, float(latency_weight), target
        self.loss, self.beta, self.latency_repeats = loss, float(beta), latency_repeats
        self._base: float = 0.0
        self._layer_latency: dict[str, torch.Tensor] = {}
        self._latency_history: list[float] = []
        self._target: float | None = None

    def build_model(self) -> nn.Module:
        model = super().build_model()
        set_estimator(model, self.estimator)
        return model

    def alpha_steps(self, epoch: int, step: int) -> bool:
        return epoch > 0 and super().alpha_steps(epoch, step)  # the reference skips the first search epoch

    def before_alpha_update(self, model: nn.Module) -> None:
        ran = last_index(model)
        for d in decisions(model):
            k = ran.get(d.name)
            if k is not None and d.choices[k] == "zero":
                a = alpha(model, d.key)
                if a.shape[0] == 1:
                    a.grad = None  # Adam then leaves this α alone, as the reference's grad = None
                elif a.grad is not None:
                    a.grad[d.row] = 0.0

    @property
    def uses_latency(self) -> bool:
        return self.latency_weight > 0

    def prepare(self, model: nn.Module) -> None:
        self._latency_history = []
        if self.latency is None and not self.uses_latency:
            return
        if not callable(getattr(self.space, "latency_graphs", None)):
            raise SearchError(f"{type(self.space).__name__} has no latency_graphs(): the latency loss needs it")
        table = self.latency
        if table is None:
            table = LatencyTable().measure(self.space.latency_graphs(), repeats=self.latency_repeats)
        self._base, vectors = layer_latencies(self.space, table)
        self._layer_latency = {k: v.to(self.device) for k, v in vectors.items()}
        missing = set(model.alphas_by_key()) - set(self._layer_latency)
        if missing:
            raise SearchError(f"no latency vector for α keys {sorted(missing)}")
        with torch.no_grad():
            self._target = float(self.target) if self.target is not None else float(self.expected_latency(model))
            self._latency_history.append(float(self.expected_latency(model)))

    def expected_latency(self, model: nn.Module) -> torch.Tensor:
        """E[LAT] in ms, differentiable in α (full softmax per layer)."""
        alphas = model.alphas_by_key()
        total = torch.tensor(self._base, device=self.device)
        for key, lat in self._layer_latency.items():
            total = total + (torch.softmax(alphas[key].reshape(-1), -1) * lat).sum()
        return total

    def alpha_loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        ce = cross_entropy(model, batch)
        if not self.uses_latency:
            return ce
        lat = self.expected_latency(model)
        if self.loss == "paper":
            return ce + self.latency_weight * lat
        return self.latency_weight * ce * (torch.log(lat) / math.log(self._target)) ** self.beta

    def after_alpha_step(self, model: nn.Module) -> None:
        rescale(model)
        if self._layer_latency:
            with torch.no_grad():
                self._latency_history.append(float(self.expected_latency(model)))

    def _result_extras(self) -> dict[str, Any]:
        return {"latency_history": list(self._latency_history),
                "details": {"target": self._target, "base_latency": self._base,
                            "layer_latency": {k: v.cpu().tolist() for k, v in self._layer_latency.items()}}}

    def _run_state(self) -> dict[str, Any]:
        return {"latency_history": list(self._latency_history), "target": self._target, "base": self._base,
                "layer_latency": {k: v.cpu() for k, v in self._layer_latency.items()}}

    def _restore_run_state(self, state: dict[str, Any]) -> None:
        self._latency_history, self._target = list(state["latency_history"]), state["target"]
        self._base = state["base"]
        self._layer_latency = {k: v.to(self.device) for k, v in state["layer_latency"].items()}


class GDAS(SampledOneShot):
    """GDAS: hard Gumbel-softmax sampling, τ annealed linearly from ``tau_max`` to ``tau_min`` over the epochs.

    Defaults are the reference's NAS-Bench-201 configuration (D-X-Y/AutoDL-Projects, ``GDAS.py`` and its
    config): 250 epochs, batch 64, SGD lr 0.025 cosine to 0.001, Nesterov momentum 0.9, weight decay 5e-4,
    gradient norm clip 5; α by Adam (lr 3e-4, betas (0.5, 0.999), weight decay 1e-3), one α step after every
    weight step; τ 10 → 0.1. One Gumbel draw per forward is shared by every cell (:mod:`wiring.supernet`).
    ``unselected`` adds the unselected candidates' weights to every edge's output (the reference's NAS-Bench-201
    cell) or not (its DARTS-space cell); ``None`` takes the space's ``gdas_unselected`` (False if it has none).
    """

    mode = "gumbel"

    def __init__(self, space: Any, *, tau_max: float = 10.0, tau_min: float = 0.1, unselected: bool | None = None,
                 epochs: int = 250, batch_size: int = 64, lr: float = 0.025, lr_min: float = 0.001,
                 momentum: float = 0.9, nesterov: bool = True, weight_decay: float = 5e-4, grad_clip: float | None = 5.0,
                 arch_lr: float = 3e-4, arch_betas: tuple[float, float] = (0.5, 0.999), arch_weight_decay: float = 1e-3,
                 **options: Any) -> None:
        super().__init__(space, epochs=epochs, batch_size=batch_size, lr=lr, lr_min=lr_min, momentum=momentum,
                         nesterov=nesterov, weight_decay=weight_decay, grad_clip=grad_clip, arch_lr=arch_lr,
                         arch_betas=arch_betas, arch_weight_decay=arch_weight_decay, **options)
        if not (0 < tau_min <= tau_max):
            raise SearchError(f"need 0 < tau_min <= tau_max, got tau_min={tau_min!r}, tau_max={tau_max!r}")
        self.tau_max, self.tau_min = float(tau_max), float(tau_min)
        self.unselected = bool(getattr(space, "gdas_unselected", False)) if unselected is None else bool(unselected)
        self._taus: list[float] = []

    def build_model(self) -> nn.Module:
        model = super().build_model()
        for _, state in states(model):
            state.unselected = self.unselected
        return model

    def tau(self, epoch: int) -> float:
        if self.epochs == 1:
            return self.tau_max
        return self.tau_max - (self.tau_max - self.tau_min) * epoch / (self.epochs - 1)

    def prepare(self, model: nn.Module) -> None:
        self._taus = []

    def before_epoch(self, model: nn.Module, epoch: int) -> None:
        tau = self.tau(epoch)
        set_tau(model, tau)
        self._taus.append(tau)

    def _result_extras(self) -> dict[str, Any]:
        return {"tau_history": list(self._taus)}

    def _run_state(self) -> dict[str, Any]:
        return {"taus": list(self._taus)}

    def _restore_run_state(self, state: dict[str, Any]) -> None:
        self._taus = list(state["taus"])


__all__ = ["GDAS", "ProxylessNAS", "SampledOneShot", "SampledOneShotResult", "layer_latencies"]
