"""ENAS (Pham et al. 2018, docs/papers.md §4): shared weights trained under a REINFORCE controller.

A space for ENAS has ``supernet()``, ``derive(model)``, ``decisions()``,
``to_decisions()`` and ``from_decisions()``, like :func:`spaces.enas.space`
(micro and macro), and its supernet's α rows correspond one-to-one to its
decisions (see *Paths* below).

Loop (:meth:`ENAS.search`), as the official code (``melodyguan/enas``,
``src/cifar10/main.py``) runs it: the supernet is compiled in ``single_path``
mode (:mod:`ops.relax`) with ``seed``; the controller is
:class:`wiring.search.reinforce.Reinforce` (LSTM over ``space.decisions()``,
REINFORCE with a moving-average baseline and an entropy bonus). Every epoch:

1. child phase: one pass over the training split in shuffled minibatches; for
   each minibatch the controller samples an architecture, the supernet is put
   on its path and one SGD step is taken on the shared weights (momentum,
   Nesterov, L2 weight decay, gradient norm clipped to ``grad_clip``). The
   learning rate follows a cosine from ``lr`` to ``lr_min`` per epoch with warm
   restarts after ``lr_period`` epochs, the period multiplied by
   ``lr_period_mult`` at each restart (``lr_period=None``: one cosine over all
   epochs);
2. controller phase: ``controller_steps`` updates; each samples
   ``controller_aggregate`` architectures (``Reinforce(batch=...)``), rewards
   each with the shared-weight accuracy on the next minibatch of the validation
   split, and takes one Adam step on the controller.

Final pick: ``final_samples`` architectures are sampled from the trained
controller and scored with the shared weights on the whole validation split;
the best (the first on ties) is ``result.arch`` and ``result.model`` is the
supernet set to its path. The validation split is the Dataset's ``x_val`` /
``y_val`` (the reference holds out 5,000 training images for it); the test
split is never read. Shared-weight accuracies are computed with batch-norm
batch statistics (the reference builds its reward graph with
``is_training=True``); running statistics are not updated by scoring.

``result.details``: ``samples`` (the scored ``(arch, accuracy)`` pairs of the
final pick), ``best_score``, ``rewards`` (per controller step, the rewards of
its architectures), ``baseline`` (the controller's baseline after each step),
``train_loss`` (mean child loss per epoch) and ``controller`` (the trained
:class:`Reinforce`, to sample more; its ``history`` holds every rewarded
architecture). ``alpha_history`` is empty: ENAS has no α.

Defaults, with their reference values (``scripts/cifar10_micro_search.sh``;
the macro script's values in brackets): ``epochs`` 150 [310], ``batch_size``
160 [128], ``lr`` 0.05 to ``lr_min`` 0.0005, ``lr_period`` 10,
``lr_period_mult`` 2, momentum 0.9 with Nesterov, ``weight_decay`` 2e-4 (the
reference adds ``l2_reg · Σ w²`` to the loss with ``l2_reg`` 1e-4 [2.5e-4], a
decay of 2·l2_reg), ``grad_clip`` 5 (``child_grad_bound``; the reference's
per-tensor clip appends the unclipped gradient, so it never clips; here the
global norm is clipped), ``controller_steps`` 30 [50], ``controller_aggregate``
10 [20], ``controller_lr`` 0.0035 [0.001], ``controller_hidden`` 64,
``tanh_constant`` 1.1 [1.5], ``op_tanh_reduce`` 2.5 [1: the macro controller
has none], ``skip_weight`` 0.8 and ``skip_target`` 0.4 (the macro skip
penalty; micro cells have no skip decisions, so it is zero there),
``entropy_weight`` 1e-4, ``baseline_decay`` 0.99, the controller's Adam with
β1 = 0 and ε = 1e-3, ``final_samples`` 10 (the reference prints 10 samples
after each controller phase), ``temperature`` ``None`` (the scripts set none;
the paper's 5 with ``temperature=5``), the baseline starting at 0. The micro
controller's details come from the space's decisions (:class:`spaces.Decision`):
op logits start from ``b_soft`` (10, 10, 0, 0, 0), normal cells add the fixed
``b_soft_no_learn`` (0.25, 0.25, −0.25, −0.25, −0.25) after the tanh (initial
normal-cell op probabilities ≈ 0.315, 0.315, 0.123, 0.123, 0.123), and input
choices attend over the earlier nodes (see :class:`~wiring.search.reinforce.Controller`).
Not reproduced: the full entropy of each decision replaces the sampled
token's term, dropout, drop-path and the auxiliary head.

Paths: the space says which α row implements each decision
(``space.decision_rows()``; the compiled supernet names them, :mod:`wiring.supernet`),
so a sampled architecture sets each decision's row once and every site of the row
follows it (:class:`Paths`). A ``choice`` whose only consumer is an unselected input of a
``select`` (the micro supernet computes one ``choice`` per candidate input) is
set to a parameter-free candidate whose output the ``select`` discards, so only
the sampled path's weights and batch-norm statistics are used.

Determinism: the search runs under a forked torch RNG seeded with ``seed``
(:func:`loop.seeded`); architectures come from the controller's seeded
generator, the data order from a ``torch.Generator`` seeded with ``seed``. On
CUDA the same seed gives the same result only with
``torch.use_deterministic_algorithms(True)`` (and ``CUBLAS_WORKSPACE_CONFIG=:4096:8``):
otherwise convolution kernels vary in their last bits, the rewards with them,
and the controller's samples drift apart.

State: everything a search changes is held in one :class:`ENASState` (model,
optimiser, schedule, controller, data generator, validation cursor, histories,
epoch counter); an epoch only reads and writes it.

Checkpoint (``checkpoint=path``, :mod:`.checkpoint`): after every epoch the
state is saved to ``path``: the supernet, the child optimiser and schedule, the
controller's LSTM, Adam optimiser and generator, the data generator and torch's
global RNG (as :class:`~.checkpoint.Checkpoint` parts), and
:meth:`ENASState.saved` (epoch, validation order and cursor, histories, the
controller's baseline, the rewarded architectures as ``space.encode`` strings).
:meth:`ENAS.search` with an existing file resumes from it, to the result an
uninterrupted search gives (a finished search's file returns that result
without training); a file written by another setup is refused. The controller's
pending tells are empty between epochs (every controller step tells it exactly
``controller_aggregate`` architectures), so nothing of them is saved.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import fx, nn

from generators.checks import positive_int, positive_real, real_in
from ops.functional import identity
from ops.modules import FunctionOp, MixedOp, Select
from wiring import supernet

from ..reinforce import Reinforce
from ..strategy import SearchError
from .base import OneShotResult, OneShotStrategy, cross_entropy, logits
from .checkpoint import Checkpoint, PathArg
from .loop import Progress, check_data


# -- paths ------------------------------------------------------------------------------------


def decision_names(space: Any, model: nn.Module) -> list[str]:
    """The names of ``space``'s decisions, once checked to be the decisions of the compiled supernet
    ``model`` (``space.decision_rows()``, see :mod:`wiring.supernet`), with as many choices each.

    :class:`SearchError` saying why otherwise: ENAS' controller emits ``space.decisions()`` token by
    token, so each must be one α row of the supernet."""
    name = type(space).__name__
    if space.decision_rows() is None:
        raise SearchError(f"{name}: its supernet's α rows are not its decisions (decision_rows() is None); ENAS "
                          f"needs one α row per decision")
    found = {d.name: d for d in supernet.decisions(model)}
    for d in space.decisions():
        row = found.pop(d.name, None)
        if row is None and len(d.choices) > 1:
            raise SearchError(f"{name}: no α row of the supernet implements decision {d.name!r}")
        if row is not None and len(row.choices) != len(d.choices):
            raise SearchError(f"{name}: decision {d.name!r} has {len(d.choices)} choices but its α row has "
                              f"{len(row.choices)}")
    extra = [n for n, d in found.items() if len(d.choices) > 1]
    if extra:
        raise SearchError(f"{name}: the supernet's decisions {extra[:5]} are not decisions of the space")
    return [d.name for d in space.decisions()]


def idle_branches(model: nn.Module) -> list[tuple[nn.Module, int, nn.Module, int]]:
    """``(select, slot, choice, free)`` for every ``choice`` module whose only consumer is input ``slot`` of a
    ``select`` module, with ``free`` the index of a candidate that has no parameters and no buffers
    (:func:`_free_candidate`); choices without one are left out."""
    found = []
    for module in model.modules():
        graph = getattr(module, "graph", None)
        if not isinstance(graph, fx.Graph):
            continue
        for node in graph.nodes:
            if node.op != "call_module" or not isinstance(module.get_submodule(node.target), Select):
                continue
            for slot, arg in enumerate(node.args[:-1]):  # the last argument is α
                if not (isinstance(arg, fx.Node) and arg.op == "call_module" and len(arg.users) == 1):
                    continue
                choice = module.get_submodule(arg.target)
                free = _free_candidate(choice) if isinstance(choice, MixedOp) else None
                if free is not None:
                    found.append((module.get_submodule(node.target), slot, choice, free))
    return found


def _free_candidate(choice: nn.Module) -> int | None:
    """A candidate of ``choice`` without parameters or buffers, the identity if there is one (cheapest)."""
    free = [i for i, c in enumerate(choice.candidates)
            if next(c.parameters(), None) is None and next(c.buffers(), None) is None]
    same = [i for i in free if isinstance(choice.candidates[i], nn.Identity) or (
        isinstance(choice.candidates[i], FunctionOp) and choice.candidates[i].function is identity)]
    return (same + free)[0] if free else None


class Paths:
    """Puts a ``single_path`` supernet of ``space`` on the path of one architecture (decision indices)."""

    def __init__(self, space: Any, model: nn.Module) -> None:
        self.model, self.names = model, decision_names(space, model)
        self.idle = idle_branches(model)

    def set(self, indices: Sequence[int]) -> None:
        """Set every decision to the candidate ``indices`` (one per decision) picks."""
        chosen = dict(zip(self.names, (int(i) for i in indices)))
        supernet.set_paths(self.model, chosen)
        for select, slot, choice, free in self.idle:
            choice.active = free if chosen.get(select.decision, 0) != slot else None


# -- scoring ----------------------------------------------------------------------------------


@contextmanager
def batch_statistics(model: nn.Module) -> Iterator[None]:
    """Train-mode batch norms that use batch statistics without updating running ones (no gradients)."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    tracked = [m.track_running_stats for m in bns]
    was_training = model.training
    if not was_training:  # train() walks every module: skip it when it would change nothing
        model.train()
    for m in bns:
        m.track_running_stats = False
    try:
        with torch.no_grad():
            yield
    finally:
        for m, t in zip(bns, tracked):
            m.track_running_stats = t
        if not was_training:
            model.eval()


