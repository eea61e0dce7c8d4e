"""DARTS search step: the library's compiled supernet vs a hand-written DARTS network, side by side.

Library: ``wiring.compile(spaces.darts.space(...).supernet(), mode="softmax")``,
stepped exactly as ``DARTS._search`` steps it (first order): an α step
(``hypergradient(order=1)`` on a validation batch, i.e. ∇α of the loss, then
Adam) and a weight step (forward and backward on a training batch, gradient
norm clipped to 5, SGD with momentum). Baseline: ``darts_reference.Network``
built to the same size (equal parameter count, checked; the same outputs once
the compiled weights are loaded into it, checked) and stepped the same way in
plain PyTorch (``torch.autograd.grad`` w.r.t. α, then the same optimisers).
Before timing, one step of each from the same weights must give the same α
and weights (to float tolerance).

Each measurement runs the two alternately (order flipped each round) after a
warm-up; medians of ``--reps`` rounds, and the ratio library / hand-written
as the median of the rounds' ratios (each round pairs two runs taken moments
apart, so slow drifts of a busy machine cancel); target ≤ 1.05 for the step.
Rows: forward (train mode, autograd recording, loss), forward+backward (every
gradient), the α step, the weight step (both timed inside the step) and the
whole step. Timings on a busy machine stay noisy (a few % per row even so);
the op count is exact: before timing, the script counts the ``aten::`` ops one
DARTS step runs in each network (``torch.profiler``) and prints the ops whose
counts differ, which is where a structural gap would show. Times are CPU seconds of the calling
thread (``time.thread_time``; torch runs on 1 thread, autograd's CPU backward
on the calling thread), which other processes on a busy machine do not
inflate; ``--clock wall`` uses ``time.perf_counter`` instead. ``--device cuda``
runs both networks on the GPU and times wall clock after synchronising the
device (the one-step equality check still runs on the CPU).

    python benchmarks/oneshot_step.py [--quick] [--reps 11] [--channels 8] [--layers 5] [--image-size 16] [--batch 8]
    python benchmarks/oneshot_step.py --device cuda --channels 16 --layers 8 --image-size 32 --batch 64  # the paper's
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from darts_reference import load_compiled, matching
from torch import nn
from torch.profiler import ProfilerActivity, profile

import wiring
from spaces import darts
from wiring.search.oneshot.darts import cross_entropy, hypergradient

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass
class Stepper:
    """One network with DARTS' two optimisers (the paper's search settings, as ``DARTS`` defaults)."""

    model: nn.Module
    library: bool

    def __post_init__(self) -> None:
        self.alphas = list(self.model.arch_parameters())
        self.weights = list(self.model.weight_parameters())
        self.w_opt = torch.optim.SGD(self.weights, lr=0.025, momentum=0.9, weight_decay=3e-4)
        self.a_opt = torch.optim.Adam(self.alphas, lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)

    def alpha_step(self, train: Batch, val: Batch) -> None:
        self.a_opt.zero_grad(set_to_none=True)
        if self.library:  # as DARTS._search
            grads = hypergradient(self.model, train, val, alphas=self.alphas, weights=self.weights, order=1,
                                  xi=0.025, weight_decay=3e-4)
        else:
            grads = torch.autograd.grad(F.cross_entropy(self.model(val[0]), val[1]), self.alphas)
        for a, g in zip(self.alphas, grads):
            a.grad = g.detach()
        self.a_opt.step()

    def weight_step(self, train: Batch) -> None:
        self.w_opt.zero_grad(set_to_none=True)
        for a in self.alphas:
            a.grad = None
        loss = cross_entropy(self.model, train) if self.library else F.cross_entropy(self.model(train[0]), train[1])
        loss.backward()
        nn.utils.clip_grad_norm_(self.weights, 5.0)
        for a in self.alphas:  # the α step owns α
            a.grad = None
        self.w_opt.step()


def check_same_step(space: darts.DartsSpace, batch: int) -> float:
    """Largest difference between the two networks' state (weights, α, BN statistics) after one DARTS step
    from the same weights on the same batches."""
    compiled = wiring.compile(space.supernet(), seed=0, mode="softmax")
    reference = matching(space)
    load_compiled(reference, compiled)
    train, val = batches(space, batch, seed=1)
    for stepper in (Stepper(compiled, True), Stepper(reference, False)):
        stepper.alpha_step(train, val)
        stepper.weight_step(train)
    stepped = matching(space)
    load_compiled(stepped, compiled)  # the compiled network's new state, mapped by structure
    return max(float((p.double() - q.double()).abs().max())
               for p, q in zip(stepped.state_dict().values(), reference.state_dict().values()))


def batches(space: darts.DartsSpace, batch: int, seed: int, device: str = "cpu") -> tuple[Batch, Batch]:
    g = torch.Generator().manual_seed(seed)
    shape = (batch, space.in_channels, space.image_size, space.image_size)
    return tuple((torch.randn(shape, generator=g).to(device),  # type: ignore[return-value]
                  torch.randint(space.num_classes, (batch,), generator=g).to(device)) for _ in range(2))


@contextmanager
def quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 (the profiler's C++ start/stop lines); Python exceptions still propagate."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def op_counts(stepper: Stepper, train: Batch, val: Batch) -> Counter[str]:
    """How often each ``aten::`` op runs in one DARTS step (``torch.profiler``; nested calls counted too)."""
    with quiet_stderr(), profile(activities=[ProfilerActivity.CPU]) as prof:
        stepper.alpha_step(train, val)
        stepper.weight_step(train)
    return Counter(event.name for event in prof.events() if event.name.startswith("aten::"))


def synchronised(clock: Callable[[], float], device: torch.device) -> Callable[[], float]:
    """``clock`` read after the device has finished its queued work."""
    def read() -> float:
        torch.cuda.synchronize(device)
        return clock()
    return read


Timed = Callable[[], dict[str, float]]
Runs = dict[str, list[float]]


def alternate(a: Timed, b: Timed, reps: int) -> tuple[Runs, Runs]:
    """Every timing ``a`` and ``b`` report, round by round, run alternately (order flipped each round) after
    a warm-up."""
    a(), b()
    runs: dict[str, list[dict[str, float]]] = {"a": [], "b": []}
    for i in range(reps):
        for name, fn in (("a", a), ("b", b)) if i % 2 == 0 else (("b", b), ("a", a)):
            runs[name].append(fn())
    return tuple({key: [r[key] for r in runs[name]] for key in runs[name][0]} for name in ("a", "b"))  # type: ignore


def timings(stepper: Stepper, train: Batch, val: Batch, clock: Callable[[], float]) -> tuple[Timed, Timed, Timed]:
    """Three timed callables: forward, forward+backward, and the DARTS step (α step, weight step, whole)."""
    model = stepper.model

    def forward() -> dict[str, float]:
        start = clock()
        F.cross_entropy(model(train[0]), train[1])
        return {"forward": clock() - start}

    def forward_backward() -> dict[str, float]:
        model.zero_grad(set_to_none=True)
        start = clock()
        F.cross_entropy(model(train[0]), train[1]).backward()
        elapsed = clock() - start
        model.zero_grad(set_to_none=True)
        return {"forward+backward": elapsed}

    def step() -> dict[str, float]:
        start = clock()
        stepper.alpha_step(train, val)
        middle = clock()
        stepper.weight_step(train)
        end = clock()
        return {"α step": middle - start, "weight step": end - middle, "DARTS step (α + weight)": end - start}

    return forward, forward_backward, step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=11, help="alternating rounds per measurement (medians reported)")
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--image-size", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                        help="cpu: time.thread_time (default); wall: time.perf_counter")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda: wall time after synchronising")
    parser.add_argument("--quick", action="store_true", help="smoke run (< 1 min): 4 channels, 8² images, "
                                                              "batch 2, 3 rounds (too few for a stable ratio)")
    args = parser.parse_args()
    if args.quick:
        args.channels, args.image_size, args.batch, args.reps = 4, 8, 2, 3
    torch.set_num_threads(1)
    torch.manual_seed(0)
    space = darts.space(channels=args.channels, layers=args.layers, image_size=args.image_size)
    difference = check_same_step(space, batch=2)
    assert difference <= 1e-4, f"one step from the same weights differs by {difference}"
    compiled = wiring.compile(space.supernet(), seed=0, mode="softmax").to(args.device)
    reference = matching(space).to(args.device)
    params = [sum(p.numel() for p in m.parameters()) for m in (compiled, reference)]
    assert params[0] == params[1], f"parameter counts differ: {params}"
    clock = time.thread_time if args.clock == "cpu" else time.perf_counter
    if args.device != "cpu":  # GPU work is asynchronous: wall time after the device has finished
        args.clock = f"{torch.cuda.get_device_name(args.device)} wall"
        clock = synchronised(time.perf_counter, torch.device(args.device))
    print(f"{space!r}, batch {args.batch}: supernet compiled {params[0]:,} params, hand-written {params[1]:,}; "
          f"one step from the same weights differs by {difference:.1e}\ntorch {torch.__version__}, "
          f"{torch.get_num_threads()} thread, {args.clock} time, medians of {args.reps} alternating rounds\n")
    train, val = batches(space, args.batch, seed=0, device=args.device)
    steppers = Stepper(compiled, True), Stepper(reference, False)
    counts = [op_counts(stepper, train, val) for stepper in steppers]
    extra = sorted(((counts[0][k] - counts[1][k], k) for k in counts[0] | counts[1] if counts[0][k] != counts[1][k]),
                   key=lambda d: -abs(d[0]))
    print(f"aten ops run by one DARTS step: library {counts[0].total():,}, hand-written {counts[1].total():,}; "
          f"library − hand-written: {', '.join(f'{k} {d:+d}' for d, k in extra[:6]) or 'none'}\n")
    ours: Runs = {}
    theirs: Runs = {}
    for a, b in zip(*(timings(stepper, train, val, clock) for stepper in steppers)):
        x, y = alternate(a, b, args.reps)
        ours.update(x)
        theirs.update(y)
    print(f"{'':<26}{'library ms':>12}{'hand-written ms':>17}{'ratio':>8}")
    for key in ours:
        ratio = statistics.median(x / y for x, y in zip(ours[key], theirs[key]))
        target = "  (target ≤ 1.05: " + ("meets)" if ratio <= 1.05 else "MISSES)") if key.startswith("DARTS") else ""
        print(f"{key:<26}{statistics.median(ours[key]) * 1e3:>12.1f}{statistics.median(theirs[key]) * 1e3:>17.1f}"
              f"{ratio:>8.3f}{target}")


if __name__ == "__main__":
    main()
