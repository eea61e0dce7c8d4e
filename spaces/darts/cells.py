"""DARTS cells as typed DAGs (nested in a network as ``subgraph`` nodes).

A cell reads two states: s0 (the output of the cell before the previous one)
and s1 (the previous cell's). Preprocessing: s0 goes through
``factorized_reduce`` when the previous cell was a reduction cell, else
``relu_conv_bn`` 1×1; s1 through ``relu_conv_bn`` 1×1; both to the cell's C
channels. Intermediate node ``j`` (state index 2, 3, …) sums its incoming ops;
in a reduction cell the ops reading s0 or s1 have stride 2. The output is the
channel concat of the ``concat`` states, in order.

Cell graph labels: inputs ``in0``/``in1``, preprocessing ``pre0``/``pre1``
(states 0 and 1), ops ``node<j>_op<e>`` (pair ``e`` of node ``j``; in the
search cell ``edge<i>_<j>``, state ``i`` into node ``j``), drop-path nodes
``node<j>_drop<e>``, sums ``node<j>``, then ``concat`` and ``output``.

The subgraph's inputs, in slot order, are ``[s0, s1]``; a cell whose s0 and s1
are the same tensor (the first CIFAR cell, fed by the stem twice) has one input
feeding both preprocessing nodes, and a discrete cell that never reads s0 has
only s1 (its unused preprocessing is pruned; the reference code would still
build and count it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx

from wiring import SCHEMA_VERSION

from .genotypes import PRIMITIVES


@dataclass(frozen=True)
class CellInputs:
    """Shapes and roles of a cell's inputs: channels and size of s0 and s1, and how they are preprocessed."""

    c_pp: int
    size_pp: int
    c_p: int
    size_p: int
    c: int
    """The cell's channel count C (each intermediate state has C channels)."""
    reduction: bool
    reduction_prev: bool
    shared: bool
    """s0 and s1 are the same tensor."""


def _prepare(G: nx.DiGraph, io: CellInputs, reads_s0: bool, affine: bool) -> None:
    """Add the input and preprocessing nodes (``pre0`` only when ``reads_s0``)."""
    one_input = io.shared or not reads_s0
    c_first, size_first = (io.c_p, io.size_p) if one_input else (io.c_pp, io.size_pp)
    G.add_node("in0", op="input", params={"index": 0, "channels": c_first, "size": [size_first] * 2})
    if not one_input:
        G.add_node("in1", op="input", params={"index": 1, "channels": io.c_p, "size": [io.size_p] * 2})
    bn = {} if affine else {"affine": False}
    if reads_s0:
        if io.reduction_prev:
            G.add_node("pre0", op="factorized_reduce", params={"channels": io.c, **bn})
        else:
            G.add_node("pre0", op="relu_conv_bn", params={"channels": io.c, "kernel": 1, **bn})
        G.add_edge("in0", "pre0")
    G.add_node("pre1", op="relu_conv_bn", params={"channels": io.c, "kernel": 1, **bn})
    G.add_edge("in0" if one_input else "in1", "pre1")


def _finish(G: nx.DiGraph, concat: Sequence[int]) -> nx.DiGraph:
    G.add_node("concat", op="concat")
    for slot, state in enumerate(concat):
        G.add_edge(_state(state), "concat", slot=slot)
    G.add_node("output", op="output")
    G.add_edge("concat", "output")
    return G


def _state(index: int) -> str:
    return "pre0" if index == 0 else "pre1" if index == 1 else f"node{index}"


def live_states(pairs: Sequence[tuple[str, int]], concat: Sequence[int]) -> set[int]:
    """States that reach the cell output: the concat states and, backwards, whatever they read."""
    live = set(concat)
    for k in reversed(range(len(pairs) // 2)):
        if 2 + k in live:
            live.update(index for _, index in pairs[2 * k:2 * k + 2])
    return live


def cell(pairs: Sequence[tuple[str, int]], concat: Sequence[int], io: CellInputs, *,
         drop_path: bool = False) -> tuple[nx.DiGraph, bool]:
    """A discrete cell of a genotype (``pairs``: two ``(op, input)`` per node) and whether it reads s0.

    Ops have affine BN (evaluation network). With ``drop_path``, a ``drop_path``
    node follows every op that is not an identity (``skip_connect`` at stride 1),
    as the reference code's ``Cell.forward`` does.
    """
    live = live_states(pairs, concat)
    G = nx.DiGraph(schema=SCHEMA_VERSION)
    _prepare(G, io, 0 in live, affine=True)
    for k in range(len(pairs) // 2):
        node = 2 + k
        if node not in live:
            continue
        G.add_node(f"node{node}", op="sum")
        for e, (op, index) in enumerate(pairs[2 * k:2 * k + 2]):
            stride = 2 if io.reduction and index < 2 else 1
            label = f"node{node}_op{e}"
            G.add_node(label, op=op, params={"stride": 2} if stride == 2 else {})
            G.add_edge(_state(index), label)
            if drop_path and not (op == "skip_connect" and stride == 1):
                G.add_node(f"node{node}_drop{e}", op="drop_path")
                G.add_edge(label, f"node{node}_drop{e}")
                label = f"node{node}_drop{e}"
            G.add_edge(label, f"node{node}")
    return _finish(G, concat), 0 in live


def search_candidates(stride: int) -> list[dict]:
    """The mixed op's candidates, DARTS search mode: every PRIMITIVE, BN without affine, pools followed by BN."""
    candidates = []
    for op in PRIMITIVES:
        params: dict = {"stride": 2} if stride == 2 else {}
        if op.endswith("pool_3x3"):
            params["bn"] = True
        elif op != "none":
            params["affine"] = False
        candidates.append({"op": op, "params": params})
    return candidates


def search_cell(nodes: int, io: CellInputs) -> nx.DiGraph:
    """The DARTS search cell: every state feeds every later node through a ``choice`` over the PRIMITIVES.

    α is shared by key: ``"reduce"`` in reduction cells, ``"normal"`` otherwise;
    edge ``i -> j`` uses row ``(j - 2)(j + 1)/2 + i``, the reference code's
    order (rows 0–1 into node 2, 2–4 into node 3, …). The output concatenates
    every intermediate node.
    """
    G = nx.DiGraph(schema=SCHEMA_VERSION)
    _prepare(G, io, True, affine=False)
    key, row = ("reduce" if io.reduction else "normal"), 0
    for node in range(2, 2 + nodes):
        G.add_node(f"node{node}", op="sum")
        for index in range(node):
            label = f"edge{index}_{node}"
            stride = 2 if io.reduction and index < 2 else 1
            G.add_node(label, op="choice", params={"candidates": search_candidates(stride), "key": key,
                                                   "index": row})
            G.add_edge(_state(index), label)
            G.add_edge(label, f"node{node}")
            row += 1
    return _finish(G, range(2, 2 + nodes))
