"""The one-shot model (Bender et al. 2018, docs/papers.md §14): a supernet trained with path dropout, then
architectures ranked with its shared weights.

Training: the supernet is compiled in ``path_dropout`` mode (:mod:`ops.relax`): every forward keeps, per
decision, each of its k candidates with probability 1 − r^(1/k) (so all k are dropped with probability r;
then one, drawn uniformly, is kept) and sums the kept candidates' outputs; the rate r rises linearly from
0 at the first step to ``drop_rate`` at the last (the paper's schedule). The weights follow SGD with
momentum under a cosine from ``lr`` to ``lr_min`` over the epochs, gradient norm clipped to ``grad_clip``,
on the training split.

Ranking: ``samples`` architectures drawn from the space (``space.sample``, seeded) are scored, each with
the supernet set to its path (every decision's row, :func:`wiring.supernet.set_paths`), by validation
accuracy with batch-norm batch statistics (as ENAS scores its samples); the best (the first on ties) is
``result.arch``; ``details["samples"]`` holds every ``(arch, accuracy)``.

No official code was released; the reading here: r^(1/k) per candidate and a linear schedule from the
paper's text, the keep-one rule so that no decision goes silent, the summed (unscaled) outputs, and
DARTS' search defaults for the optimiser (the paper trains with its own schedule on its own space).
Ghost batch normalisation and the paper's regularisation are not reproduced.

Checkpoint (``checkpoint=path``): after every epoch the supernet, optimiser, schedule, generators and the
epoch losses are saved; a killed search resumes to the result an uninterrupted one gives.
"""

from __future__ import annotations

import random
from typing import Any

import torch
from torch import nn

from generators.checks import positive_int, positive_real, real_in
from wiring.supernet import set_drop_rate, set_generator, set_paths

from ..strategy import SearchError
from .base import OneShotResult, OneShotStrategy, cross_entropy
from .checkpoint import Checkpoint, PathArg
from .enas import shared_accuracy
from .loop import Progress, check_data


class OneShotModel(OneShotStrategy):
    """Bender et al.'s one-shot model; see the module docstring."""

    mode = "path_dropout"
    needs = ("supernet", "decision rows")

    def __init__(self, space: Any, *, seed: int = 0, epochs: int = 50, batch_size: int = 64,
                 drop_rate: float = 0.1, lr: float = 0.025, lr_min: float = 0.001, momentum: float = 0.9,
                 weight_decay: float = 3e-4, grad_clip: float | None = 5.0, samples: int = 100,
                 device: str | torch.device = "cpu", progress: bool = True, checkpoint: PathArg = None) -> None:
        super().__init__(space, seed=seed, epochs=epochs, batch_size=batch_size, device=device, progress=progress,
                         checkpoint=checkpoint)
        real_in("drop_rate", drop_rate, 0.0, 1.0, include_high=False, error=SearchError)
        positive_real("lr", lr, error=SearchError)
        real_in("lr_min", lr_min, 0.0, lr, error=SearchError)
        real_in("momentum", momentum, 0.0, 1.0, include_high=False, error=SearchError)
        real_in("weight_decay", weight_decay, 0.0, error=SearchError)
        positive_real("grad_clip", grad_clip, allow_none=True, error=SearchError)
        positive_int("samples", samples, error=SearchError)
        self.drop_rate, self.lr, self.lr_min, self.momentum = float(drop_rate), lr, lr_min, momentum
        self.weight_decay, self.grad_clip, self.samples = weight_decay, grad_clip, samples

    def rate(self, step: int, total: int) -> float:
        """The drop rate at training step ``step`` of ``total``: linear from 0 to ``drop_rate``."""
        return self.drop_rate * step / max(1, total - 1)

    def _search(self, data: Any) -> OneShotResult:
        check_data(self.space, data)
        if len(getattr(data, "y_val", ())) == 0:
            raise SearchError("OneShotModel ranks architectures on the validation split, but data has no y_val")
        model = self.build_model().to(self.device)
        relax = set_generator(model, self.seed)
        gen = torch.Generator().manual_seed(self.seed)
        weights = list(model.weight_parameters())
        optimizer = torch.optim.SGD(weights, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=self.epochs, eta_min=self.lr_min)
        ckpt = Checkpoint.attach(self, data, model=model, optimizers=[optimizer], schedulers=[schedule],
                                 generators={"data": gen, "relax": relax})
        loop = ckpt.resume() or {"epoch": 0, "losses": []}
        x, y = data.x_train, data.y_train
        per_epoch = -(-len(y) // self.batch_size)
        total = self.epochs * per_epoch
        with Progress(self.progress, self.epochs, type(self).__name__, initial=loop["epoch"]) as bar:
            for epoch in range(loop["epoch"], self.epochs):
                model.train()
                order = torch.randperm(len(y), generator=gen)
                losses = []
                for i, start in enumerate(range(0, len(y), self.batch_size)):
                    set_drop_rate(model, self.rate(epoch * per_epoch + i, total))
                    idx = order[start:start + self.batch_size]
                    optimizer.zero_grad(set_to_none=True)
                    loss = cross_entropy(model, (x[idx].to(self.device), y[idx].to(self.device)))
                    loss.backward()
                    if self.grad_clip is not None:
                        nn.utils.clip_grad_norm_(weights, self.grad_clip)
                    optimizer.step()
                    losses.append(float(loss.detach()))
                schedule.step()
                loop = {"epoch": epoch + 1, "losses": [*loop["losses"], sum(losses) / len(losses)]}
                ckpt.save(**loop)
                bar.step(loss=loop["losses"][-1])
        return self._rank(model, data, loop)

    def _rank(self, model: nn.Module, data: Any, loop: dict[str, Any]) -> OneShotResult:
        """Score ``samples`` architectures of the space with the shared weights; the best is the result."""
        rng = random.Random(self.seed)
        names = [d.name for d in self.space.decisions()]
        scored = []
        for _ in range(self.samples):
            arch = self.space.sample(rng)
            set_paths(model, dict(zip(names, self.space.to_decisions(arch))))
            scored.append((arch, shared_accuracy(model, data.x_val, data.y_val, batch_size=self.batch_size,
                                                 device=self.device)))
        best, best_score = max(scored, key=lambda s: s[1])  # the first on ties
        set_paths(model, dict(zip(names, self.space.to_decisions(best))))
        model.eval()
        return OneShotResult(arch=best, alpha_history=[], stopped_early=False, reason=f"completed {self.epochs} epochs",
                             epochs_run=self.epochs, model=model,
                             details={"samples": scored, "best_score": best_score, "train_loss": loop["losses"]})


__all__ = ["OneShotModel"]
