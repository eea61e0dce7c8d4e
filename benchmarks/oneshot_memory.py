"""Peak memory of one supernet training step: single-path and binarised modes vs a full DARTS step.

All configurations use the same supernet (``spaces.darts`` by default) and the
same batch size; each runs in its own fresh process (below):

- ``softmax``: one DARTS step, first order, as ``DARTS._search`` takes it: the
  α step (``hypergradient(order=1)`` on a validation batch, Adam), then the
  weight step (forward and backward on a training batch, clip, SGD). Every
  candidate of every edge runs. The reference (ratio 1).
- ``single_path``: one SPOS weight step: one candidate per ``choice`` node,
  drawn uniformly (seeded; the seed is the repeat's index); and the same with
  every node pinned to its largest candidate (most parameters: ``sep_conv_5x5``
  in DARTS), the most memory-hungry single path.
- ``binary``: one ProxylessNAS step as ``ProxylessNAS`` takes it: the weight
  step with α frozen (one path per node, drawn from p), then the α step (∇α
  through the binary gates with ProxylessNAS' default ``full_v2`` estimator,
  Adam), which recomputes the other paths' outputs one at a time under
  ``no_grad`` in the backward. Both sub-steps are reported; the step's peak
  is the larger. (The α loss is the cross-entropy alone: ProxylessNAS' latency
  term is arithmetic on α and costs no memory to speak of.)

What is measured: after building the model and one warm-up step (which
allocates gradients, optimiser state and torch's lazily built kernels), the
process runs ``gc.collect()`` and glibc's ``malloc_trim(0)`` (which hands the
warm-up's freed activations back to the OS) and reads its resident set size
``VmRSS``: the baseline. Then, before each sub-step, it collects and trims
again, resets the kernel's high-water mark (``echo 5 > /proc/self/clear_refs``
sets ``VmHWM`` to the current RSS), runs the sub-step and reads ``VmHWM``.
**Step peak = max over sub-steps of (VmHWM − baseline RSS)**: what the step adds
on top of the model, its gradients and its optimiser state (activations kept
for backward, gradients in flight, the backward's temporaries, and whatever the
allocator keeps while the step runs). The kernel updates ``VmHWM`` on every
page it maps, so no short-lived peak escapes (unlike polling). The absolute peak
RSS (``VmHWM``) is printed too.

Why trim: glibc keeps freed blocks in its heap and raises its mmap threshold as
large blocks are freed, so without it the warm-up's activations would stay
resident, the measured step would reuse them, and its peak would hide inside
the baseline (a DARTS step measured that way "adds" a fraction of its peak).
Trimming is part of the harness, not of the step; inside a sub-step the
allocator behaves as in any training loop after its first step. Cross-check:
forcing every block of 4 KiB or more onto its own mapping instead
(``MALLOC_MMAP_THRESHOLD_=4096``, so RSS is live memory at every instant)
gives the same step peaks within 2–7 % (trimming reads slightly higher: heap
fragmentation during the step).

Fresh process: every measurement runs in a child forked from a driver that
has imported torch and this library and built nothing (saves the import in
every child); no model, tensor or allocator state of another configuration is
in it.

On a GPU (``--device cuda``) the same steps run on the device and the
meter is torch's CUDA allocator instead of RSS: the baseline is
``torch.cuda.memory_allocated()`` after the warm-up, each sub-step's peak
``torch.cuda.max_memory_allocated()`` with the peak statistics reset just
before it (the allocator counts every live tensor byte exactly, so no trimming
is needed; its cached free blocks are not counted).

Each configuration is repeated ``--repeats`` times (each a fresh process,
interleaved); the table holds medians and the ratio to the DARTS step.
Targets (issue 6): single-path and binarised ≤ 0.25× DARTS.

    python benchmarks/oneshot_memory.py [--quick] [--repeats 3] [--batch 16] [--space darts|proxyless] [--device cuda]
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import gc
import multiprocessing
import statistics
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

import wiring
from wiring.supernet import rescale, set_generator, set_paths, sites
from spaces import darts, proxyless
from wiring.search.oneshot.darts import cross_entropy, hypergradient

Batch = tuple[torch.Tensor, torch.Tensor]
_LIBC = ctypes.CDLL(ctypes.util.find_library("c")) if ctypes.util.find_library("c") else None
if _LIBC is not None and not hasattr(_LIBC, "malloc_trim"):  # not glibc
    _LIBC = None
CONFIGS = {  # name -> (relaxation mode, single-path choice)
    "softmax": ("softmax", None),
    "single_path": ("single_path", "sampled"),
    "single_path_largest": ("single_path", "largest"),
    "binary": ("binary", None),
}


# -- worker: one configuration in a fresh process ------------------------------------------------


def status_mib() -> dict[str, float]:
    """``VmRSS`` and ``VmHWM`` of this process in MiB (Linux /proc)."""
    values = {}
    with open("/proc/self/status") as status:
        for line in status:
            key = line.split(":")[0]
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(line.split()[1]) / 1024
    return values


def trim() -> None:
    """Collect garbage and give the allocator's free memory back to the OS (glibc ``malloc_trim``)."""
    gc.collect()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def reset_peak() -> None:
    """Set ``VmHWM`` to the current RSS (``/proc/self/clear_refs``, Linux ≥ 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
    except OSError as error:
        raise SystemExit(f"cannot reset the RSS high-water mark through /proc/self/clear_refs ({error}); "
                         f"this benchmark needs Linux with a writable /proc/self/clear_refs") from None


def settle(device: torch.device) -> float:
    """The memory in use before a measurement, in MiB (CUDA: allocated; CPU: RSS after :func:`trim`)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        return torch.cuda.memory_allocated(device) / 2**20
    trim()
    return status_mib()["VmRSS"]


