"""Whole DARTS networks as one typed DAG (cells as ``subgraph`` nodes): evaluation and search networks.

Layout, as in the reference code (``NetworkCIFAR``, ``NetworkImageNet``, ``model_search.Network``):

- CIFAR stem: 3×3 conv to 3C, BN (node ``stem``); the first cell reads the stem as both s0 and s1.
- ImageNet stem: ``stem0_conv1`` (3×3/2 conv to C/2, BN, ReLU), ``stem0_conv2`` (3×3/2 conv to C, BN) = s0 of
  the first cell; ``stem1`` (ReLU, 3×3/2 conv to C, BN) = its s1; the first cell treats s0 as post-reduction
  (``factorized_reduce``).
- Cells ``cell0``…: reduction cells at ``layers // 3`` and ``2 * layers // 3`` double C; a cell outputs
  ``len(concat) × C`` channels.
- Head ``head``: global average pool and a linear layer with bias. The reference ImageNet network pools 7×7
  (``nn.AvgPool2d(7)``): at 224×224 input the last feature map is 7×7, where the two are the same; at other
  sizes this library pools globally.
- ``auxiliary=True`` adds node ``aux`` (op ``aux_head``, DARTS' AuxiliaryHeadCIFAR/ImageNet) on the output of
  cell ``2 * layers // 3``; the graph then returns ``(logits, aux_logits)`` (in eval mode too: the reference
  code returns ``None`` there). Published parameter counts exclude it: count the graph without it.

Reduction cells need an even input size (FactorizedReduce); a bad size or option raises
:class:`~spaces.SpaceError` naming it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import networkx as nx

from generators.checks import boolean, positive_int
from wiring import SCHEMA_VERSION

from ..errors import SpaceError
from .cells import CellInputs, cell, live_states, search_cell
from .genotypes import format_genotype, freeze

DATASETS = ("cifar", "imagenet")
DEFAULT_IMAGE_SIZE = {"cifar": 32, "imagenet": 224}
AUX_SIZES = {"cifar": range(8, 11), "imagenet": range(7, 9)}
"""Feature-map sizes the auxiliary head takes (its 5×5 pool must give 2×2)."""

CellFactory = Callable[[bool, CellInputs], tuple[nx.DiGraph, bool, int]]
"""``(reduction, inputs) -> (cell graph, whether it reads s0, output channel multiple)``."""


def network(genotype: Any, *, channels: int = 36, layers: int = 20, num_classes: int = 10, dataset: str = "cifar",
            auxiliary: bool = False, image_size: int | None = None, in_channels: int = 3,
            drop_path: bool = False) -> nx.DiGraph:
    """The evaluation network of ``genotype`` (a :class:`Genotype`, lists or tuples) as one typed DAG.

    Defaults are DARTS' CIFAR-10 network (20 cells, C=36); ImageNet mobile is
    ``dataset="imagenet", channels=48, layers=14, num_classes=1000``.
    ``image_size`` defaults to 32 (CIFAR) or 224 (ImageNet). ``drop_path=True``
    inserts a ``drop_path`` node after every non-identity op in the cells (its
    probability is set during training by ``wiring.train.train(drop_path=p)``).
    """
    g = freeze(genotype)
    boolean("auxiliary", auxiliary, error=SpaceError)
    boolean("drop_path", drop_path, error=SpaceError)

    def factory(reduction: bool, io: CellInputs) -> tuple[nx.DiGraph, bool, int]:
        pairs, concat = (g.reduce, g.reduce_concat) if reduction else (g.normal, g.normal_concat)
        if 1 not in live_states(pairs, concat):
            kind = "reduce" if reduction else "normal"
            raise SpaceError(f"genotype's {kind} cell never reads the previous cell's output (input 1): such cells "
                             f"are not supported by darts.network yet; spaces.nasnet builds them")
        graph, reads_s0 = cell(pairs, concat, io, drop_path=drop_path)
        return graph, reads_s0, len(concat)

    info = {"name": "darts", "encoding": format_genotype(g),
            "params": {"channels": channels, "layers": layers, "num_classes": num_classes, "dataset": dataset,
                       "auxiliary": auxiliary, "image_size": image_size, "in_channels": in_channels,
                       "drop_path": drop_path}}
    return _network(factory, channels=channels, layers=layers, num_classes=num_classes, dataset=dataset,
                    auxiliary=auxiliary, image_size=image_size, in_channels=in_channels, info=info)


def search_network(*, channels: int = 16, layers: int = 8, nodes: int = 4, num_classes: int = 10,
                   image_size: int = 32, in_channels: int = 3) -> nx.DiGraph:
    """DARTS' search network (``model_search.Network``): CIFAR stem, every cell a :func:`~.cells.search_cell`.

    Preprocessing and ops use BN without affine, pools add a BN without affine;
    α is shared by all normal cells (key ``"normal"``) and by all reduction
    cells (key ``"reduce"``), each of shape (edges, 8), initialised by the
    compiler as 1e-3·N(0, 1).
    """
    positive_int("nodes", nodes, error=SpaceError)

    def factory(reduction: bool, io: CellInputs) -> tuple[nx.DiGraph, bool, int]:
        return search_cell(nodes, io), True, nodes

    info = {"name": "darts.supernet", "params": {"channels": channels, "layers": layers, "nodes": nodes,
                                                 "num_classes": num_classes, "image_size": image_size,
                                                 "in_channels": in_channels}}
    return _network(factory, channels=channels, layers=layers, num_classes=num_classes, dataset="cifar",
                    auxiliary=False, image_size=image_size, in_channels=in_channels, info=info)


def _network(factory: CellFactory, *, channels: int, layers: int, num_classes: int, dataset: str, auxiliary: bool,
             image_size: int | None, in_channels: int, info: dict) -> nx.DiGraph:
    if dataset not in DATASETS:
        raise SpaceError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    image_size = DEFAULT_IMAGE_SIZE[dataset] if image_size is None else image_size
    for name, value in (("channels", channels), ("layers", layers), ("num_classes", num_classes),
                        ("image_size", image_size), ("in_channels", in_channels)):
        positive_int(name, value, error=SpaceError)
    if dataset == "imagenet" and channels % 2:
        raise SpaceError(f"the ImageNet network needs an even channel count (its stem has C/2 channels and its first "
                         f"cell a FactorizedReduce to C), got channels={channels}")
    G = nx.DiGraph(schema=SCHEMA_VERSION, space=info)
    G.add_node("input", op="input", params={"channels": in_channels, "size": [image_size, image_size]})
    s0, s1, c_pp, c_p, size_pp, size_p, reduction_prev = _stem(G, dataset, channels, image_size)
    c = channels
    for i in range(layers):
        reduction = i in (layers // 3, 2 * layers // 3)
        if reduction:
            c *= 2
            if size_p % 2:
                raise SpaceError(f"image_size={image_size}: reduction cell {i} gets a {size_p}×{size_p} input; "
                                 f"its FactorizedReduce needs an even size")
        io = CellInputs(c_pp, size_pp, c_p, size_p, c, reduction, reduction_prev, shared=s0 == s1)
        graph, reads_s0, multiple = factory(reduction, io)
        label = f"cell{i}"
        G.add_node(label, op="subgraph", params={"graph": graph})
        sources = [s0, s1] if reads_s0 and s0 != s1 else [s1]
        for slot, source in enumerate(sources):
            G.add_edge(source, label, slot=slot)
        size = size_p // 2 if reduction else size_p
        s0, s1, c_pp, c_p, size_pp, size_p, reduction_prev = s1, label, c_p, multiple * c, size_p, size, reduction
        if auxiliary and i == 2 * layers // 3:
            if size_p not in AUX_SIZES[dataset]:
                raise SpaceError(f"auxiliary=True: the {dataset} auxiliary head needs a {AUX_SIZES[dataset][0]}–"
                                 f"{AUX_SIZES[dataset][-1]} pixel input after cell {i}, which gets {size_p}×{size_p} "
                                 f"at image_size={image_size}")
            G.add_node("aux", op="aux_head", params={"num_classes": num_classes, "dataset": dataset})
            G.add_edge(label, "aux")
    G.add_node("head", op="head", params={"num_classes": num_classes})
    G.add_node("output", op="output")
    G.add_edge(s1, "head")
    G.add_edge("head", "output", slot=0)
    if auxiliary:
        G.add_edge("aux", "output", slot=1)
    return G


def _stem(G: nx.DiGraph, dataset: str, channels: int, image_size: int) -> tuple:
    """Add the stem; ``(s0, s1, c_pp, c_p, size_pp, size_p, reduction_prev)`` for the first cell."""
    if dataset == "cifar":
        G.add_node("stem", op="conv_bn", params={"channels": 3 * channels, "kernel": 3})
        G.add_edge("input", "stem")
        return "stem", "stem", 3 * channels, 3 * channels, image_size, image_size, False
    G.add_node("stem0_conv1", op="conv_bn", params={"channels": channels // 2, "kernel": 3, "stride": 2,
                                                    "relu": True})
    G.add_node("stem0_conv2", op="conv_bn", params={"channels": channels, "kernel": 3, "stride": 2})
    G.add_node("stem1", op="relu_conv_bn", params={"channels": channels, "kernel": 3, "stride": 2})
    nx.add_path(G, ["input", "stem0_conv1", "stem0_conv2", "stem1"])
    size_pp = ((image_size + 1) // 2 + 1) // 2  # two stride-2 convs: ceil(ceil(size / 2) / 2)
    if size_pp % 2:
        raise SpaceError(f"image_size={image_size}: the ImageNet stem gives s0 {size_pp}×{size_pp}; the first cell's "
                         f"FactorizedReduce needs an even size")
    return "stem0_conv2", "stem1", channels, channels, size_pp, (size_pp + 1) // 2, True
