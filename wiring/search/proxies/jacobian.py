"""Proxies of the input Jacobian: jacov (Mellor et al. 2021, v1) and epe_nas (Lopes et al. 2021)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .common import logits

EPSILON = 1e-5
"""The references' ``k``, added before logs and inverses."""


def input_jacobian(model: nn.Module, inputs: torch.Tensor) -> tuple[np.ndarray, int]:
    """Per sample, ∂(Σ outputs)/∂x flattened (the references' ``get_batch_jacobian``), and the number of outputs."""
    x = inputs.detach().clone().requires_grad_(True)
    y = logits(model(x))
    y.backward(torch.ones_like(y))
    return x.grad.detach().reshape(len(x), -1).double().cpu().numpy(), int(y.shape[-1])


def jacov_of(jacobian: np.ndarray) -> float:
    """−Σ_i [log(λ_i + k) + 1/(λ_i + k)] over the eigenvalues λ of the correlation matrix of the Jacobian rows."""
    with np.errstate(all="ignore"):
        corrs = np.corrcoef(jacobian)
        if not np.all(np.isfinite(corrs)):
            return float("nan")  # a constant Jacobian row has no correlation (the reference gives NaN too)
        eigenvalues = np.linalg.eigvalsh(corrs)
        return float(-np.sum(np.log(eigenvalues + EPSILON) + 1.0 / (eigenvalues + EPSILON)))


def jacov(model: nn.Module, inputs: torch.Tensor) -> float:
    """Jacobian covariance (NASLib jacov.py, zero-cost-nas jacob_cov.py): :func:`jacov_of` of the input Jacobian."""
    return jacov_of(input_jacobian(model, inputs)[0])


def epe_of(jacobian: np.ndarray, labels: np.ndarray, num_outputs: int) -> float:
    """EPE-NAS' score of per-class Jacobian correlations (NASLib epe_nas.py ``eval_score_perclass``).

    Per class c: s_c = Σ log(|corr(J_c)| + k) over the correlation matrix of its samples' Jacobian rows (divided by
    its size when there are over 100 outputs). With at most 100 outputs the score is Σ_c |s_c|, otherwise
    Σ_c Σ_c' |s_c − s_c'| / #classes. A class with one sample in the batch has the 1×1 correlation 1.
    """
    per_class = {}
    with np.errstate(all="ignore"):
        for label in dict.fromkeys(labels.tolist()):  # classes in order of first appearance, as the reference
            corrs = np.corrcoef(jacobian[labels == label])
            if num_outputs > 100:
                if np.ndim(corrs) == 0:
                    continue  # the reference's len() of a 1×1 correlation fails and skips the class
                per_class[label] = np.sum(np.log(np.abs(corrs) + EPSILON)) / len(corrs)
            else:
                per_class[label] = np.sum(np.log(np.abs(corrs) + EPSILON))
    values = list(per_class.values())
    if num_outputs <= 100:
        return float(np.sum(np.abs(values)))
    if not values:
        return 0.0
    return float(sum(abs(a - b) for a in values for b in values) / len(values))


def epe_nas(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    """EPE-NAS (NASLib epe_nas.py): :func:`epe_of` of the input Jacobian and the batch's labels."""
    jacobian, outputs = input_jacobian(model, inputs)
    labels = targets.detach().cpu().numpy()
    if labels.ndim == 2:  # one-hot targets, as the reference's TransNAS-Bench hack
        labels = labels.argmax(1)
    return epe_of(jacobian, labels, outputs)
