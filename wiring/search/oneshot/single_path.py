"""Single-path one-shot search: SPOS (Guo et al. 2020, docs/papers.md §9) and FairNAS (§10).

A space for these strategies is a single-path space such as :func:`spaces.spos.space` or
:func:`spaces.spos.layers`: ``supernet()`` holds one ``choice`` node per layer with α key
``layer<i>`` (the name of its i-th decision), ``to_decisions(arch)`` gives an architecture's
per-layer candidate indices, ``to_graph(arch)`` its discrete graph.

:class:`SPOS` compiles the supernet in ``single_path`` mode (:mod:`ops.relax`) and trains its
weights, each step on one path drawn per layer (``sampler="uniform"``: every layer's choice
uniform; ``"flops_bins"``: a cost bin drawn uniformly, then architectures drawn uniformly until
one falls in it, see below). It then runs :class:`wiring.search.evolution.ConstrainedEvolution`
(the space's constraint, if any, applies by rejection) over architectures scored with the
inherited weights: the supernet is set to the architecture's path, its batch-norm statistics are
recomputed on ``bn_batches`` training batches (:func:`recalibrate_bn`), and the score is the
validation accuracy (:func:`wiring.train.evaluate`).

:class:`FairNAS` trains with strict fairness: every step draws a permutation of each layer's
``m`` choices; model ``k`` takes the ``k``-th choice of every layer; the ``m`` models' gradients
are accumulated and one optimiser step taken. ``counts[layer][choice]`` counts the forwards in
which that candidate actually ran (read back from the forward's draw, :func:`wiring.supernet.last_index`), so after ``s``
steps every entry is ``s``. The evolutionary stage is the same as SPOS'.

:func:`inherit` exports a discrete architecture with the supernet's weights.

Simplification of the FLOPs-bin sampler (the reference draws a FLOPs interval and rejects
architectures outside it): the MAC range is estimated from ``bin_pool`` uniform samples (MACs of
``space.to_graph(arch)`` by :func:`wiring.cost`, cached per architecture), split into ``bins``
equal-width bins; each step draws a bin uniformly and rejection-samples uniform architectures
(at most ``max_tries``; on failure the last draw is used).

Determinism: everything runs under a forked torch RNG seeded with ``seed``; paths, bins and
data order come from ``random.Random(seed)`` / a ``torch.Generator`` seeded with ``seed``.

Progress: one bar over the supernet epochs, one over the evolution's evaluations (``progress``).

Checkpoint (``checkpoint=path``, :mod:`.checkpoint`): after every supernet epoch, and every
``checkpoint_every`` evaluations of the evolution and at its end, the supernet (with the batch-norm
statistics of the last recalibration), the optimiser, the schedule, the path ``random.Random``, the
data generator, the global RNG, the epoch losses, FairNAS' counts and the told evaluations
(``(space.encode(arch), score)``) are saved to ``path``. :meth:`SPOS.search` with an existing file
resumes from it: training goes on from the saved epoch; the evolution, a deterministic ask/tell
strategy, is rebuilt by replaying the told evaluations into a fresh
:class:`~wiring.search.evolution.ConstrainedEvolution` (each replayed ask must propose the recorded
encoding), then goes on. The result is the one an uninterrupted search gives; a finished search's
file returns it without training or scoring anything.
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from generators.checks import positive_int, real_in
from ops.modules import Relaxed
from wiring import compile as compile_graph, cost
from wiring.supernet import ALPHAS, is_alpha, last_index, set_generator, set_paths
from wiring.train import evaluate

from ..evolution import ConstrainedEvolution
from ..strategy import SearchError
from .checkpoint import Checkpoint, PathArg
from .base import OneShotResult, OneShotStrategy, cross_entropy
from .loop import Progress

SAMPLERS = ("uniform", "flops_bins")


def _layer_keys(space: Any) -> list[str]:
    return [d.name for d in space.decisions()]


def arch_paths(space: Any, arch: Hashable) -> dict[str, int]:
    """The ``set_paths`` mapping ``decision name -> candidate index`` of ``arch``."""
    return {name: int(i) for name, i in zip(_layer_keys(space), space.to_decisions(arch))}


def set_arch(model: nn.Module, space: Any, arch: Hashable) -> dict[str, int | None]:
    """Set a ``single_path`` supernet to run exactly ``arch``; every decision of the supernet must be one of
    the space's (``space.decision_rows()``)."""
    chosen = set_paths(model, arch_paths(space, arch))
    missing = [name for name, k in chosen.items() if k is None]
    if missing:
        raise SearchError(f"set_arch: the supernet's decisions {missing} are not decisions of "
                          f"{type(space).__name__}")
    return chosen


