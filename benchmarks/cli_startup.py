"""Start-up time of the command line (issue 11 §11: ``wiring --help`` and ``wiring COMMAND --help`` ≤ 0.5 s).

Runs ``wiring --help`` (the console script beside this Python, else ``python -m wiring.cli``), each
``wiring COMMAND --help`` and, for comparison, ``python -c "import wiring"`` and ``python -c "import generators"``
in fresh subprocesses, and prints the median wall-clock and CPU time of N runs.

    python benchmarks/cli_startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time

from wiring.cli import build_parser

COMMANDS = next(a.choices for a in build_parser()._actions if a.dest == "command")
"""The subcommands of ``wiring``."""


def once(argv: list[str]) -> tuple[float, float]:
    """Wall-clock and CPU (user + system) seconds of one run of ``argv``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="runs per command (the median is printed)")
    args = parser.parse_args()
    script = shutil.which("wiring", path=os.path.dirname(sys.executable))  # the console script of this install
    cli = [script] if script else [sys.executable, "-m", "wiring.cli"]
    cases = {"wiring --help": [*cli, "--help"]}
    cases |= {f"wiring {c} --help": [*cli, c, "--help"] for c in COMMANDS}
    cases |= {f'python -c "import {m}"': [sys.executable, "-c", f"import {m}"] for m in ("wiring", "generators")}
    print(f"{'command':<32} {'wall s':>8} {'CPU s':>8}   (median of {args.runs})")
    for label, argv in cases.items():
        runs = [once(argv) for _ in range(args.runs)]
        wall, cpu = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
        print(f"{label:<32} {wall:>8.3f} {cpu:>8.3f}")


if __name__ == "__main__":
    main()
