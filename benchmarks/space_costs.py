"""Search spaces: sampling throughput, static-cost filtering, and cost-by-rule vs build-and-count.

For every registered space (``spaces.SPACES`` when it runs), at its ``SMALL``
options and, where one graph costs in under a second, at its default size:

- draws/s: ``space.sample`` without a constraint;
- constrained/s: ``space.sample`` under ``Constraint(max_params=<median of 8 samples>)``,
  with the fraction of draws the constraint admitted;
- agreement: for ``--archs`` sampled architectures, ``wiring.cost(G)`` against the
  compiled module's parameter count and, on SMALL with image or feature
  inputs, ``FlopCounterMode`` FLOPs / 2 of a batch-1 forward (must be exact);
- rule ms / build ms: medians of alternating runs of ``wiring.cost(G)`` and of
  building and counting (``wiring.compile`` + parameter count, + the counted
  forward on SMALL); speed-up = build / rule.

    python benchmarks/space_costs.py [--space NAME ...] [--reps 5] [--archs 2] [--no-default]

One torch thread. Exits with status 1 when a count disagrees or a space fails.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import traceback
from collections.abc import Callable
from importlib import import_module
from typing import Any


import torch
from torch.utils.flop_counter import FlopCounterMode

import spaces
import wiring
from spaces import Constraint
from wiring.analysis import analyse

THROUGHPUT_S = 0.3
"""Seconds spent drawing per throughput figure."""
BUILD_BUDGET_S = 2.0
"""Seconds of alternating rule/build runs per architecture (at least one run each)."""
DEFAULT_PROBE_S = 1.0
"""The default size is measured only when one ``to_graph`` + ``wiring.cost`` takes less than this."""


def alternate(a: Callable[[], Any], b: Callable[[], Any], reps: int, budget: float) -> tuple[float, float]:
    """Median seconds of ``a`` and ``b`` run alternately (order flipped each round), up to ``reps`` or ``budget``."""
    times: dict[Any, list[float]] = {a: [], b: []}
    start = time.perf_counter()
    for i in range(reps):
        for fn in (a, b) if i % 2 == 0 else (b, a):
            t = time.perf_counter()
            fn()
            times[fn].append(time.perf_counter() - t)
        if time.perf_counter() - start > budget:
            break
    return statistics.median(times[a]), statistics.median(times[b])


def throughput(draw: Callable[[], Any]) -> float:
    """Calls per second of ``draw`` over about :data:`THROUGHPUT_S` seconds."""
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < THROUGHPUT_S or count == 0:
        draw()
        count += 1
    return count / (time.perf_counter() - start)


def batch1_inputs(G: Any) -> list[torch.Tensor]:
    analysis = analyse(G)
    return [torch.randn(1, *analysis.nodes[label].out_shape) for label in analysis.inputs]


def build_and_count(G: Any, inputs: list[torch.Tensor] | None) -> tuple[int, int | None]:
    """Parameters of the compiled module and, given ``inputs``, FLOPs / 2 of one forward."""
    model = wiring.compile(G, seed=0).eval()
    params = sum(p.numel() for p in model.parameters())
    if inputs is None:
        return params, None
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(*inputs)
    return params, counter.get_total_flops() // 2


def measure(name: str, options: dict, size: str, args: argparse.Namespace) -> tuple[str, list[str]]:
    """One table row for space ``name`` built with ``options``, and the disagreements found."""
    module = import_module(f"spaces.{name}")
    space, rng = module.space(**options), random.Random(0)
    draws = throughput(lambda: space.sample(rng))
    limit = statistics.median_low(wiring.cost(space.to_graph(space.sample(rng))).params for _ in range(8))
    constrained = module.space(**options, constraint=Constraint(max_params=limit))
    checked = samples = 0
    admits = constrained.admits

    def counted(arch: Any) -> bool:
        nonlocal checked
        checked += 1
        return admits(arch)

    def draw() -> None:
        nonlocal samples
        constrained.sample(rng)
        samples += 1

    constrained.admits = counted
    kept = throughput(draw)
    count_macs = size == "SMALL" and not hasattr(module, "example_inputs")
    problems, rule_s, build_s = [], [], []
    for _ in range(args.archs if size == "SMALL" else 1):
        arch = space.sample(rng)
        G = space.to_graph(arch)
        inputs = batch1_inputs(G) if count_macs else None
        rule, built = wiring.cost(G), build_and_count(G, inputs)
        if rule.params != built[0] or (count_macs and rule.macs != built[1]):
            problems.append(f"{name} {size} {space.encode(arch)}: rule {rule} vs built params={built[0]} "
                            f"macs={built[1]}")
        r, b = alternate(lambda: wiring.cost(G), lambda: build_and_count(G, inputs), args.reps, BUILD_BUDGET_S)
        rule_s.append(r)
        build_s.append(b)
    rule, build = statistics.median(rule_s), statistics.median(build_s)
    agree = ("params+macs" if count_macs else "params") + (" EXACT" if not problems else " DIFFER")
    row = (f"{name:<16} {size:<8} {draws:>9.0f} {kept:>9.0f} {samples / checked:>8.0%} "
           f"{rule * 1e3:>9.2f} {build * 1e3:>10.1f} {build / rule:>8.0f}x  {agree}")
    return row, problems


def cheap_default(name: str) -> bool:
    """Whether one default-size graph and its cost take under :data:`DEFAULT_PROBE_S`."""
    module = import_module(f"spaces.{name}")
    start = time.perf_counter()
    space = module.space()
    wiring.cost(space.to_graph(space.sample(random.Random(0))))
    return time.perf_counter() - start < DEFAULT_PROBE_S


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", nargs="+", default=None, metavar="NAME",
                        help=f"spaces to measure (default: every registered one: {', '.join(spaces.SPACES)})")
    parser.add_argument("--reps", type=int, default=5, help="alternating rule/build runs per architecture (median)")
    parser.add_argument("--archs", type=int, default=2, help="sampled architectures checked per space on SMALL")
    parser.add_argument("--no-default", action="store_true", help="measure SMALL options only")
    args = parser.parse_args()
    names = args.space or list(spaces.SPACES)
    unknown = [n for n in names if n not in spaces.SPACES]
    if unknown or args.reps < 1 or args.archs < 1:
        parser.error(f"unknown space(s) {unknown}; known: {list(spaces.SPACES)}" if unknown
                     else "--reps and --archs must be at least 1")
    torch.set_num_threads(1)
    print(f"{'space':<16} {'size':<8} {'draws/s':>9} {'constr/s':>9} {'admitted':>8} {'rule ms':>9} "
          f"{'build ms':>10} {'speed-up':>9}  agreement (cost rule = built module)")
    failures = []
    for name in names:
        sizes = [("SMALL", import_module(f"spaces.{name}").SMALL)]
        try:
            if not args.no_default and cheap_default(name):
                sizes.append(("default", {}))
            for size, options in sizes:
                row, problems = measure(name, options, size, args)
                print(row, flush=True)
                failures += problems
        except Exception:  # keep measuring the other spaces; report at the end
            failures.append(f"{name}: {traceback.format_exc(limit=3)}")
            print(f"{name:<16} FAILED (see below)", flush=True)
    print("\ndraws/s: unconstrained samples per second; constr/s: samples per second under "
          "Constraint(max_params=median of 8 samples); admitted: samples / candidates checked; "
          "rule: wiring.cost(G); build: wiring.compile + parameter count (+ FLOP-counted batch-1 forward on "
          "SMALL); speed-up = build / rule.")
    if failures:
        print("\n".join(["", "FAILURES:", *failures]))
        raise SystemExit(1)


if __name__ == "__main__":
    main()
