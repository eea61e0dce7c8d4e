"""What every one-shot strategy shares: its result, its losses, what it needs of a space, one base class.

A one-shot strategy declares what it needs of a space in ``needs`` (names of :data:`NEEDS`); a space
offers what :func:`missing` finds in it. The constructor refuses a space that lacks something, with
one line saying what and why, and the CLI derives its strategy × space table from the same check.

:class:`OneShotStrategy` holds the settings every strategy validates the same way (``seed``,
``epochs``, ``batch_size``, ``device``, ``progress``, ``checkpoint``) and the hooks its loop calls:
:meth:`~OneShotStrategy.build_model` (the supernet compiled in the strategy's ``mode``),
:meth:`~OneShotStrategy.derive`, :meth:`~OneShotStrategy.details` (the result's extras), and
``_run_state`` / ``_restore_run_state`` (what a checkpoint keeps of the strategy's own state).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from generators.checks import positive_int
from spaces.base import Space
from wiring import compile as compile_graph
from wiring import distributed

from ..strategy import SearchError
from .checkpoint import PathArg, checkpoint_path
from .loop import seeded

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass
class OneShotResult:
    """What a one-shot search returns.

    ``alpha_history[e]`` maps each α key to a CPU copy of α after epoch ``e``;
    ``reason`` says why the search stopped (``"completed N epochs"`` or the
    early-stop rule's reason); ``model`` is the trained supernet;
    ``details`` holds strategy extras (Fair DARTS: the ops kept per edge).
    """

    arch: Any
    alpha_history: list[dict[str, torch.Tensor]]
    stopped_early: bool
    reason: str
    epochs_run: int
    model: nn.Module
    details: dict[str, Any] = field(default_factory=dict)


def logits(output: Any) -> torch.Tensor:
    """The class logits of a model's output (the first of several outputs, e.g. logits and auxiliary logits)."""
    return output[0] if isinstance(output, tuple) else output


def cross_entropy(model: nn.Module, batch: Batch, label_smoothing: float = 0.0) -> torch.Tensor:
    x, y = batch
    return F.cross_entropy(logits(model(x)), y, label_smoothing=label_smoothing)


def _overrides(space: Any, method: str) -> bool:
    """Whether ``space`` has ``method`` of its own (a :class:`~spaces.base.Space` subclass may inherit a refusal)."""
    found = getattr(type(space), method, None)
    return callable(found) and (not isinstance(space, Space) or found is not getattr(Space, method))


def _equal_widths(space: Any) -> bool:
    return len({len(d.choices) for d in space.decisions()}) == 1


NEEDS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "supernet": ("a supernet() and derive(model)",
                 lambda space: _overrides(space, "supernet") and _overrides(space, "derive")),
    "decision rows": ("one α row per decision (its decision_rows())",
                      lambda space: callable(getattr(space, "decision_rows", None))
                      and space.decision_rows() is not None),
    "equal widths": ("the same number of choices in every decision",
                     lambda space: callable(getattr(space, "decisions", None)) and _equal_widths(space)),
    "weighted derive": ("derive(model, weighting=..., threshold=...)",
                        lambda space: _overrides(space, "derive")
                        and "weighting" in inspect.signature(space.derive).parameters),
}
"""Name -> (what it is, whether a space offers it)."""


def missing(needs: tuple[str, ...], space: Any) -> list[str]:
    """What of ``needs`` ``space`` lacks, each as :data:`NEEDS` describes it (empty: it offers all)."""
    return [NEEDS[need][0] for need in needs if not NEEDS[need][1](space)]


class OneShotStrategy:
    """Base of the one-shot strategies (module docstring). Subclasses set ``mode`` (the relaxation the
    supernet is compiled in), ``needs`` and their own settings, and implement ``_search(data)``."""

    mode = "softmax"
    needs: tuple[str, ...] = ("supernet",)
    data_parallel = False
    """Whether the search runs data-parallel under torchrun (:mod:`wiring.distributed`); others refuse a world > 1."""

    def __init__(self, space: Any, *, seed: int = 0, epochs: int, batch_size: int,
                 device: str | torch.device = "cpu", progress: bool = True, checkpoint: PathArg = None) -> None:
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise SearchError(f"seed must be an int, got seed={seed!r}")
        positive_int("epochs", epochs, error=SearchError)
        positive_int("batch_size", batch_size, error=SearchError)
        lacks = missing(self.needs, space)
        if lacks:
            raise SearchError(f"{type(self).__name__} cannot search {type(space).__name__}: it needs "
                              f"{'; '.join(lacks)}")
        self.space, self.seed, self.epochs, self.batch_size = space, seed, epochs, batch_size
        self.device, self.progress = torch.device(device), progress
        self.checkpoint = checkpoint_path(checkpoint)

    def build_model(self) -> nn.Module:
        """The compiled supernet (seeded, in the strategy's relaxation ``mode``)."""
        return compile_graph(self.space.supernet(), seed=self.seed, mode=self.mode)

    def derive(self, model: nn.Module) -> Any:
        """The architecture the trained supernet implies."""
        return self.space.derive(model)

    def details(self, model: nn.Module) -> dict[str, Any]:
        """Strategy extras for :attr:`OneShotResult.details`."""
        return {}

    def search(self, data: Any) -> OneShotResult:
        """Search on ``data`` (a :class:`wiring.data.Dataset` shaped like the supernet's input, see
        :func:`wiring.search.evaluators.fit_input`), under a torch RNG seeded with ``seed``."""
        if distributed.join(self.device) and not self.data_parallel:
            raise SearchError(f"{type(self).__name__} runs in one process; under torchrun (world size "
                              f"{distributed.world()}) use one of the data-parallel strategies (DARTS, DARTSPlus, "
                              f"FairDARTS) or launch it without torchrun")
        with seeded(self.seed, self.device):
            return self._search(data)

    def _search(self, data: Any) -> OneShotResult:
        raise NotImplementedError

    def _run_state(self) -> dict[str, Any]:
        """What a checkpoint must keep of the strategy's own state (plain data and tensors)."""
        return {}

    def _restore_run_state(self, state: dict[str, Any]) -> None:
        """Take back :meth:`_run_state`'s value from a checkpoint."""
