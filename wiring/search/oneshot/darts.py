"""DARTS (Liu et al. 2019, docs/papers.md §2), DARTS+ and Fair DARTS (§10) on a space's supernet.

A space for these strategies has ``supernet()`` (a typed DAG whose ``choice``
nodes share α by key) and ``derive(model)`` (the discrete architecture of a
compiled supernet), like :func:`spaces.darts.space`.

Search (:meth:`DARTS.search`): the supernet is compiled (``softmax`` mode;
``sigmoid`` for Fair DARTS) with ``seed``; the training set is split 50/50
(seeded permutation) into a weight half and an α half; every step takes an α
step (Adam) on a batch of the α half, then a weight step (SGD with momentum,
cosine learning rate from ``lr`` to ``lr_min`` over ``epochs``, gradient norm
clipped to ``grad_clip``) on a batch of the weight half; an epoch is one pass
over the weight half (the α half is cycled alongside). After each epoch α is
recorded (``alpha_history``) and the early-stop rule, if any, is asked.

α gradient (:func:`hypergradient`):

- first order: ∇α L_val(w, α);
- second order, the reference ``architect.py`` (``_compute_unrolled_model``): the
  unrolled weights w' = w − ξ(μ·buf + ∇w L_train(w, α) + weight_decay·w) with ξ
  the current weight learning rate and buf the weight optimiser's momentum
  buffer (μ its momentum; zero before the first weight step), then
  ∇α L_val(w', α) − ξ·(∇α L_train(w⁺, α) − ∇α L_train(w⁻, α)) / 2ε with
  w± = w ± ε∇w' L_val(w', α) and ε = 0.01/‖∇w' L_val(w', α)‖. The weights and
  the BN running statistics are restored afterwards, so only weight steps move
  them.

Determinism: the whole search runs under a forked torch RNG seeded with
``seed``; data order comes from a ``torch.Generator`` seeded with ``seed``.

Checkpoint (``checkpoint=path``, :mod:`.checkpoint`): after every epoch (and
the early-stop decision) the supernet, both optimisers, the schedule, the RNG
states, ``alpha_history`` and the stop state are saved to ``path``;
:meth:`DARTS.search` with an existing file resumes from it, to the result an
uninterrupted search gives (a finished search's file returns that result
without training). A file written by another setup is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from generators.checks import positive_int
from wiring import distributed
from wiring.supernet import learnable

from ..strategy import SearchError
from .base import Batch, OneShotResult, OneShotStrategy, cross_entropy
from .checkpoint import Checkpoint, PathArg
from .loop import Progress, alternating, check_data, epoch_batches

LossFn = Callable[[nn.Module, Batch], torch.Tensor]
EarlyStop = Callable[[int, nn.Module, list], "str | None"]


def _grads(loss: torch.Tensor, params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    grads = torch.autograd.grad(loss, list(params), allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]


@contextmanager
def _restored(model: nn.Module, weights: Sequence[torch.Tensor]) -> Iterator[None]:
    """Restore ``weights`` and every buffer (BN running statistics) of ``model`` on exit."""
    saved = [w.detach().clone() for w in weights]
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for w, s in zip(weights, saved):
                w.copy_(s)
            for b, s in buffers:
                b.copy_(s)


def hypergradient(model: nn.Module, train_batch: Batch, val_batch: Batch, *, alphas: Sequence[torch.Tensor],
                  weights: Sequence[torch.Tensor], order: int = 1, xi: float = 0.0, weight_decay: float = 0.0,
                  momentum: float = 0.0, buffers: Sequence[torch.Tensor | None] | None = None,
                  loss_fn: LossFn = cross_entropy,
                  alpha_loss: Callable[[], torch.Tensor] | None = None) -> list[torch.Tensor]:
    """∇α of the validation loss, first or second order (module docstring); ``alpha_loss()`` (e.g. Fair
    DARTS' zero-one loss, a function of α only) is added to the validation loss. ``buffers``: the weight
    optimiser's momentum buffer per weight (``None`` where it has none yet), scaled by ``momentum`` in the
    unrolled step. Returns one gradient per α; ``weights`` are left as they were."""
    alphas, weights = list(alphas), list(weights)
    extra = (lambda: 0.0) if alpha_loss is None else alpha_loss
    if order == 1:
        return _grads(loss_fn(model, val_batch) + extra(), alphas)
    if order != 2:
        raise SearchError(f"order must be 1 or 2, got {order!r}")
    with _restored(model, weights):
        g_train = _grads(loss_fn(model, train_batch), weights)
        with torch.no_grad():
            for w, g, buf in zip(weights, g_train, buffers or [None] * len(weights)):
                step = g + weight_decay * w  # w' = w − ξ (μ·buf + ∇w L_train(w) + λ·w)
                w.sub_(xi * (step if buf is None else step + momentum * buf))
        grads = _grads(loss_fn(model, val_batch) + extra(), alphas + weights)
        d_alpha, d_w = grads[:len(alphas)], grads[len(alphas):]
        norm = torch.sqrt(sum((g * g).sum() for g in d_w)) if d_w else torch.tensor(0.0)
        if not float(norm) > 0 or xi == 0:
            return d_alpha
        eps = 0.01 / float(norm)
    with _restored(model, weights):  # back at w
        with torch.no_grad():
            for w, v in zip(weights, d_w):
                w.add_(eps * v)
        g_plus = _grads(loss_fn(model, train_batch), alphas)
        with torch.no_grad():
            for w, v in zip(weights, d_w):
                w.sub_(2 * eps * v)
        g_minus = _grads(loss_fn(model, train_batch), alphas)
    return [d - xi * (p - m) / (2 * eps) for d, p, m in zip(d_alpha, g_plus, g_minus)]


class DARTS(OneShotStrategy):
    """DARTS on ``space.supernet()``; see the module docstring. Defaults are the paper's search setting.

    ``early_stop``: ``None``, ``"darts+"`` (stop when the derived normal cell
    holds ≥ ``max_skips`` skip-connects, default 2 — for DARTS genotypes, whose
    normal cell is (op, input) pairs; other spaces' cells only have the next
    rule — or, with
    ``stable_epochs=k``, when the argmax op of every edge has not changed for
    ``k`` epochs), or a callable ``(epoch, model, alpha_history) -> reason | None``.
    ``checkpoint``: a file to save the search to after every epoch and resume it from (module docstring).
    """

    mode = "softmax"
    data_parallel = True

    def __init__(self, space: Any, *, seed: int = 0, order: int = 1, epochs: int = 50, batch_size: int = 64,
                 lr: float = 0.025, lr_min: float = 0.001, momentum: float = 0.9, weight_decay: float = 3e-4,
                 grad_clip: float | None = 5.0, arch_lr: float = 3e-4, arch_betas: tuple[float, float] = (0.5, 0.999),
                 arch_weight_decay: float = 1e-3, device: str | torch.device = "cpu", progress: bool = True,
                 early_stop: str | EarlyStop | None = None, max_skips: int = 2,
                 stable_epochs: int | None = None, checkpoint: PathArg = None) -> None:
        super().__init__(space, seed=seed, epochs=epochs, batch_size=batch_size, device=device, progress=progress,
                         checkpoint=checkpoint)
        if order not in (1, 2):
            raise SearchError(f"order must be 1 or 2, got {order!r}")
        if not (early_stop is None or early_stop == "darts+" or callable(early_stop)):
            raise SearchError(f"early_stop must be None, 'darts+' or a callable, got {early_stop!r}")
        positive_int("stable_epochs", stable_epochs, allow_none=True, error=SearchError)
        self.order = order
        self.lr, self.lr_min, self.momentum = lr, lr_min, momentum
        self.weight_decay, self.grad_clip = weight_decay, grad_clip
        self.arch_lr, self.arch_betas, self.arch_weight_decay = arch_lr, tuple(arch_betas), arch_weight_decay
        self.early_stop, self.max_skips, self.stable_epochs = early_stop, max_skips, stable_epochs

    # -- hooks for variants ---------------------------------------------------

    def alpha_loss(self, model: nn.Module) -> Callable[[], torch.Tensor] | None:
        """An extra α-only loss added to the validation loss (none for DARTS)."""
        return None

    def after_alpha_step(self, model: nn.Module) -> None:
        """Called after every α step (Fair DARTS re-masks ``none`` here)."""

    # -- search ---------------------------------------------------------------

    def _search(self, data: Any) -> OneShotResult:
        model = self.build_model().to(self.device)
        distributed.broadcast(model)
        check_data(self.space, data)
        self.after_alpha_step(model)
        x, y = data.x_train, data.y_train
        setup = alternating(self, model, len(y))
        alphas, weights, gen = setup.alphas, setup.weights, setup.generator
        w_idx, a_idx, w_opt, a_opt, schedule = setup.w_idx, setup.a_idx, setup.w_opt, setup.a_opt, setup.schedule
        alpha_loss = self.alpha_loss(model)
        ckpt = Checkpoint.attach(self, data, model=model, optimizers=[w_opt, a_opt], schedulers=[schedule],
                                 generators={"data": gen})
        loop = ckpt.resume() or {"epoch": 0, "history": [], "stopped": False,
                                 "reason": f"completed {self.epochs} epochs"}
        history: list[dict[str, torch.Tensor]] = loop["history"]
        stopped, reason, epochs_run = loop["stopped"], loop["reason"], loop["epoch"]
        ranks = distributed.world()
        with Progress(self.progress and distributed.rank() == 0, self.epochs, type(self).__name__,
                      initial=epochs_run) as bar:
            for epoch in range(epochs_run, epochs_run if stopped else self.epochs):
                xi = schedule.get_last_lr()[0]
                model.train()
                for tb_all, vb_all in epoch_batches(w_idx, a_idx, self.batch_size * ranks, gen):
                    if min(len(tb_all), len(vb_all)) < ranks:  # too short to give every rank an example
                        continue
                    tb, vb = distributed.share(tb_all), distributed.share(vb_all)
                    train_batch = (x[tb].to(self.device), y[tb].to(self.device))
                    val_batch = (x[vb].to(self.device), y[vb].to(self.device))
                    # α step
                    a_opt.zero_grad(set_to_none=True)
                    buffers = [w_opt.state.get(w, {}).get("momentum_buffer") for w in weights]
                    grads = hypergradient(model, train_batch, val_batch, alphas=alphas, weights=weights,
                                          order=self.order, xi=xi, weight_decay=self.weight_decay,
                                          momentum=self.momentum, buffers=buffers, alpha_loss=alpha_loss)
                    weight = distributed.loss_weight(len(vb), len(vb_all))
                    for a, g in zip(alphas, grads):
                        a.grad = g.detach() * weight
                    distributed.average_gradients(alphas)
                    a_opt.step()
                    self.after_alpha_step(model)
                    # weight step
                    w_opt.zero_grad(set_to_none=True)
                    for a in alphas:
                        a.grad = None
                    loss = cross_entropy(model, train_batch)
                    (loss * distributed.loss_weight(len(tb), len(tb_all))).backward()
                    distributed.average_gradients(weights)
                    if self.grad_clip is not None:
                        nn.utils.clip_grad_norm_(weights, self.grad_clip)
                    for a in alphas:  # the α step owns α
                        a.grad = None
                    w_opt.step()
                    distributed.broadcast_buffers(model)
                schedule.step()
                epochs_run = epoch + 1
                history.append({key: a.detach().cpu().clone() for key, a in model.alphas_by_key().items()})
                bar.step(loss=float(loss.detach()))
                why = self._should_stop(epoch, model, history)
                if why is not None:
                    stopped, reason = True, why
                ckpt.save(epoch=epochs_run, history=history, stopped=stopped, reason=reason)
                if stopped:
                    break
        model.eval()
        return OneShotResult(arch=self.derive(model), alpha_history=history, stopped_early=stopped, reason=reason,
                             epochs_run=epochs_run, model=model, details=self.details(model))

    def _should_stop(self, epoch: int, model: nn.Module, history: list) -> str | None:
        if self.early_stop is None:
            return None
        if callable(self.early_stop):
            return self.early_stop(epoch, model, history)
        skips = self.space.count_ops(self.derive(model), "skip_connect", cell="normal") \
            if callable(getattr(self.space, "count_ops", None)) else None
        if skips is not None:  # a space that cannot count ops has only the ranking rule
            if skips >= self.max_skips:
                return (f"darts+: derived normal cell holds {skips} skip_connect (>= {self.max_skips}) "
                        f"after epoch {epoch + 1}")
        k = self.stable_epochs
        if k is not None and len(history) > k:
            masks = {key: torch.tensor(learnable(model, key)) for key in history[-1]}
            ranks = [{key: _ranking(a, masks[key]) for key, a in h.items()} for h in history[-(k + 1):]]
            if all(all(torch.equal(r[key], ranks[0][key]) for key in r) for r in ranks[1:]):
                return (f"darts+: α ranking (argmax learnable op per edge) unchanged for {k} epochs after epoch "
                        f"{epoch + 1}")
        return None


def _ranking(alpha: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per row, the strongest of the columns ``mask`` marks (DARTS+ ranks learnable ops only)."""
    if not mask.any():  # no learnable op: every column
        mask = torch.ones_like(mask)
    return alpha.masked_fill(~mask, -float("inf")).argmax(dim=-1)


class DARTSPlus(DARTS):
    """DARTS+ (docs/papers.md §10): DARTS with ``early_stop="darts+"`` (``max_skips``, ``stable_epochs`` as in DARTS)."""

    def __init__(self, space: Any, **options: Any) -> None:
        options.setdefault("early_stop", "darts+")
        super().__init__(space, **options)


class FairDARTS(DARTS):
    """Fair DARTS (docs/papers.md §10): sigmoid weights, zero-one loss, threshold derivation.

    ``none`` is masked, not removed: the supernet keeps the ``none`` column of α
    (column 0, so the α shapes stay (edges, 8)), but it is pinned to
    ``NONE_ALPHA`` (σ ≈ 5e-5) after every α step, excluded from the zero-one
    loss and never derived. (Under sigmoid, ``none`` adds σ·0 = 0 to its edge:
    its weight has no effect on the output anyway.)

    α loss: L_val + ``zero_one_weight``·L01 with L01 = −(1/N) Σ (σ(α) − 0.5)²
    over the N non-``none`` entries.

    Derivation (by the space, ``space.derive(model, weighting="sigmoid", threshold=...)``): ``result.arch``
    is the top-2 rule on σ(α), a member of the space (every node keeps two distinct inputs, as the runner
    needs to retrain it); ``details["sparse"]`` is the reference's ``threshold_sparse`` genotype, in which
    an edge of those two whose strongest σ is below ``threshold`` is dropped (``("none", input)``: a node
    may keep one edge or none; build it with :func:`spaces.darts.network`); ``details["kept"]`` holds per
    edge the ops with σ above ``threshold`` (strongest first, at most two).

    Defaults are the reference's (xiaomi-automl/FairDARTS ``train_search.py``, ``architect.py``): weight
    lr 0.005 (cosine to 0.001), batch 128; α by Adam lr 3e-3, betas (0.9, 0.999), weight decay 1e-3;
    zero-one weight 10; threshold 0.85. The reference starts α at zero; here at 1e-3·N(0, 1) as DARTS.
    """

    mode = "sigmoid"
    needs = ("supernet", "weighted derive")
    NONE_ALPHA = -10.0

    def __init__(self, space: Any, *, threshold: float = 0.85, zero_one_weight: float = 10.0, lr: float = 0.005,
                 batch_size: int = 128, arch_lr: float = 3e-3, arch_betas: tuple[float, float] = (0.9, 0.999),
                 **options: Any) -> None:
        super().__init__(space, lr=lr, batch_size=batch_size, arch_lr=arch_lr, arch_betas=arch_betas, **options)
        self.threshold, self.zero_one_weight = threshold, zero_one_weight

    def after_alpha_step(self, model: nn.Module) -> None:
        with torch.no_grad():
            for a in model.arch_parameters():
                a[..., 0] = self.NONE_ALPHA

    def alpha_loss(self, model: nn.Module) -> Callable[[], torch.Tensor]:
        alphas = list(model.arch_parameters())

        def zero_one() -> torch.Tensor:
            s = torch.cat([torch.sigmoid(a[..., 1:]).reshape(-1) for a in alphas])
            return self.zero_one_weight * -((s - 0.5) ** 2).mean()

        return zero_one

    def derive(self, model: nn.Module) -> Any:
        """The space's top-2 rule on σ(α): a member of the space (``details["sparse"]``: the reference's
        sparse reading)."""
        return self.space.derive(model, weighting="sigmoid")

    def details(self, model: nn.Module) -> dict[str, Any]:
        return {"kept": self.space.edge_ops(model, weighting="sigmoid", threshold=self.threshold),
                "sparse": self.space.derive(model, weighting="sigmoid", threshold=self.threshold),
                "threshold": self.threshold}

