"""Per-parameter saliencies summed over conv and linear weights: grad_norm, snip, grasp, fisher, plain, synflow,
l2_norm.

Each function takes a private copy of the model (the caller's model is never touched, see
:func:`wiring.search.proxies.score`) already in the mode the proxy wants, and returns the sum of the per-weight
scores over :func:`~.common.scored_layers`, as the references' ``find_measures`` sums
``get_layer_metric_array``. Line numbers cite SamsungLabs/zero-cost-nas ``foresight/pruners/measures/``.
"""

from __future__ import annotations

import types

import torch
from torch import autograd, nn

from .common import BATCH_NORMS, Loss, forward_loss, logits, scored_layers, weight_sum


def _weight_grads(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                  loss: Loss) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(weight, ∂loss/∂weight) of every scored layer after one forward and backward (zeros where unused)."""
    forward_loss(model, inputs, targets, loss).backward()
    return [(layer.weight, torch.zeros_like(layer.weight) if layer.weight.grad is None else layer.weight.grad)
            for layer in scored_layers(model)]


def grad_norm(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss: Loss) -> float:
    """Σ_layers ‖∂L/∂W‖₂ (grad_norm.py: the per-layer norm of the weight gradient)."""
    return weight_sum([grad.norm() for _, grad in _weight_grads(model, inputs, targets, loss)])


def snip(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss: Loss) -> float:
    """Σ |∂L/∂m| at the all-ones mask m of W·m (snip.py, Lee et al. 2019), which is Σ |W ⊙ ∂L/∂W|."""
    return weight_sum([(weight * grad).abs() for weight, grad in _weight_grads(model, inputs, targets, loss)])


def plain(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss: Loss) -> float:
    """Σ W ⊙ ∂L/∂W (plain.py)."""
    return weight_sum([weight * grad for weight, grad in _weight_grads(model, inputs, targets, loss)])


def grasp(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss: Loss) -> float:
    """Σ −W ⊙ Hg (grasp.py, Wang et al. 2020, with the reference's sign): g = ∂L/∂W from a first forward, Hg the
    gradient of gᵀ·∂L/∂W (a second forward, create_graph) with respect to W; T = 1, one iteration."""
    weights = [layer.weight for layer in scored_layers(model)]
    first = autograd.grad(forward_loss(model, inputs, targets, loss), weights, allow_unused=True)
    second = autograd.grad(forward_loss(model, inputs, targets, loss), weights, create_graph=True, allow_unused=True)
    products = [(g.detach() * f).sum() for g, f in zip(first, second) if g is not None and f is not None]
    if not products or not any(p.requires_grad for p in products):
        return 0.0  # no weight reaches the loss (or no curvature path): every saliency is 0
    hessian_grad = autograd.grad(sum(products), weights, allow_unused=True)
    return weight_sum([-w.detach() * hg for w, hg in zip(weights, hessian_grad) if hg is not None])


def fisher(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss: Loss) -> float:
    """Σ_layers Σ_channels |Δ_k| · (weights per output channel) (fisher.py, Turner et al. 2020).

    Δ_k = ½ · mean_n (Σ_spatial z ⊙ ∂L/∂z)² for output channel k of each conv/linear output z; the reference
    broadcasts Δ_k to every weight of channel k before summing, hence the factor ``weight[0].numel()``.
    """
    deltas: dict[nn.Module, torch.Tensor] = {}

    def capture(layer: nn.Module, args: tuple, output: torch.Tensor) -> None:
        if not output.requires_grad:
            return
        act = output.detach()

        def on_grad(grad: torch.Tensor) -> None:
            g_nk = act * grad.detach()
            if g_nk.dim() > 2:
                g_nk = g_nk.sum(tuple(range(2, g_nk.dim())))
            delta = g_nk.pow(2).mean(0).mul(0.5)
            deltas[layer] = deltas[layer] + delta if layer in deltas else delta

        output.register_hook(on_grad)

    handles = [layer.register_forward_hook(capture) for layer in scored_layers(model)]
    try:
        forward_loss(model, inputs, targets, loss).backward()
    finally:
        for handle in handles:
            handle.remove()
    return weight_sum([deltas[layer].abs() * layer.weight[0].numel() for layer in scored_layers(model)
                       if layer in deltas])


def _identity(self: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return x


def synflow(model: nn.Module, inputs: torch.Tensor) -> float:
    """Σ |θ ⊙ ∂R/∂θ| with R = Σ f_|θ|(1) (synflow.py, Tanaka et al. 2020): batch norms removed, every parameter
    and buffer replaced by its absolute value, float64 throughout, one all-ones input shaped like a sample of
    ``inputs`` (whose values are never read)."""
    for layer in model.modules():
        if isinstance(layer, BATCH_NORMS):
            layer.forward = types.MethodType(_identity, layer)
    model.double()
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            tensor.abs_()
    ones = torch.ones((1, *inputs.shape[1:]), dtype=torch.float64, device=inputs.device)
    logits(model(ones)).sum().backward()
    return weight_sum([(layer.weight * layer.weight.grad).abs() for layer in scored_layers(model)
                       if layer.weight.grad is not None])


def l2_norm(model: nn.Module) -> float:
    """Σ_layers ‖W‖₂ (l2_norm.py): data-free, no forward."""
    return weight_sum([layer.weight.detach().norm() for layer in scored_layers(model)])
