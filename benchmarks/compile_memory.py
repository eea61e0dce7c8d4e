"""Memory growth over many compiles in one process (issue 3: ≤ 100 MB after 2,000).

Each compile builds a fresh ``torch.fx`` GraphModule (generated source, a class
per instance, linecache entries). This compiles random RandWire stages one
after another, dropping each module, and prints resident memory as it goes.

    python benchmarks/compile_memory.py [--compiles 2000]
"""

from __future__ import annotations

import argparse
import gc
import os

import wiring
from spaces import randwire


def rss_mb() -> float:
    """Resident set size of this process in MB (Linux /proc)."""
    with open(f"/proc/{os.getpid()}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--compiles", type=int, default=2000)
    args = parser.parse_args()
    models = ("er", "ba", "ws")

    def compile_one(i: int) -> None:
        topology = randwire.topology(models[i % 3], 16, None, seed=i)
        wiring.compile(randwire.stage(topology, 8, 8, size=[8, 8]), seed=i)

    for i in range(20):  # warm up imports and allocator pools
        compile_one(i)
    gc.collect()
    start = rss_mb()
    print(f"after warm-up: {start:.1f} MB")
    for i in range(args.compiles):
        compile_one(i)
        if (i + 1) % 500 == 0:
            gc.collect()
            print(f"after {i + 1:>5} compiles: {rss_mb():.1f} MB (+{rss_mb() - start:.1f})")
    gc.collect()
    growth = rss_mb() - start
    print(f"growth after {args.compiles} compiles: {growth:.1f} MB ({'meets' if growth <= 100 else 'MISSES'} ≤ 100 MB)")


if __name__ == "__main__":
    main()