@torch.no_grad()
def recalibrate_bn(model: nn.Module, batches: Sequence[torch.Tensor], *, device: Any = "cpu") -> None:
    """Recompute every batch norm's running statistics of ``model`` on ``batches`` (SPOS).

    Running statistics are reset and accumulated as a cumulative average (``momentum=None``) in
    train mode without gradients; momenta and the train/eval mode are restored afterwards. Only
    the batch norms on the model's current path see data (the others are left reset)."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    was_training = model.training
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    try:
        for x in batches:
            model(x.to(device))
    finally:
        for m, momentum in zip(bns, saved):
            m.momentum = momentum
        model.train(was_training)


@dataclass
class _Run:
    """The live objects of one SPOS search, and its loop state (``epoch``, ``losses``, ``told``)."""

    model: nn.Module
    data: Any
    ckpt: Checkpoint
    loop: dict[str, Any]
    rng: random.Random
    gen: torch.Generator
    optimizer: torch.optim.Optimizer
    schedule: Any
    edges: list[float] | None


def _replay(evolution: ConstrainedEvolution, space: Any, told: Sequence[tuple[str, float]]
            ) -> list[tuple[Hashable, float]]:
    """Ask/tell ``evolution`` the recorded ``(encoding, score)`` pairs again, in order; the ``(arch, score)`` list."""
    history = []
    for encoding, value in told:
        arch = evolution.ask()
        if space.encode(arch) != encoding:
            raise SearchError(f"cannot resume the evolution: it proposed {space.encode(arch)!r} where the checkpoint "
                              f"recorded {encoding!r}")
        evolution.tell(arch, value)
        history.append((arch, value))
    return history


class SPOS(OneShotStrategy):
    """Single Path One-Shot on ``space.supernet()``; see the module docstring.

    Evolution: ``search_budget`` architectures are scored; ``population``, ``top_k``,
    ``mutations``, ``crossovers``, ``mutation_prob`` as :class:`ConstrainedEvolution` (paper:
    50, 10, 25, 25, 0.1, budget 50 + 19 × 50). ``bn_batches`` training batches of
    ``bn_batch_size`` (the reference's 200 × 128, or all the training data if less) recalibrate batch
    norms before each score; ``label_smoothing`` (0.1, the reference's) applies to the supernet's training
    loss; ``flops_range`` fixes the FLOPs-bin sampler's range in multiply-adds (the reference's
    ``(290e6, 360e6)`` with ``bins=7``, ``max_tries=500``; ``None``: estimated from ``bin_pool`` samples).
    The sampler defaults to ``"uniform"`` (the reference's is ``"flops_bins"``): its rejection draws cost
    one static cost evaluation per drawn architecture here, where the reference reads a FLOPs table.
    ``val_size`` caps the validation
    examples scored (``None``: all). ``progress``: progress bars; ``checkpoint``: a file to save
    the search to and resume it from, every epoch and every ``checkpoint_every`` evaluations
    (module docstring).
    """

    mode = "single_path"
    needs = ("supernet", "decision rows")

    def __init__(self, space: Any, *, seed: int = 0, epochs: int = 120, batch_size: int = 64, lr: float = 0.5,
                 momentum: float = 0.9, weight_decay: float = 4e-5, grad_clip: float | None = None,
                 sampler: str = "uniform", bins: int = 10, bin_pool: int = 200, max_tries: int = 100,
                 search_budget: int = 1000, population: int = 50, top_k: int = 10, mutations: int = 25,
                 crossovers: int = 25, mutation_prob: float = 0.1, bn_batches: int = 200, bn_batch_size: int = 128,
                 label_smoothing: float = 0.1, flops_range: tuple[float, float] | None = None,
                 val_size: int | None = None, device: str | torch.device = "cpu", progress: bool = True,
                 checkpoint: PathArg = None, checkpoint_every: int = 10) -> None:
        super().__init__(space, seed=seed, epochs=epochs, batch_size=batch_size, device=device, progress=progress,
                         checkpoint=checkpoint)
        for name, value in (("bins", bins), ("bin_pool", bin_pool), ("max_tries", max_tries),
                            ("search_budget", search_budget), ("bn_batches", bn_batches),
                            ("bn_batch_size", bn_batch_size), ("checkpoint_every", checkpoint_every)):
            positive_int(name, value, error=SearchError)
        real_in("label_smoothing", label_smoothing, 0.0, 1.0, include_high=False, error=SearchError)
        if flops_range is not None and not (isinstance(flops_range, (tuple, list)) and len(flops_range) == 2
                                            and 0 <= flops_range[0] < flops_range[1]):
            raise SearchError(f"flops_range must be (low, high) multiply-adds with 0 <= low < high, got "
                              f"{flops_range!r}")
        if sampler not in SAMPLERS:
            raise SearchError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
        self.lr, self.momentum, self.weight_decay, self.grad_clip = lr, momentum, weight_decay, grad_clip
        self.sampler, self.bins, self.bin_pool, self.max_tries = sampler, bins, bin_pool, max_tries
        self.search_budget, self.bn_batches, self.bn_batch_size = search_budget, bn_batches, bn_batch_size
        self.val_size, self.label_smoothing = val_size, float(label_smoothing)
        self.flops_range = None if flops_range is None else tuple(map(float, flops_range))
        self.evolution_options = {"population": population, "top_k": top_k, "mutations": mutations,
                                  "crossovers": crossovers, "mutation_prob": mutation_prob}
        self.checkpoint_every = checkpoint_every
        self._macs: dict[str, float] = {}

    # -- pieces ---------------------------------------------------------------

    def macs(self, arch: Hashable) -> float:
        """MACs of ``arch``'s discrete graph (cached)."""
        key = self.space.encode(arch)
        if key not in self._macs:
            self._macs[key] = float(cost(self.space.to_graph(arch)).macs)
        return self._macs[key]

    def _bin_edges(self, rng: random.Random) -> list[float]:
        if self.flops_range is not None:
            lo, hi = self.flops_range
        else:
            values = [self.macs(self.space.sample(rng)) for _ in range(self.bin_pool)]
            lo, hi = min(values), max(values)
        return [lo + (hi - lo) * i / self.bins for i in range(self.bins + 1)]

    def sample_arch(self, rng: random.Random, edges: list[float] | None = None) -> Hashable:
        """One training path: uniform, or uniform over cost bins with rejection (module docstring)."""
        if self.sampler == "uniform" or edges is None:
            return self.space.from_decisions([rng.randrange(len(d.choices)) for d in self.space.decisions()])
        b = rng.randrange(self.bins)
        lo, hi = edges[b], edges[b + 1]
        arch = None
        for _ in range(self.max_tries):
            arch = self.space.sample(rng)
            m = self.macs(arch)
            if lo <= m < hi or (b == self.bins - 1 and m == hi):
                return arch
        return arch

    def train_step(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], rng: random.Random,
                   optimizer: torch.optim.Optimizer, edges: list[float] | None) -> torch.Tensor:
        set_arch(model, self.space, self.sample_arch(rng, edges))
        optimizer.zero_grad(set_to_none=True)
        loss = cross_entropy(model, batch, self.label_smoothing)
        loss.backward()
        self._step(model, optimizer)
        return loss.detach()

    def _step(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        if self.grad_clip is not None:
            nn.utils.clip_grad_norm_(self._weights(model), self.grad_clip)
        optimizer.step()

    @staticmethod
    def _weights(model: nn.Module) -> list[torch.Tensor]:
        if callable(getattr(model, "weight_parameters", None)):
            return list(model.weight_parameters())
        return [p for name, p in model.named_parameters() if not is_alpha(name)]

    def score(self, model: nn.Module, arch: Hashable, data: Any, gen: torch.Generator) -> float:
        """Validation accuracy of ``arch`` with inherited weights, batch norms recalibrated first."""
        set_arch(model, self.space, arch)
        order = torch.randperm(len(data.y_train), generator=gen)
        size = self.bn_batch_size
        batches = [data.x_train[order[i:i + size]] for i in range(0, min(len(order), self.bn_batches * size), size)]
        recalibrate_bn(model, batches, device=self.device)
        x, y = data.x_val, data.y_val
        if self.val_size is not None:
            x, y = x[:self.val_size], y[:self.val_size]
        return evaluate(model, x, y, batch_size=max(self.batch_size, 256), device=self.device)

    # -- search ---------------------------------------------------------------

    def search(self, data: Any) -> OneShotResult:
        """Train the supernet on ``data``'s training split, then evolve on its validation split."""
        for name in ("x_train", "y_train", "x_val", "y_val", "input_shape"):
            if not hasattr(data, name):
                raise SearchError(f"data must be a wiring.data.Dataset, got {type(data).__name__}")
        return super().search(data)

    def _search(self, data: Any) -> OneShotResult:
        model = self.build_model().to(self.device)
        set_generator(model, None)
        rng = random.Random(self.seed)
        gen = torch.Generator().manual_seed(self.seed)
        edges = self._bin_edges(rng) if self.sampler == "flops_bins" else None
        optimizer = torch.optim.SGD(self._weights(model), lr=self.lr, momentum=self.momentum,
                                    weight_decay=self.weight_decay)
        steps_per_epoch = -(-len(data.y_train) // self.batch_size)
        schedule = torch.optim.lr_scheduler.LambdaLR(  # the reference's linear decay to 0
            optimizer, lambda step: max(0.0, 1 - step / (self.epochs * steps_per_epoch)))
        ckpt = Checkpoint.attach(self, data, model=model, optimizers=[optimizer], schedulers=[schedule],
                                 generators={"data": gen}, randoms={"paths": rng})
        loop = ckpt.resume()
        if loop is None:
            loop = {"epoch": 0, "losses": [], "told": []}
        else:
            self._restore_run_state(loop["run_state"])
        run = _Run(model, data, ckpt, loop, rng, gen, optimizer, schedule, edges)
        self._train(run)
        evolution, history = self._evolve(run)
        best, best_score = evolution.best
        set_arch(model, self.space, best)
        model.eval()
        details = {"history": history, "best_score": best_score, "train_loss": list(loop["losses"])}
        details.update(self._extra_details())
        return OneShotResult(arch=best, alpha_history=[], stopped_early=False,
                             reason=f"completed {self.epochs} epochs and {len(history)} evaluations",
                             epochs_run=self.epochs, model=model, details=details)

    def _train(self, run: _Run) -> None:
        """The supernet epochs not done yet, each saved to the checkpoint."""
        x, y = run.data.x_train, run.data.y_train
        with Progress(self.progress, self.epochs, type(self).__name__, initial=run.loop["epoch"]) as bar:
            for epoch in range(run.loop["epoch"], self.epochs):
                run.model.train()
                perm = torch.randperm(len(y), generator=run.gen)
                total, n = 0.0, 0
                for start in range(0, len(perm), self.batch_size):
                    idx = perm[start:start + self.batch_size]
                    batch = (x[idx].to(self.device), y[idx].to(self.device))
                    total += float(self.train_step(run.model, batch, run.rng, run.optimizer, run.edges))
                    n += 1
                    run.schedule.step()
                run.loop["losses"].append(total / max(n, 1))
                run.loop["epoch"] = epoch + 1
                self._save(run)
                bar.step(loss=run.loop["losses"][-1])

    def _evolve(self, run: _Run) -> tuple[ConstrainedEvolution, list[tuple[Hashable, float]]]:
        """The evolution on inherited weights: the told evaluations replayed, then the rest of the budget."""
        evolution = ConstrainedEvolution(self.space, seed=self.seed, **self.evolution_options)
        history = _replay(evolution, self.space, run.loop["told"])
        with Progress(self.progress, self.search_budget, f"{type(self).__name__} evolution", unit="arch",
                      initial=len(history)) as bar:
            while len(history) < self.search_budget:
                try:
                    arch = evolution.ask()
                except SearchError:  # the space is exhausted
                    break
                value = self.score(run.model, arch, run.data, run.gen)
                evolution.tell(arch, value)
                history.append((arch, value))
                run.loop["told"].append((self.space.encode(arch), value))
                if len(history) % self.checkpoint_every == 0:
                    self._save(run)
                bar.step(best=evolution.best[1])
        if not history:
            raise SearchError("the evolutionary search scored no architecture")
        self._save(run)
        return evolution, history

    def _save(self, run: _Run) -> None:
        run.ckpt.save(epoch=run.loop["epoch"], losses=run.loop["losses"], told=run.loop["told"],
                      run_state=self._run_state())

    def _run_state(self) -> dict[str, Any]:
        """What a checkpoint must keep of the strategy's own state (plain data and tensors)."""
        return {}

    def _restore_run_state(self, state: dict[str, Any]) -> None:
        """Take back :meth:`_run_state`'s value from a checkpoint."""

    def _extra_details(self) -> dict[str, Any]:
        return {}


class FairNAS(SPOS):
    """FairNAS strict fairness (docs/papers.md §10); the evolutionary stage is SPOS'.

    Every layer must have the same number ``m`` of choices. ``counts[key][i]`` is how many times
    candidate ``i`` of layer ``key`` ran in a training forward; ``step_counts`` holds one such table
    (a list of lists) per step.
    """

    needs = ("supernet", "decision rows", "equal widths")

    def __init__(self, space: Any, **options: Any) -> None:
        if options.get("sampler", "uniform") != "uniform":
            raise SearchError("FairNAS draws permutations, not samples: sampler must be 'uniform'")
        super().__init__(space, **options)
        self.m = len(space.decisions()[0].choices)
        self._counts: dict[str, list[int]] = {}
        self._step_counts: list[list[list[int]]] = []

    @property
    def counts(self) -> dict[str, list[int]]:
        """``counts[key][i]``: training forwards in which candidate ``i`` of layer ``key`` ran."""
        return self._counts

    @property
    def step_counts(self) -> list[list[list[int]]]:
        """One table like :attr:`counts` (a list per layer) for every training step."""
        return self._step_counts

    def _search(self, data: Any) -> OneShotResult:
        self._counts = {key: [0] * self.m for key in _layer_keys(self.space)}
        self._step_counts = []
        return super()._search(data)

    def _run_state(self) -> dict[str, Any]:
        return {"counts": {key: list(v) for key, v in self._counts.items()},
                "step_counts": torch.tensor(self._step_counts, dtype=torch.int64)}

    def _restore_run_state(self, state: dict[str, Any]) -> None:
        self._counts = {key: list(v) for key, v in state["counts"].items()}
        self._step_counts = state["step_counts"].tolist()

    def train_step(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], rng: random.Random,
                   optimizer: torch.optim.Optimizer, edges: list[float] | None) -> torch.Tensor:
        keys = _layer_keys(self.space)
        perms = [rng.sample(range(self.m), self.m) for _ in keys]
        step = [[0] * self.m for _ in keys]
        optimizer.zero_grad(set_to_none=True)
        total = torch.zeros(())
        for k in range(self.m):
            set_paths(model, {key: perm[k] for key, perm in zip(keys, perms)})
            loss = cross_entropy(model, batch, self.label_smoothing)
            loss.backward()  # gradients accumulate over the m models
            total = total + loss.detach().cpu()
            ran_last = last_index(model)
            for i, key in enumerate(keys):
                ran = ran_last[key]
                step[i][ran] += 1
                self._counts[key][ran] += 1
        self._step_counts.append(step)
        self._step(model, optimizer)
        return total / self.m

    def _extra_details(self) -> dict[str, Any]:
        return {"counts": {key: list(v) for key, v in self._counts.items()}}


def inherit(space: Any, supernet_model: nn.Module, arch: Hashable, *, seed: int = 0) -> nn.Module:
    """``space.to_graph(arch)`` compiled, with the chosen candidates' weights copied from a supernet.

    Modules are matched by position along the chain (the SPOS and ProxylessNAS spaces' structure:
    stem, one op per layer, head): a supernet ``MixedOp`` stands for its candidate ``arch[i]``; the
    modules holding parameters or buffers, in graph order, are zipped with the discrete network's
    (a parameter-free choice, such as ProxylessNAS' ``zero`` layer that the discrete graph drops,
    has nothing to copy). Parameters and buffers are copied by name; an affine batch-norm
    weight/bias the (non-affine) supernet lacks is set to 1/0, which computes the same function.
    """
    choices = space.to_decisions(arch)
    net = compile_graph(space.to_graph(arch), seed=seed)

    def called(model: nn.Module) -> list[nn.Module]:
        return [model.get_submodule(node.target) for node in model.graph.nodes
                if node.op == "call_module" and node.target != ALPHAS]

    source, layer = [], 0
    for module in called(supernet_model):
        if isinstance(module, Relaxed):
            module = module.candidates[choices[layer]]
            layer += 1
        source.append(module)
    if layer != len(choices):
        raise SearchError(f"inherit: found {layer} choice layers, the architecture has {len(choices)}")
    source, target = _weighted(source), _weighted(called(net))
    if len(source) != len(target):
        raise SearchError(f"inherit: the supernet's path has {len(source)} modules with weights, the architecture "
                          f"{len(target)}: not a single-path chain")
    with torch.no_grad():
        for src, dst in zip(source, target):
            _copy(src, dst)
    return net


def _weighted(modules: list[nn.Module]) -> list[nn.Module]:
    """The modules that hold parameters or buffers."""
    return [m for m in modules if next(m.parameters(), None) is not None or next(m.buffers(), None) is not None]


def _copy(src: nn.Module, dst: nn.Module) -> None:
    have = dict(src.named_parameters())
    have.update(dict(src.named_buffers()))
    for name, tensor in list(dst.named_parameters()) + list(dst.named_buffers()):
        if name in have:
            if have[name].shape != tensor.shape:
                raise SearchError(f"inherit: shape mismatch at {name}: {tuple(have[name].shape)} vs "
                                  f"{tuple(tensor.shape)}")
            tensor.copy_(have[name])
        else:
            owner = dst.get_submodule(name.rpartition(".")[0]) if "." in name else dst
            leaf = name.rpartition(".")[2]
            if isinstance(owner, nn.modules.batchnorm._BatchNorm) and leaf in ("weight", "bias"):
                tensor.fill_(1.0 if leaf == "weight" else 0.0)
            else:
                raise SearchError(f"inherit: the supernet has no {name!r} for {type(dst).__name__}")
