"""The zero-cost proxies by name, and :func:`score`: one proxy of a model on one minibatch, the model untouched."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...cost import cost
from ..strategy import SearchError
from . import activation, jacobian, saliency
from .common import Loss

NEEDS = ("labels", "inputs", "shape", "nothing", "graph")
"""What a proxy reads: a labelled batch, a batch (no labels), the input shape only, nothing, or the typed DAG."""


@dataclass(frozen=True)
class Proxy:
    """One zero-cost proxy: what it reads (:data:`NEEDS`), the mode it runs the model in, its reference."""

    name: str
    needs: str
    mode: str
    """``"train"`` (batch statistics, dropout on, as the references' freshly built nets), ``"eval"`` or ``"none"``
    (no forward)."""
    reference: str
    compute: Callable[[nn.Module, torch.Tensor | None, torch.Tensor | None, Loss], float] | None = None
    log_scale: bool = False
    """Whether its values span orders of magnitude (surrogate features take their log, as NASLib's ``ZeroCost``)."""


def _labelled(function: Callable[..., float]) -> Callable[..., float]:
    return lambda model, x, y, loss: function(model, x, y, loss)


PROXIES: dict[str, Proxy] = {p.name: p for p in (
    Proxy("synflow", "shape", "eval", "zero-cost-nas synflow.py (bn=False); Tanaka et al. 2020",
          lambda model, x, y, loss: saliency.synflow(model, x), log_scale=True),
    Proxy("snip", "labels", "train", "zero-cost-nas snip.py; Lee et al. 2019", _labelled(saliency.snip)),
    Proxy("grasp", "labels", "train", "zero-cost-nas grasp.py; Wang et al. 2020", _labelled(saliency.grasp)),
    Proxy("fisher", "labels", "train", "zero-cost-nas fisher.py; Turner et al. 2020", _labelled(saliency.fisher)),
    Proxy("grad_norm", "labels", "train", "zero-cost-nas grad_norm.py; Abdelfattah et al. 2021",
          _labelled(saliency.grad_norm)),
    Proxy("plain", "labels", "train", "zero-cost-nas plain.py; Abdelfattah et al. 2021", _labelled(saliency.plain)),
    Proxy("l2_norm", "nothing", "none", "zero-cost-nas l2_norm.py; Abdelfattah et al. 2021",
          lambda model, x, y, loss: saliency.l2_norm(model)),
    Proxy("jacov", "inputs", "train", "NASLib jacov.py; Mellor et al. 2021 (v1)",
          lambda model, x, y, loss: jacobian.jacov(model, x)),
    Proxy("epe_nas", "labels", "train", "NASLib epe_nas.py; Lopes et al. 2021",
          lambda model, x, y, loss: jacobian.epe_nas(model, x, y)),
    Proxy("nwot", "inputs", "train", "NASLib nwot.py; Mellor et al. 2021 (v2)",
          lambda model, x, y, loss: activation.nwot(model, x)),
    Proxy("zen", "shape", "train", "NASLib zen.py, Zen-NAS compute_zen_score.py; Lin et al. 2021",
          lambda model, x, y, loss: activation.zen(model, x)),
    Proxy("params", "graph", "none", "wiring.cost", log_scale=True),
    Proxy("macs", "graph", "none", "wiring.cost", log_scale=True),
)}
"""Every proxy by name. Higher is better for each, as the references define them (grasp carries their sign)."""


def get(name: str) -> Proxy:
    """The proxy called ``name``, or :class:`SearchError` listing the known ones."""
    if not isinstance(name, str) or name not in PROXIES:
        raise SearchError(f"unknown zero-cost proxy {name!r}; known proxies: {', '.join(PROXIES)}")
    return PROXIES[name]


def check_names(names: Sequence[str], what: str) -> tuple[str, ...]:
    """``names`` as a tuple of known proxy names (a single str is refused: it would read as its letters)."""
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise SearchError(f"{what} must be a sequence of proxy names, got {names!r}")
    for name in names:
        get(name)
    return tuple(names)


def score(proxy: str, model: nn.Module, inputs: torch.Tensor | None = None, targets: torch.Tensor | None = None, *,
          graph: Any = None, loss: Loss = F.cross_entropy, seed: int = 0) -> float:
    """The value of ``proxy`` for ``model`` on the minibatch ``(inputs, targets)``; higher is better.

    The proxy runs on a deep copy of ``model`` (weights, BN running statistics, train/eval mode, requires_grad
    flags and gradients of ``model`` are left as they were), in the proxy's mode (:attr:`Proxy.mode`), with
    every parameter requiring grad, under a private RNG seeded with ``seed`` (the caller's global RNG is not
    advanced; the same call gives the same value). ``params``/``macs`` read ``graph`` (the typed DAG) with
    :func:`wiring.cost`. A proxy whose value is undefined for this model returns NaN (as the references do).
    """
    spec = get(proxy)
    if spec.needs == "graph":
        if graph is None:
            raise SearchError(f"proxy {proxy!r} reads the typed DAG: pass graph=")
        size = cost(graph, None if inputs is None else tuple(inputs.shape[1:]))
        return float(getattr(size, proxy))
    if spec.needs != "nothing" and not isinstance(inputs, torch.Tensor):
        raise SearchError(f"proxy {proxy!r} needs a batch of inputs (a tensor), got {type(inputs).__name__}")
    if spec.needs == "labels" and not isinstance(targets, torch.Tensor):
        raise SearchError(f"proxy {proxy!r} needs the batch's labels (a tensor), got {type(targets).__name__}")
    net = _private_copy(model)
    device = next((p.device for p in net.parameters()), None)
    if device is not None:
        inputs = None if inputs is None else inputs.to(device)
        targets = None if targets is None else targets.to(device)
    with torch.random.fork_rng(devices=[] if device is None or device.type == "cpu" else [device]):
        torch.manual_seed(seed)
        with torch.enable_grad():
            net.train(spec.mode == "train")
            return float(spec.compute(net, inputs, targets, loss))


def scores(proxies: Sequence[str], model: nn.Module, inputs: torch.Tensor | None = None,
           targets: torch.Tensor | None = None, **options: Any) -> dict[str, float]:
    """``{name: score(name, model, inputs, targets, **options)}`` for each of ``proxies``."""
    return {name: score(name, model, inputs, targets, **options) for name in check_names(proxies, "proxies")}


def _private_copy(model: nn.Module) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise SearchError(f"a zero-cost proxy scores an nn.Module (e.g. wiring.compile(G)), got {model!r}")
    net = copy.deepcopy(model)
    for p in net.parameters():
        p.grad = None
        p.requires_grad_(True)
    return net
