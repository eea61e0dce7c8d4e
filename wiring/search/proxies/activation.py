"""Proxies of the activations: nwot (NASWOT, Mellor et al. 2021, v2) and zen (Zen-NAS, Lin et al. 2021)."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.fx as fx
from torch import nn

import ops
from ops.enas_modules import Classifier
from ops.modules import Head
from ops.shuffle import ShuffleHead

from ..strategy import SearchError

RECTIFIERS = (nn.ReLU, nn.ReLU6)
"""The modules whose input codes NASWOT reads (the references match ``'ReLU'`` in the module's class name; of
torch's activations that is these two)."""

POOLED_HEADS = (Head, ShuffleHead, Classifier)
"""Head modules that start with a global average pool: zen reads the feature map they receive."""


def nwot_kernel(model: nn.Module, inputs: torch.Tensor) -> np.ndarray:
    """NASWOT's kernel K_H = Σ_layers [c cᵀ + (1 − c)(1 − c)ᵀ] of the binary codes c = [x > 0] of the input of
    every ReLU module, per sample of the batch (NASLib nwot.py): N_A minus the Hamming distance of the codes.
    Symmetric and positive semi-definite (a sum of Gram matrices); its diagonal is the number of ReLU units."""
    kernel = torch.zeros((len(inputs), len(inputs)), dtype=torch.float64)

    def count(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        nonlocal kernel
        codes = (args[0].detach().reshape(len(args[0]), -1) > 0).double().cpu()
        kernel = kernel + codes @ codes.T + (1.0 - codes) @ (1.0 - codes).T

    handles = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, RECTIFIERS)]
    try:
        with torch.no_grad():
            model(inputs.detach().clone())
    finally:
        for handle in handles:
            handle.remove()
    return kernel.numpy()


def nwot(model: nn.Module, inputs: torch.Tensor) -> float:
    """log |det K_H| of :func:`nwot_kernel` (``slogdet``'s log-magnitude; −inf when two samples share a code)."""
    return float(np.linalg.slogdet(nwot_kernel(model, inputs))[1])


def pre_pool(model: nn.Module) -> nn.Module:
    """A module computing ``model``'s feature map before its global average pool (Zen-NAS' ``forward_pre_GAP``).

    A model with NASLib's ``forward_before_global_avg_pool`` or Zen-NAS' ``forward_pre_GAP`` method is used as
    is; a compiled graph is cut at its one top-level global pool (a ``global_pool`` node or a pooled head:
    ``head``, ``shuffle_head``, ``enas_head``, whose ReLU, if any, is kept).
    """
    for method in ("forward_before_global_avg_pool", "forward_pre_GAP"):
        if callable(getattr(model, method, None)):
            return _Method(model, method)
    if not isinstance(model, fx.GraphModule):
        raise SearchError(f"zen needs a compiled graph or a model with forward_pre_GAP(), got {type(model).__name__}")
    pools = [node for node in model.graph.nodes if _is_pool(model, node)]
    if len(pools) != 1:
        raise SearchError(f"zen needs exactly one top-level global average pool (a global_pool node or a pooled "
                          f"head) to read the feature map before it; this graph has {len(pools)}")
    pool = pools[0]
    graph = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    for node in model.graph.nodes:
        if node is pool:
            break
        env[node] = graph.node_copy(node, lambda n: env[n])
    feature = env[pool.args[0]]
    if pool.op == "call_module" and getattr(model.get_submodule(pool.target), "relu", None) is not None:
        feature = graph.call_module(f"{pool.target}.relu", (feature,))
    graph.output(feature)
    cut = fx.GraphModule(model, graph)
    cut.graph.eliminate_dead_code()  # an auxiliary head is not needed
    cut.recompile()
    return cut


class _Method(nn.Module):
    def __init__(self, model: nn.Module, method: str) -> None:
        super().__init__()
        self.model, self.method = model, method

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(self.model, self.method)(x)


def _is_pool(model: fx.GraphModule, node: fx.Node) -> bool:
    if node.op == "call_function":
        return node.target is ops.functional.global_pool
    return node.op == "call_module" and isinstance(model.get_submodule(node.target), POOLED_HEADS)


def gaussian_init(model: nn.Module) -> None:
    """Zen-NAS' ``network_weight_gaussian_init``: conv/linear weights N(0, 1), biases 0; BN/GroupNorm weights 1,
    biases 0 (NASLib zen.py skips a norm without affine parameters)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.weight is not None:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)


MIXUP_GAMMA = 1e-2
"""Zen-NAS' default perturbation size."""


def zen(model: nn.Module, inputs: torch.Tensor, *, mixup_gamma: float = MIXUP_GAMMA) -> float:
    """Zen score (NASLib zen.py, Zen-NAS ``compute_zen_score.py``), one repeat, train mode.

    Gaussian weights; x, ε ~ N(0, 1) shaped like ``inputs`` (whose values are never read); the score is
    log E_batch Σ_{c,h,w} |f(x) − f(x + γε)| + Σ_BN log √(mean running_var), f the feature map before the global
    pool and the running variances those the two forwards leave (BN statistics reset first).
    """
    features = pre_pool(model)
    gaussian_init(model)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
    with torch.no_grad():
        x = torch.randn(inputs.shape, dtype=inputs.dtype, device=inputs.device)
        noise = torch.randn(inputs.shape, dtype=inputs.dtype, device=inputs.device)
        out, mixed = features(x), features(x + mixup_gamma * noise)
        if out.dim() != 4:
            raise SearchError(f"zen needs a (batch, channels, height, width) feature map before the global pool, "
                              f"got shape {tuple(out.shape)}")
        gap = (out - mixed).abs().sum((1, 2, 3)).mean()
        log_bn = sum(math.log(math.sqrt(float(m.running_var.mean()))) for m in model.modules()
                     if isinstance(m, nn.BatchNorm2d) and m.running_var is not None)
    return math.log(float(gap)) + log_bn if float(gap) > 0 else float("-inf")
