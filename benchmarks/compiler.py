"""The compiler costs nothing: compiled RandWire vs a hand-written PyTorch module, side by side.

Prints medians of alternating runs and their ratio (compiled / baseline; ≤ 1 is
as fast or faster). Targets (issue 3): training step ≤ 1.05×, eval forward at
batch 1 ≤ 1.05×, compile ≤ 1.5× constructing the hand-written module, typed
stage from a generator ≤ 3× the raw networkx generator call.

    python benchmarks/compiler.py [--reps 7] [--batch 32] [--train-size 64] [--size 224]

The training step runs at 64×64 by default (a 224² batch of 32 takes tens of
seconds per step on 2 cores); eval forward runs at 224².
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import networkx as nx
import torch
from handwritten import SmallRandWire

import generators
import wiring
from spaces import randwire


def alternate(a: Callable[[], object], b: Callable[[], object], reps: int) -> tuple[float, float]:
    """Median seconds of ``a`` and ``b``, run alternately (order flipped each round) after one warm-up each."""
    a(), b()
    times: dict[str, list[float]] = {"a": [], "b": []}
    for i in range(reps):
        for name, fn in (("a", a), ("b", b)) if i % 2 == 0 else (("b", b), ("a", a)):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return statistics.median(times["a"]), statistics.median(times["b"])


def report(what: str, compiled: float, baseline: float, target: float, baseline_name: str) -> None:
    ratio = compiled / baseline
    verdict = "meets" if ratio <= target else "MISSES"
    print(f"{what:<34} compiled {compiled * 1e3:9.2f} ms  {baseline_name} {baseline * 1e3:9.2f} ms  "
          f"ratio {ratio:5.3f}  ({verdict} ≤ {target})")


def stage_dags(G: nx.DiGraph) -> list[nx.DiGraph]:
    """The three stage topologies of a ``randwire.small`` network (the rw_nodes and their edges)."""
    dags = []
    for name in ("conv3", "conv4", "conv5"):
        inner = G.nodes[name]["params"]["graph"]
        dags.append(inner.subgraph(n for n, d in inner.nodes(data=True) if d["op"] == "rw_node").copy())
    return dags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=7, help="alternating runs per measurement (median reported)")
    parser.add_argument("--batch", type=int, default=32, help="batch size of the training step")
    parser.add_argument("--train-size", type=int, default=64, help="image size of the training step")
    parser.add_argument("--size", type=int, default=224, help="image size of the eval forward")
    args = parser.parse_args()
    torch.manual_seed(0)
    G = randwire.small(seed=0)
    dags = stage_dags(G)
    compiled, handwritten = wiring.compile(G, seed=0), SmallRandWire(dags)
    params = [sum(p.numel() for p in m.parameters()) for m in (compiled, handwritten)]
    assert params[0] == params[1], f"the two networks differ: {params}"
    print(f"randwire.small(seed=0): {params[0] / 1e6:.2f}M params, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {args.reps} alternating runs each\n")

    x = torch.randn(args.batch, 3, args.train_size, args.train_size)
    y = torch.randint(0, 1000, (args.batch,))

    def step(model: torch.nn.Module) -> Callable[[], None]:
        def run() -> None:
            model.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(x), y).backward()
        return run

    compiled.train(), handwritten.train()
    report(f"train step, batch {args.batch}, {args.train_size}²", *alternate(step(compiled), step(handwritten), args.reps),
           1.05, "hand-written")

    one = torch.randn(1, 3, args.size, args.size)
    compiled.eval(), handwritten.eval()

    def infer(model: torch.nn.Module) -> Callable[[], None]:
        def run() -> None:
            with torch.no_grad():
                model(one)
        return run

    report(f"eval forward, batch 1, {args.size}²", *alternate(infer(compiled), infer(handwritten), args.reps * 3),
           1.05, "hand-written")
    report("compile vs construct", *alternate(lambda: wiring.compile(G), lambda: SmallRandWire(dags), args.reps * 3),
           1.5, "hand-written")

    def typed_stage() -> None:
        randwire.stage(generators.watts_strogatz(32, 4, 0.75, seed=1), 78, 78)

    report("typed stage vs nx generator", *alternate(
        lambda: [typed_stage() for _ in range(100)],
        lambda: [nx.watts_strogatz_graph(32, 4, 0.75, seed=1) for _ in range(100)], args.reps * 3),
        3.0, "networkx")


if __name__ == "__main__":
    main()
