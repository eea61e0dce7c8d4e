"""Training augmentations on batches ``(N, C, H, W)``, each drawn from a seeded ``torch.Generator`` (on the CPU).

The standard CIFAR set as the reference codes apply it (torchvision's
``RandomCrop(32, padding=4)`` and ``RandomHorizontalFlip()``, DARTS' ``Cutout``),
batched: :func:`random_crop`, :func:`horizontal_flip`, :func:`cutout`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Each image zero-padded by ``padding`` on every side, then cropped back to ``H × W`` at an offset
    uniform in ``[0, 2·padding]`` per axis (torchvision's ``RandomCrop(size, padding)``)."""
    if padding <= 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    dy = torch.randint(2 * padding + 1, (n,), generator=generator).to(x.device)
    dx = torch.randint(2 * padding + 1, (n,), generator=generator).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, :, None]  # (n, h, 1)
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, :]  # (n, 1, w)
    batch = torch.arange(n, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2).contiguous()


def horizontal_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each image mirrored left-right with probability 1/2 (torchvision's ``RandomHorizontalFlip()``)."""
    flip = (torch.rand(len(x), generator=generator) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def cutout(x: torch.Tensor, length: int, generator: torch.Generator) -> torch.Tensor:
    """``x`` with one ``length``² square per image zeroed (DARTS' Cutout, batched).

    As the reference code: centre ``(y, x)`` uniform over the image, rows
    ``clip(y − length//2, 0, H) … clip(y + length//2, 0, H)`` (end excluded),
    columns likewise; all channels.
    """
    n, _, h, w = x.shape
    ys = torch.randint(h, (n, 1), generator=generator)
    xs = torch.randint(w, (n, 1), generator=generator)
    rows, cols = torch.arange(h), torch.arange(w)
    in_rows = (rows >= (ys - length // 2).clamp(0, h)) & (rows < (ys + length // 2).clamp(0, h))
    in_cols = (cols >= (xs - length // 2).clamp(0, w)) & (cols < (xs + length // 2).clamp(0, w))
    keep = ~(in_rows[:, :, None] & in_cols[:, None, :])
    return x * keep[:, None].to(x.device, x.dtype)
