"""A hand-written DARTS search network in plain PyTorch: the baseline of ``benchmarks/oneshot_step.py``.

Written the way the DARTS reference code (quark0/darts ``cnn/model_search.py``,
``cnn/operations.py``) writes its search network, with nothing from this
library: ``MixedOp`` over the 8 PRIMITIVES (pools followed by BN without
affine, every other op with BN without affine), ``Cell`` with ``nodes``
intermediate nodes (node i sums one mixed op per earlier state: 14 edges for 4
nodes), a CIFAR stem (3×3 conv to 3C, BN), reduction cells at ``layers // 3``
and ``2 * layers // 3`` (channels doubled), global average pool and a linear
classifier. ``alphas_normal`` / ``alphas_reduce`` (edges × 8, 1e-3·N(0, 1))
are registered parameters here (the reference keeps them as loose tensors),
so ``parameters()`` counts them once each, as the compiled supernet does.

Two things differ from the reference on purpose, both in the baseline's
favour: a mixed op accumulates ``w_0·y_0 + w_1·y_1 + …`` (the reference's
``sum(...)`` adds an extra ``0 + …``), and each α goes through its softmax
once per forward (the reference: once per cell).

    python benchmarks/darts_reference.py [--quick]   # checks it against spaces.darts' compiled supernet
"""

from __future__ import annotations

import argparse
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

PRIMITIVES = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
              "dil_conv_3x3", "dil_conv_5x5")


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int) -> None:
        super().__init__(nn.ReLU(), nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=False),
                         nn.BatchNorm2d(c_out, affine=False))


class DilConv(nn.Sequential):
    """ReLU, k×k depthwise (stride, dilation), 1×1 pointwise, BN."""

    def __init__(self, c: int, kernel: int, stride: int, padding: int, dilation: int) -> None:
        super().__init__(nn.ReLU(), nn.Conv2d(c, c, kernel, stride, padding, dilation=dilation, groups=c, bias=False),
                         nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c, affine=False))


class SepConv(nn.Sequential):
    """Two DilConv blocks without dilation, the stride on the first."""

    def __init__(self, c: int, kernel: int, stride: int) -> None:
        padding = kernel // 2
        super().__init__(DilConv(c, kernel, stride, padding, 1), DilConv(c, kernel, 1, padding, 1))


class Zero(nn.Module):
    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, ::self.stride, ::self.stride].mul(0.0)


class FactorizedReduce(nn.Module):
    """ReLU; two 1×1 stride-2 convs, the second on x shifted by one pixel; concat; BN."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.relu = nn.ReLU()
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


def make_op(name: str, c: int, stride: int) -> nn.Module:
    """A search-mode candidate: BN without affine; pools followed by a BN without affine."""
    if name == "none":
        return Zero(stride)
    if name == "max_pool_3x3":
        return nn.Sequential(nn.MaxPool2d(3, stride, 1), nn.BatchNorm2d(c, affine=False))
    if name == "avg_pool_3x3":
        return nn.Sequential(nn.AvgPool2d(3, stride, 1, count_include_pad=False), nn.BatchNorm2d(c, affine=False))
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(c, c)
    kind, size = name.rsplit("_", 1)
    kernel = int(size.split("x")[0])
    if kind == "sep_conv":
        return SepConv(c, kernel, stride)
    return DilConv(c, kernel, stride, kernel - 1, 2)


class MixedOp(nn.Module):
    def __init__(self, c: int, stride: int) -> None:
        super().__init__()
        self.ops = nn.ModuleList(make_op(name, c, stride) for name in PRIMITIVES)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        out = weights[0] * self.ops[0](x)
        for i in range(1, len(self.ops)):
            out = out + weights[i] * self.ops[i](x)
        return out


class Cell(nn.Module):
    def __init__(self, nodes: int, c_pp: int, c_p: int, c: int, reduction: bool, reduction_prev: bool) -> None:
        super().__init__()
        self.reduction, self.nodes = reduction, nodes
        self.preprocess0 = FactorizedReduce(c_pp, c) if reduction_prev else ReLUConvBN(c_pp, c, 1, 1, 0)
        self.preprocess1 = ReLUConvBN(c_p, c, 1, 1, 0)
        self.edges = nn.ModuleList(MixedOp(c, 2 if reduction and j < 2 else 1)
                                   for i in range(nodes) for j in range(2 + i))

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        offset = 0
        for _ in range(self.nodes):
            s = self.edges[offset](states[0], weights[offset])
            for j in range(1, len(states)):
                s = s + self.edges[offset + j](states[j], weights[offset + j])
            offset += len(states)
            states.append(s)
        return torch.cat(states[2:], dim=1)


class Network(nn.Module):
    """DARTS' search network (``model_search.Network``); arguments as ``spaces.darts.space``."""

    def __init__(self, channels: int = 16, layers: int = 8, nodes: int = 4, num_classes: int = 10,
                 in_channels: int = 3) -> None:
        super().__init__()
        c_curr = 3 * channels
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c_curr, 3, padding=1, bias=False), nn.BatchNorm2d(c_curr))
        c_pp, c_p, c = c_curr, c_curr, channels
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c *= 2
            self.cells.append(Cell(nodes, c_pp, c_p, c, reduction, reduction_prev))
            reduction_prev = reduction
            c_pp, c_p = c_p, nodes * c
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_p, num_classes)
        edges = sum(2 + i for i in range(nodes))
        self.alphas_normal = nn.Parameter(1e-3 * torch.randn(edges, len(PRIMITIVES)))
        self.alphas_reduce = nn.Parameter(1e-3 * torch.randn(edges, len(PRIMITIVES)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        normal = F.softmax(self.alphas_normal, dim=-1)
        reduce = F.softmax(self.alphas_reduce, dim=-1)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, reduce if cell.reduction else normal)
        return self.classifier(self.global_pooling(s1).flatten(1))

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alphas_normal, self.alphas_reduce]

    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for name, p in self.named_parameters() if not name.startswith("alphas_")]