def shared_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int,
                    device: torch.device | str = "cpu") -> float:
    """Accuracy of ``model`` (on its current path) on ``(x, y)`` in batches, with batch statistics."""
    correct = 0
    with batch_statistics(model):
        for i in range(0, len(y), batch_size):
            pred = logits(model(x[i:i + batch_size].to(device))).argmax(1)
            correct += int((pred == y[i:i + batch_size].to(device)).sum())
    return correct / len(y)


# -- the search -------------------------------------------------------------------------------


@dataclass
class ENASState:
    """Everything an ENAS search changes (``paths`` is derived from the model and the space).

    ``archs[i][j]`` is the ``space.encode`` string of the architecture rewarded ``rewards[i][j]``
    at controller step ``i``."""

    model: nn.Module
    paths: Paths
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    controller: Reinforce
    generator: torch.Generator
    val_order: torch.Tensor
    val_pos: int = 0
    epoch: int = 0
    train_loss: list[float] = field(default_factory=list)
    rewards: list[list[float]] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)
    archs: list[list[str]] = field(default_factory=list)

    def attach(self, strategy: Any, data: Any) -> Checkpoint:
        """The checkpoint of ``strategy`` (at its ``checkpoint`` path) over this state's live objects."""
        return Checkpoint.attach(strategy, data, model=self.model, modules={"controller": self.controller.controller},
                                 optimizers=[self.optimizer, self.controller.optimizer], schedulers=[self.schedule],
                                 generators={"data": self.generator, "controller": self.controller.generator})

    def saved(self) -> dict[str, Any]:
        """The rest of the state, as plain data and tensors, for :meth:`Checkpoint.save`."""
        return {"epoch": self.epoch, "val_order": self.val_order, "val_pos": self.val_pos,
                "train_loss": self.train_loss, "rewards": self.rewards, "baseline": self.baseline,
                "archs": self.archs, "controller_baseline": self.controller.baseline}

    def restore(self, saved: dict[str, Any]) -> None:
        """Take back :meth:`saved`'s value; the controller's history is rebuilt from ``archs`` and ``rewards``."""
        self.epoch, self.val_order, self.val_pos = saved["epoch"], saved["val_order"], saved["val_pos"]
        self.train_loss, self.rewards, self.baseline = saved["train_loss"], saved["rewards"], saved["baseline"]
        self.archs, self.controller.baseline = saved["archs"], saved["controller_baseline"]
        decode = self.controller.space.decode
        self.controller.history = [(decode(arch), reward) for archs, rewards in zip(self.archs, self.rewards)
                                   for arch, reward in zip(archs, rewards)]


