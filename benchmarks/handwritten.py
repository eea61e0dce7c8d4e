"""A hand-written PyTorch RandWire network, the way reimplementations of the paper write one.

Used by the benchmarks as the baseline the compiler must match: the same
stage graphs, the same layers, the same parameter count, but ordinary
``nn.Module`` classes whose ``forward`` walks each stage's nodes in Python.
"""

from __future__ import annotations

import networkx as nx
import torch
from torch import nn


class Node(nn.Module):
    """Σ sigmoid(w_i)·x_i, ReLU, 3×3 depthwise, 1×1 pointwise, BN."""

    def __init__(self, inputs: int, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(inputs)) if inputs > 1 else None
        self.relu = nn.ReLU()
        self.depthwise = nn.Conv2d(c_in, c_in, 3, stride, 1, groups=c_in, bias=False)
        self.pointwise = nn.Conv2d(c_in, c_out, 1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        if self.weight is None:
            x = xs[0]
        else:
            gates = torch.sigmoid(self.weight)
            x = gates[0] * xs[0]
            for i in range(1, len(xs)):
                x = x + gates[i] * xs[i]
        return self.bn(self.pointwise(self.depthwise(self.relu(x))))


class Stage(nn.Module):
    """One randomly wired stage: nodes evaluated in topological order, sinks averaged."""

    def __init__(self, dag: nx.DiGraph, c_in: int, c_out: int) -> None:
        super().__init__()
        self.order = list(nx.topological_sort(dag))
        self.preds = {v: sorted(dag.predecessors(v), key=self.order.index) for v in self.order}
        self.sinks = [v for v in self.order if dag.out_degree(v) == 0]
        self.nodes = nn.ModuleDict({
            str(v): Node(max(1, len(self.preds[v])), c_out if self.preds[v] else c_in, c_out,
                         1 if self.preds[v] else 2)
            for v in self.order
        })

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: dict = {}
        for v in self.order:
            inputs = [out[u] for u in self.preds[v]] if self.preds[v] else [x]
            out[v] = self.nodes[str(v)](inputs)
        return torch.stack([out[v] for v in self.sinks]).mean(0)


class SmallRandWire(nn.Module):
    """The small regime (docs/papers.md §1) over three given stage DAGs."""

    def __init__(self, dags: list[nx.DiGraph], channels: int = 78, num_classes: int = 1000) -> None:
        super().__init__()
        c = channels
        self.conv1 = nn.Sequential(nn.Conv2d(3, c // 2, 3, 2, 1, bias=False), nn.BatchNorm2d(c // 2))
        self.conv2 = nn.Sequential(nn.ReLU(), nn.Conv2d(c // 2, c, 3, 2, 1, bias=False), nn.BatchNorm2d(c))
        self.conv3 = Stage(dags[0], c, c)
        self.conv4 = Stage(dags[1], c, 2 * c)
        self.conv5 = Stage(dags[2], 2 * c, 4 * c)
        self.classifier = nn.Sequential(nn.Conv2d(4 * c, 1280, 1, bias=False), nn.BatchNorm2d(1280), nn.ReLU())
        self.fc = nn.Linear(1280, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.classifier(self.conv5(self.conv4(self.conv3(self.conv2(self.conv1(x))))))
        return self.fc(x.mean((2, 3)))
