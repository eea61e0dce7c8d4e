"""Data-parallel speed-up: ``wiring.train`` under torchrun with 2 processes (gloo, 1 thread each) against 1 process.

Both train the same network on the same data for the same epochs with the same
global batch (``--batch`` per rank × ranks, i.e. 1 × 2B against 2 × B), so
both do the same work; the ratio is wall time of 1 process / wall time of 2
(start-up of torch in each process excluded: the time is measured inside
``train``). Medians over ``--reps`` alternating runs. On a 2-core machine the
ceiling is 2 × minus the all-reduce of every step; small networks are bound by
that synchronisation. ``python benchmarks/distributed.py [--device cuda]``
(CUDA: NCCL, one GPU per rank).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def worker(out: str, batch: int, epochs: int, device: str, channels: int) -> None:
    import torch

    import spaces.randwire as randwire
    from wiring import distributed
    from wiring.data import load_dataset
    from wiring.train import train

    torch.set_num_threads(1)
    net = randwire.cifar(channels=channels, nodes=6, seed=0, image_size=8, in_channels=1)
    data = load_dataset("digits")
    result = train(net, data, epochs=epochs, batch_size=batch, progress=False, device=device)
    if distributed.rank() == 0:
        Path(out).write_text(json.dumps({"seconds": result.train_seconds, "val": result.val_accuracy}))


def launch(ranks: int, batch: int, epochs: int, device: str, channels: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.json")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        prefix = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", str(ranks),
                  "--master-addr", "127.0.0.1", "--master-port", str(port)] if ranks > 1 else [sys.executable]
        env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
        subprocess.run([*prefix, __file__, "--worker", out, "--batch", str(batch), "--epochs", str(epochs),
                        "--device", device, "--channels", str(channels)], check=True, env=env)
        return json.loads(Path(out).read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64, help="batch per rank (the 1-process run takes 2×)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--channels", type=int, default=16, help="RandWire C (spaces.randwire.cifar)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--worker", metavar="OUT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.batch, args.epochs, args.device, args.channels)
        return
    one, two = [], []
    for _ in range(args.reps):
        one.append(launch(1, 2 * args.batch, args.epochs, args.device, args.channels)["seconds"])
        two.append(launch(2, args.batch, args.epochs, args.device, args.channels)["seconds"])
    m1, m2 = statistics.median(one), statistics.median(two)
    print(f"randwire C={args.channels} on digits, {args.epochs} epochs, global batch {2 * args.batch}, "
          f"{args.device}, median of {args.reps}")
    print(f"1 process : {m1:.2f} s")
    print(f"2 processes: {m2:.2f} s   speed-up {m1 / m2:.2f}x")


if __name__ == "__main__":
    main()
