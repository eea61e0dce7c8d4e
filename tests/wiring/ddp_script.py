"""Run by the distributed tests under torchrun (or alone): trains or searches, then saves what each rank ended with.

``python ddp_script.py OUT train-mlp|train-bn|darts BATCH EPOCHS [CHECKPOINT [KILL_AFTER_SAVES]]``
writes ``OUT/rank<r>.pt``.
"""

from __future__ import annotations

import os
import sys

import networkx as nx
import torch
from torch import nn

import spaces.nasbench201 as nb201
from wiring import distributed
from wiring.data import load_dataset
from wiring.search.evaluators import fit_input
from wiring.search.oneshot import DARTS
from wiring.search.oneshot.checkpoint import Checkpoint
from wiring.train import train


def bn_net() -> nx.DiGraph:
    G = nx.DiGraph()
    G.add_node("in", op="input", params={"channels": 1, "size": [8, 8]})
    G.add_node("conv", op="conv_bn", params={"channels": 4, "relu": True})
    G.add_node("head", op="head", params={"num_classes": 10})
    G.add_node("out", op="output")
    nx.add_path(G, ["in", "conv", "head", "out"])
    return G


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def main(out: str, mode: str, batch: int, epochs: int, checkpoint: str | None = None, kill: int = 0) -> None:
    data = load_dataset("digits", limit=300)
    if mode == "darts":
        original, calls = Checkpoint.save, []

        def save(self, **loop):
            original(self, **loop)
            calls.append(1)
            if len(calls) == kill:
                os._exit(3)  # killed after the checkpoint of an epoch, as a lost node

        Checkpoint.save = save
        space = nb201.space(channels=4, cells_per_stage=1, image_size=8)
        data = fit_input(data, (3, 8, 8))
        result = DARTS(space, seed=0, epochs=epochs, batch_size=batch, progress=False,
                       checkpoint=checkpoint).search(data)
        state = {"alphas": result.alpha_history, "arch": result.arch, "weights": result.model.state_dict(),
                 "saves": len(calls)}
    else:
        model = mlp() if mode == "train-mlp" else bn_net()
        result = train(model, data, epochs=epochs, batch_size=batch, progress=False, lr=0.05)
        state = {"weights": result.model.state_dict(), "history": [(r.train_loss, r.train_accuracy, r.val_accuracy)
                                                                   for r in result.history],
                 "test": result.test_accuracy}
    torch.save(state, os.path.join(out, f"rank{distributed.rank()}.pt"))


if __name__ == "__main__":
    args = sys.argv[1:]
    main(args[0], args[1], int(args[2]), int(args[3]), args[4] if len(args) > 4 else None,
         int(args[5]) if len(args) > 5 else 0)