class ENAS(OneShotStrategy):
    """ENAS on ``space.supernet()``; see the module docstring for the loop and the defaults.

    ``progress``: a bar over the epochs; ``checkpoint``: a file to save the search to after every epoch and
    resume it from (module docstring)."""

    mode = "single_path"
    needs = ("supernet", "decision rows")

    def __init__(self, space: Any, *, seed: int = 0, epochs: int = 150, batch_size: int = 160, lr: float = 0.05,
                 lr_min: float = 0.0005, lr_period: int | None = 10, lr_period_mult: int = 2, momentum: float = 0.9,
                 nesterov: bool = True, weight_decay: float = 2e-4, grad_clip: float | None = 5.0,
                 controller_steps: int = 30, controller_aggregate: int = 10, controller_lr: float = 0.0035,
                 controller_hidden: int = 64, temperature: float | None = None, tanh_constant: float = 1.1,
                 op_tanh_reduce: float = 2.5, skip_weight: float = 0.8, skip_target: float = 0.4,
                 entropy_weight: float = 1e-4, baseline_decay: float = 0.99, final_samples: int = 10,
                 device: str | torch.device = "cpu", progress: bool = True, checkpoint: PathArg = None) -> None:
        super().__init__(space, seed=seed, epochs=epochs, batch_size=batch_size, device=device, progress=progress,
                         checkpoint=checkpoint)
        for name, value in (("lr_period_mult", lr_period_mult), ("controller_steps", controller_steps),
                            ("controller_aggregate", controller_aggregate), ("controller_hidden", controller_hidden),
                            ("final_samples", final_samples)):
            positive_int(name, value, error=SearchError)
        positive_int("lr_period", lr_period, allow_none=True, error=SearchError)
        positive_real("lr", lr, error=SearchError)
        real_in("lr_min", lr_min, 0.0, lr, error=SearchError)
        real_in("momentum", momentum, 0.0, 1.0, include_high=False, error=SearchError)
        real_in("weight_decay", weight_decay, 0.0, error=SearchError)
        positive_real("grad_clip", grad_clip, allow_none=True, error=SearchError)
        if nesterov and not momentum > 0:
            raise SearchError(f"nesterov needs momentum > 0, got momentum={momentum!r}")
        for name, value in (("controller_lr", controller_lr), ("tanh_constant", tanh_constant),
                            ("op_tanh_reduce", op_tanh_reduce)):
            positive_real(name, value, error=SearchError)
        positive_real("temperature", temperature, allow_none=True, error=SearchError)
        real_in("skip_target", skip_target, 0.0, 1.0, include_low=False, include_high=False, error=SearchError)
        real_in("skip_weight", skip_weight, 0.0, error=SearchError)
        real_in("entropy_weight", entropy_weight, 0.0, error=SearchError)
        real_in("baseline_decay", baseline_decay, 0.0, 1.0, include_high=False, error=SearchError)
        self.lr, self.lr_min, self.lr_period, self.lr_period_mult = lr, lr_min, lr_period, lr_period_mult
        self.momentum, self.nesterov, self.weight_decay, self.grad_clip = momentum, nesterov, weight_decay, grad_clip
        self.controller_steps, self.controller_aggregate = controller_steps, controller_aggregate
        self.controller_options = {"hidden": controller_hidden, "lr": controller_lr, "temperature": temperature,
                                   "tanh_constant": tanh_constant, "op_tanh_reduce": op_tanh_reduce,
                                   "skip_weight": skip_weight, "skip_target": skip_target,
                                   "entropy_weight": entropy_weight, "baseline_decay": baseline_decay, "baseline": 0.0}
        self.final_samples = final_samples

    # -- pieces ---------------------------------------------------------------------------------

    def start(self, data: Any) -> ENASState:
        """A fresh state: supernet, optimiser, schedule, controller and data order for ``data``."""
        check_data(self.space, data)
        for name in ("x_val", "y_val"):
            if len(getattr(data, name, ())) == 0:
                raise SearchError(f"ENAS rewards the controller on the validation split, but data has no {name}")
        model = self.build_model().to(self.device).train()
        weights = list(model.weight_parameters())
        optimizer = torch.optim.SGD(weights, lr=self.lr, momentum=self.momentum, nesterov=self.nesterov,
                                    weight_decay=self.weight_decay)
        if self.lr_period is None:
            schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=self.epochs, eta_min=self.lr_min)
        else:
            schedule = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
                optimizer, T_0=self.lr_period, T_mult=self.lr_period_mult, eta_min=self.lr_min)
        controller = Reinforce(self.space, seed=self.seed, batch=self.controller_aggregate, **self.controller_options)
        generator = torch.Generator().manual_seed(self.seed)
        return ENASState(model=model, paths=Paths(self.space, model), optimizer=optimizer, schedule=schedule,
                         controller=controller, generator=generator,
                         val_order=torch.randperm(len(data.y_val), generator=generator))

    @staticmethod
    def sample(state: ENASState) -> list[int]:
        """Decision indices of one architecture drawn from the controller (no gradient, nothing told)."""
        return state.controller.draw()

    def child_step(self, state: ENASState, indices: Sequence[int], batch: tuple[torch.Tensor, torch.Tensor]) -> float:
        """One SGD step of the shared weights on ``batch`` along the path of ``indices``; returns the loss."""
        state.paths.set(indices)
        state.optimizer.zero_grad(set_to_none=True)
        loss = cross_entropy(state.model, batch)
        loss.backward()
        if self.grad_clip is not None:
            nn.utils.clip_grad_norm_(state.model.weight_parameters(), self.grad_clip)
        state.optimizer.step()
        return float(loss.detach())

    def _val_batch(self, state: ENASState, data: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if state.val_pos >= len(state.val_order):
            state.val_order, state.val_pos = torch.randperm(len(data.y_val), generator=state.generator), 0
        idx = state.val_order[state.val_pos:state.val_pos + self.batch_size]
        state.val_pos += self.batch_size
        return data.x_val[idx], data.y_val[idx]

    def controller_step(self, state: ENASState, data: Any) -> None:
        """One controller update over ``controller_aggregate`` architectures rewarded on validation minibatches;
        appends to the state's ``rewards``, ``archs`` and ``baseline``."""
        rewards, archs = [], []
        for _ in range(self.controller_aggregate):
            arch = state.controller.ask()
            x, y = self._val_batch(state, data)
            state.paths.set(self.space.to_decisions(arch))
            reward = shared_accuracy(state.model, x, y, batch_size=self.batch_size, device=self.device)
            state.controller.tell(arch, reward)
            rewards.append(reward)
            archs.append(self.space.encode(arch))
        state.rewards.append(rewards)
        state.archs.append(archs)
        state.baseline.append(float(state.controller.baseline))

    def epoch(self, state: ENASState, data: Any) -> None:
        """One epoch: the child phase, then the controller phase (module docstring)."""
        order = torch.randperm(len(data.y_train), generator=state.generator)
        losses = []
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            batch = (data.x_train[idx].to(self.device), data.y_train[idx].to(self.device))
            losses.append(self.child_step(state, self.sample(state), batch))
        state.schedule.step()
        state.train_loss.append(sum(losses) / len(losses))
        for _ in range(self.controller_steps):
            self.controller_step(state, data)
        state.epoch += 1

    def finish(self, state: ENASState, data: Any) -> OneShotResult:
        """The final pick: ``final_samples`` controller samples scored on the whole validation split."""
        samples = []
        for _ in range(self.final_samples):
            indices = self.sample(state)
            state.paths.set(indices)
            score = shared_accuracy(state.model, data.x_val, data.y_val, batch_size=self.batch_size,
                                    device=self.device)
            samples.append((self.space.from_decisions(indices), score))
        best, best_score = max(samples, key=lambda s: s[1])  # the first on ties
        state.paths.set(self.space.to_decisions(best))
        state.model.eval()
        details = {"samples": samples, "best_score": best_score, "rewards": state.rewards,
                   "baseline": state.baseline, "train_loss": state.train_loss, "controller": state.controller}
        return OneShotResult(arch=best, alpha_history=[], stopped_early=False,
                             reason=f"completed {state.epoch} epochs", epochs_run=state.epoch, model=state.model,
                             details=details)

    # -- search ---------------------------------------------------------------------------------

    def _search(self, data: Any) -> OneShotResult:
        """Weights on ``data``'s training split, rewards and the final pick on its validation split. With
        ``checkpoint`` set, saves after every epoch and resumes from an existing file (module docstring)."""
        state = self.start(data)
        ckpt = state.attach(self, data)
        saved = ckpt.resume()
        if saved is not None:
            state.restore(saved)
        with Progress(self.progress, self.epochs, type(self).__name__, initial=state.epoch) as bar:
            while state.epoch < self.epochs:
                self.epoch(state, data)
                ckpt.save(**state.saved())
                bar.step(loss=state.train_loss[-1], reward=sum(state.rewards[-1]) / len(state.rewards[-1]))
        return self.finish(state, data)


__all__ = ["ENAS", "ENASState", "Paths", "batch_statistics", "decision_names", "idle_branches", "shared_accuracy"]
