"""Data-parallel training under ``torchrun``: one process per device, the same model on every rank.

Every rank builds the same model from the same seed and draws the same data
order; each training batch of ``batch_size × world`` examples is cut into one
contiguous share per rank (:func:`share`). After ``backward`` the gradients are
averaged across ranks (:func:`average_gradients`, one all-reduce of one flat
buffer, as DDP's bucketed all-reduce), each share's loss weighted by its size,
so a step equals the single-process step on the whole batch; every rank then
takes the same optimizer step, and weights stay identical bit for bit. Buffers
(batch-norm running statistics) are broadcast from rank 0 after every step,
DDP's ``broadcast_buffers=True``; the statistics of a batch-norm *forward* are
each rank's own, as under DDP without ``SyncBatchNorm`` (so with batch norm a
2-process run is not the 1-process run on the doubled batch; without it, it is).
Metrics are summed across ranks (:func:`all_sum`).

:func:`join` starts the process group from torchrun's environment
(``WORLD_SIZE``, ``RANK``, ``MASTER_ADDR``, ``MASTER_PORT``): gloo on the CPU,
NCCL on CUDA. A single process (no such environment) is unchanged: every
function here then does nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import torch
import torch.distributed as dist
from torch import nn

from .errors import WiringError


class DistributedError(WiringError):
    """A process group that cannot be joined or does not fit the run; names the setting."""


def active() -> bool:
    """Whether this process is one rank of an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world() -> int:
    return dist.get_world_size() if active() else 1


def join(device: torch.device) -> bool:
    """Join the process group torchrun describes in the environment, if any and not yet joined (gloo for a CPU
    ``device``, NCCL for CUDA, where each rank takes the GPU ``LOCAL_RANK``); whether the run is distributed."""
    if active():
        return True
    size = os.environ.get("WORLD_SIZE")
    if size is None or size == "1":
        return False
    if not dist.is_available():
        raise DistributedError(f"WORLD_SIZE={size} but this torch has no torch.distributed")
    backend = "nccl" if device.type == "cuda" else "gloo"
    try:
        if device.type == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend)
    except (RuntimeError, ValueError) as error:
        raise DistributedError(f"cannot join the {backend} process group (WORLD_SIZE={size}, "
                               f"RANK={os.environ.get('RANK')}, MASTER_ADDR={os.environ.get('MASTER_ADDR')}, "
                               f"MASTER_PORT={os.environ.get('MASTER_PORT')}): {error}") from None
    return active()


def barrier() -> None:
    """Wait until every rank gets here (e.g. until rank 0 has written a checkpoint)."""
    if active():
        dist.barrier()


def share(index: torch.Tensor) -> torch.Tensor:
    """This rank's contiguous share of a global batch ``index`` (shares differ in size by at most one)."""
    if not active():
        return index
    return index.tensor_split(world())[rank()]


def share_bounds(n: int) -> tuple[int, int]:
    """``(start, stop)`` of this rank's contiguous share of ``n`` examples (``(0, n)`` in a single process); the
    shares of :func:`share` of ``arange(n)``."""
    if not active():
        return 0, n
    size, r = world(), rank()
    per, extra = divmod(n, size)
    start = r * per + min(r, extra)
    return start, start + per + (r < extra)


def broadcast(module: nn.Module) -> None:
    """Every parameter and buffer of ``module`` set to rank 0's."""
    if not active():
        return
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor.data, 0)


def broadcast_buffers(module: nn.Module) -> None:
    """Every buffer of ``module`` (batch-norm statistics, counters) set to rank 0's."""
    if not active():
        return
    for tensor in module.buffers():
        dist.broadcast(tensor, 0)


def average_gradients(parameters: Iterable[torch.Tensor]) -> None:
    """Each gradient replaced by its mean over the ranks (parameters without a gradient are left alone; every
    rank must hold gradients for the same parameters)."""
    if not active():
        return
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world()
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def all_sum(values: Sequence[float]) -> list[float]:
    """``values`` summed element-wise across the ranks (float64)."""
    if not active():
        return list(values)
    tensor = torch.tensor(list(values), dtype=torch.float64)
    if dist.get_backend() == "nccl":
        tensor = tensor.cuda()
    dist.all_reduce(tensor)
    return tensor.cpu().tolist()


def loss_weight(local: int, total: int) -> float:
    """The factor on a share's mean loss that makes the ranks' averaged gradient the mean over all ``total``
    examples of the global batch (``local · world / total``; 1 in a single process)."""
    return local * world() / total if active() else 1.0