def peak_during(run: Callable[[], None], device: torch.device) -> float:
    """The peak memory while ``run`` runs, in MiB (CUDA: max allocated; CPU: ``VmHWM``)."""
    settle(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        run()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) / 2**20
    reset_peak()
    run()
    return status_mib()["VmHWM"]


def space_options(options: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``spaces.<space>.space`` for the driver's ``options``."""
    if options["space"] == "darts":
        return {"channels": options["channels"], "layers": options["layers"], "image_size": options["image_size"]}
    return {"width": options["width"], "num_classes": 10, "image_size": options["image_size"]}


def build_space(options: dict[str, Any]) -> Any:
    module = darts if options["space"] == "darts" else proxyless
    return module.space(**space_options(options))


def steps(config: str, model: nn.Module, train: Batch, val: Batch, seed: int) -> list[tuple[str, Callable[[], None]]]:
    """The sub-steps of one training step of ``config``, in order, as ``(name, run)``."""
    mode, path = CONFIGS[config]
    alphas, weights = list(model.arch_parameters()), list(model.weight_parameters())
    w_opt = torch.optim.SGD(weights, lr=0.025, momentum=0.9, weight_decay=3e-4)
    a_opt = torch.optim.Adam(alphas, lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
    if mode != "softmax":
        set_generator(model, seed)
    if path == "largest":
        at = {s.path: s.module for s in sites(model)}
        set_paths(model, lambda d: max(range(len(d.choices)), key=lambda i: sum(
            p.numel() for p in at[d.sites[0]].candidates[i].parameters())))

    def weight_step() -> None:
        w_opt.zero_grad(set_to_none=True)
        for a in alphas:
            a.grad = None
        cross_entropy(model, train).backward()
        nn.utils.clip_grad_norm_(weights, 5.0)
        for a in alphas:
            a.grad = None
        w_opt.step()

    def frozen_weight_step() -> None:  # ProxylessNAS: α frozen, so one path runs
        for a in alphas:
            a.requires_grad_(False)
        try:
            weight_step()
        finally:
            for a in alphas:
                a.requires_grad_(True)

    def alpha_step() -> None:
        a_opt.zero_grad(set_to_none=True)
        grads = hypergradient(model, train, val, alphas=alphas, weights=weights, order=1)
        for a, g in zip(alphas, grads):
            a.grad = g.detach()
        a_opt.step()
        if mode == "binary":
            rescale(model)
        for w in weights:
            w.grad = None

    if mode == "softmax":
        return [("α step", alpha_step), ("weight step", weight_step)]
    if mode == "binary":
        return [("weight step", frozen_weight_step), ("α step", alpha_step)]
    return [("weight step", weight_step)]  # SPOS: α plays no part in single_path


def worker(options: dict[str, Any]) -> dict[str, Any]:
    """Build, warm up, then measure one step of ``options["config"]`` (see the module docstring)."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    space = build_space(options)
    device = torch.device(options["device"])
    model = wiring.compile(space.supernet(), seed=0, mode=CONFIGS[options["config"]][0]).to(device)
    model.train()
    g = torch.Generator().manual_seed(1)
    shape = (options["batch"], 3, space.image_size, space.image_size)
    train, val = ((torch.randn(shape, generator=g).to(device), torch.randint(10, (options["batch"],), generator=g)
                   .to(device)) for _ in range(2))
    sub_steps = steps(options["config"], model, train, val, options["seed"])
    for _, run in sub_steps:  # warm-up
        run()
    baseline = settle(device)
    peaks = {name: peak_during(run, device) for name, run in sub_steps}
    return {"baseline": baseline, "peak": max(peaks.values()),
            "added": {name: peak - baseline for name, peak in peaks.items()}}


def _child(options: dict[str, Any], pipe: Any) -> None:
    try:
        pipe.send(worker(options))
    except BaseException as error:  # reported by the driver
        pipe.send(error)
        raise


def run_worker(options: dict[str, Any]) -> dict[str, Any]:
    """:func:`worker` in a child process forked from this one."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(options, send))
    child.start()
    send.close()  # so that recv() sees the end of the pipe if the child dies (e.g. out of memory)
    try:
        result = receive.recv()
    except EOFError:
        result = RuntimeError(f"the child exited with code {child.exitcode} without a result")
    child.join()
    if isinstance(result, BaseException):
        raise SystemExit(f"worker {options['config']} failed: {result!r}")
    return result


LABELS = {"softmax": "softmax: DARTS step, first order (α + weight)",
          "single_path": "single_path: SPOS step, sampled path",
          "single_path_largest": "single_path: largest candidate everywhere",
          "binary": "binary: ProxylessNAS step (weight + α)"}


def median(results: list[dict[str, Any]], key: Callable[[dict[str, Any]], float]) -> float:
    return statistics.median(key(r) for r in results)


def step_peak(result: dict[str, Any]) -> float:
    return max(result["added"].values())


def table(results: dict[str, list[dict[str, Any]]]) -> None:
    """One row per configuration (step peak, ratio to DARTS, absolute peak, baseline), then one per sub-step."""
    darts_step = median(results["softmax"], step_peak)
    print(f"{'configuration':<46}{'step adds MiB':>14}{'ratio':>8}{'peak MiB':>14}{'baseline MiB':>14}")
    for config in CONFIGS:
        runs = results[config]
        added = median(runs, step_peak)
        print(f"{LABELS[config]:<46}{added:>14.1f}{added / darts_step:>8.3f}{median(runs, lambda r: r['peak']):>14.0f}"
              f"{median(runs, lambda r: r['baseline']):>14.0f}{verdict(config, added / darts_step)}")
        if len(runs[0]["added"]) < 2:
            continue
        for name in runs[0]["added"]:
            added = median(runs, lambda r: r["added"][name])
            detail = "" if config != "binary" else " (α frozen: one path)" if name == "weight step" else " (full_v2)"
            print(f"{'    ' + name + detail:<46}{added:>14.1f}{added / darts_step:>8.3f}{'':>28}"
                  f"{verdict(config, added / darts_step)}")


def verdict(config: str, ratio: float) -> str:
    if config == "softmax":
        return ""
    return "  meets ≤ 0.25" if ratio <= 0.25 else "  MISSES ≤ 0.25"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per configuration (median reported)")
    parser.add_argument("--space", choices=("darts", "proxyless"), default="darts")
    parser.add_argument("--channels", type=int, default=16, help="darts: initial channels")
    parser.add_argument("--layers", type=int, default=5, help="darts: cells")
    parser.add_argument("--width", type=float, default=0.5, help="proxyless: width multiplier")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--device", default="cpu", help="cpu (default: RSS) or cuda (the CUDA allocator's bytes)")
    parser.add_argument("--quick", action="store_true", help="smoke run (< 1 min): 8 channels, 16² images, batch 8, "
                                                              "1 repeat (too small for the ratios to mean much)")
    args = parser.parse_args()
    if args.quick:
        args.channels, args.image_size, args.batch, args.repeats = 8, 16, 8, 1
    options = {"space": args.space, "channels": args.channels, "layers": args.layers, "width": args.width,
               "image_size": args.image_size, "batch": args.batch, "device": args.device}
    torch.set_num_threads(1)
    results: dict[str, list[dict[str, Any]]] = {config: [] for config in CONFIGS}
    for repeat in range(args.repeats):
        order = list(CONFIGS)[repeat % len(CONFIGS):] + list(CONFIGS)[:repeat % len(CONFIGS)]
        for config in order:
            results[config].append(run_worker({**options, "config": config, "seed": repeat}))
    described = ", ".join(f"{k}={v}" for k, v in space_options(options).items())
    print(f"spaces.{args.space}.space({described}).supernet(), batch {args.batch}; {args.repeats} fresh "
          f"process(es) per configuration, medians; memory: "
          f"{'RSS' if args.device == 'cpu' else 'CUDA allocated on ' + torch.cuda.get_device_name(args.device)}\n")
    table(results)


if __name__ == "__main__":
    main()
