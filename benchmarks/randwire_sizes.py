"""RandWire sizes next to the paper's (docs/papers.md §1): `python benchmarks/randwire_sizes.py [--seeds 10]`."""

import argparse
import statistics

import wiring
from spaces import randwire

PAPER = {  # (params M, std), (multiply-adds M, std), mean ± std over 5 WS(4, 0.75) graphs
    "small, C=78": ((5.6, 0.1), (583, 6.2)),
    "regular, C=109": ((31.9, 0.66), (4000, 90)),
    "regular, C=154": ((61.5, 1.32), (7900, 180)),
}
BUILD = {
    "small, C=78": lambda seed: randwire.small(seed=seed),
    "regular, C=109": lambda seed: randwire.regular(channels=109, seed=seed),
    "regular, C=154": lambda seed: randwire.regular(channels=154, seed=seed),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=10, help="number of seeds (0..n-1) per network")
    args = parser.parse_args()
    print(f"{'network':<16} {'params (ours)':>16} {'params (paper)':>16} {'MACs (ours)':>16} {'MACs (paper)':>16}")
    for name, build in BUILD.items():
        costs = [wiring.cost(build(seed), (3, 224, 224)) for seed in range(args.seeds)]
        params = [c.params / 1e6 for c in costs]
        macs = [c.macs / 1e6 for c in costs]
        (p, p_std), (m, m_std) = PAPER[name]
        within = abs(statistics.mean(params) - p) <= p_std and abs(statistics.mean(macs) - m) <= m_std
        print(f"{name:<16} {statistics.mean(params):>9.2f}M ± {statistics.stdev(params):.2f} {p:>9.1f}M ± {p_std}"
              f" {statistics.mean(macs):>9.0f}M ± {statistics.stdev(macs):.1f} {m:>9.0f}M ± {m_std}"
              f"   {'within' if within else 'OUTSIDE'} one published std")


if __name__ == "__main__":
    main()