def matching(space: Any) -> Network:
    """The hand-written network at the size of ``space`` (a ``spaces.darts`` space)."""
    return Network(space.channels, space.layers, space.nodes, space.num_classes, space.in_channels)


def load_compiled(reference: Network, compiled: nn.Module) -> None:
    """Copy the weights, BN statistics and α of a compiled ``spaces.darts`` supernet into ``reference``.

    Walks the compiled graph by its node labels (``stem``, ``cell<k>``, ``head``; in a cell ``pre0``, ``pre1``,
    ``edge<i>_<j>``, the edge from state i into node j, α row ``(j - 2)(j + 1)/2 + i``), so it fails loudly
    (``load_state_dict(strict=True)``) wherever the two networks are built differently.
    """
    by_label = {label: getattr(compiled, name) for name, label in compiled.node_names.items()}
    reference.stem.load_state_dict(by_label["stem"].state_dict())
    reference.classifier.load_state_dict({k.removeprefix("fc."): v for k, v in by_label["head"].state_dict().items()})
    for k, cell in enumerate(reference.cells):
        inner = {label: getattr(by_label[f"cell{k}"], name) for name, label in by_label[f"cell{k}"].node_names.items()}
        cell.preprocess0.load_state_dict(inner["pre0"].state_dict())
        cell.preprocess1.load_state_dict(inner["pre1"].state_dict())
        for j in range(2, 2 + cell.nodes):
            for i in range(j):
                mixed = inner[f"edge{i}_{j}"]
                cell.edges[(j - 2) * (j + 1) // 2 + i].ops.load_state_dict(mixed.candidates.state_dict())
    alphas = compiled.alphas_by_key()
    with torch.no_grad():
        reference.alphas_normal.copy_(alphas["normal"])
        reference.alphas_reduce.copy_(alphas["reduce"])


def check(space: Any, batch: int = 2) -> tuple[int, int, tuple[int, ...], float]:
    """Parameter counts of the compiled supernet and of :func:`matching`, their common output shape, and the
    largest output difference once the compiled weights are loaded into the hand-written network
    (:func:`load_compiled`; train mode, both fed the same batch). Raises ``AssertionError`` when they differ."""
    import wiring

    compiled, reference = wiring.compile(space.supernet(), seed=0), matching(space)
    counts = [sum(p.numel() for p in m.parameters()) for m in (compiled, reference)]
    alphas = [sorted(tuple(a.shape) for a in m.arch_parameters()) for m in (compiled, reference)]
    assert counts[0] == counts[1], f"parameter counts differ: compiled {counts[0]}, hand-written {counts[1]}"
    assert alphas[0] == alphas[1], f"α shapes differ: compiled {alphas[0]}, hand-written {alphas[1]}"
    load_compiled(reference, compiled)
    x = torch.randn(batch, space.in_channels, space.image_size, space.image_size)
    with torch.no_grad():
        outputs = [m(x) for m in (compiled, reference)]
    assert outputs[0].shape == outputs[1].shape, f"output shapes differ: {outputs[0].shape}, {outputs[1].shape}"
    difference = float((outputs[0] - outputs[1]).abs().max())
    assert difference <= 1e-4 * (1 + float(outputs[1].abs().max())), f"outputs differ by {difference}"
    return counts[0], counts[1], tuple(outputs[0].shape), difference


def main() -> None:
    from spaces import darts

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--quick", action="store_true", help="the small space (spaces.darts.SMALL)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    assert PRIMITIVES == darts.PRIMITIVES, "PRIMITIVES differ from spaces.darts.PRIMITIVES"
    options = dict(darts.SMALL) if args.quick else {"channels": args.channels, "layers": args.layers,
                                                    "image_size": args.image_size}
    compiled, reference, shape, difference = check(darts.space(**options))
    print(f"darts.space({', '.join(f'{k}={v}' for k, v in options.items())}): supernet compiled {compiled:,} "
          f"params, hand-written {reference:,} params; output shape {shape} for both; with the compiled weights "
          f"loaded, outputs differ by at most {difference:.2e}")


if __name__ == "__main__":
    main()
