"""DARTS genotypes: the ``Genotype`` namedtuple, the known genotypes, and a safe string form.

A genotype is ``Genotype(normal, normal_concat, reduce, reduce_concat)`` exactly
as in the DARTS reference code (quark0/darts ``genotypes.py``): ``normal`` and
``reduce`` list ``(op, input_index)`` pairs, two per intermediate node (node
``j`` = state index ``2 + k`` for the k-th pair; states 0 and 1 are the cell
inputs), and the concat lists name the states whose channel concat is the cell
output (a ``range`` is accepted, as the reference code's search prints).

:func:`freeze` returns the hashable form (tuples) that this library uses:
:data:`GENOTYPES` holds frozen genotypes. :func:`format_genotype` writes the
reference code's ``repr`` (lists), and :func:`parse_genotype` reads it back
(or the ``range`` form) with a parser that evaluates nothing.
"""

from __future__ import annotations

import ast
from collections import namedtuple
from collections.abc import Sequence
from typing import Any

from ..errors import SpaceError

Genotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")

PRIMITIVES: tuple[str, ...] = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
                               "dil_conv_3x3", "dil_conv_5x5")
"""DARTS' candidate ops, in the reference code's order (α columns follow it)."""

CELL_OPS: tuple[str, ...] = (*PRIMITIVES, "sep_conv_7x7", "conv_7x1_1x7")
"""Ops a genotype may name: the PRIMITIVES plus the NASNet/AmoebaNet extras."""

CELLS = ("normal", "reduce")


def freeze(genotype: Any) -> Genotype:
    """``genotype`` checked and made hashable: pairs and concats as tuples (order kept).

    Accepts any 4-tuple in ``Genotype`` order (e.g. the reference code's own
    namedtuple); :class:`SpaceError` names the first bad field or entry.
    """
    if not isinstance(genotype, tuple) or len(genotype) != 4:
        raise SpaceError(f"a genotype is Genotype(normal, normal_concat, reduce, reduce_concat), got {genotype!r}")
    normal, normal_concat, reduce, reduce_concat = genotype
    return Genotype(_pairs("normal", normal), _concat("normal", normal_concat, normal),
                    _pairs("reduce", reduce), _concat("reduce", reduce_concat, reduce))


def _pairs(cell: str, pairs: Any) -> tuple[tuple[str, int], ...]:
    if not isinstance(pairs, (list, tuple)) or not pairs or len(pairs) % 2:
        raise SpaceError(f"genotype {cell}: a non-empty list of (op, input) pairs, two per node, got {pairs!r}")
    frozen = []
    for e, pair in enumerate(pairs):
        node = 2 + e // 2
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise SpaceError(f"genotype {cell}[{e}]: an (op, input) pair, got {pair!r}")
        op, index = pair
        if op not in CELL_OPS:
            raise SpaceError(f"genotype {cell}[{e}]: unknown op {op!r}; known ops: {', '.join(CELL_OPS)}")
        if not _is_int(index) or not 0 <= index < node:
            raise SpaceError(f"genotype {cell}[{e}] (node {node}): input must be a state index in 0..{node - 1}, "
                             f"got {index!r}")
        frozen.append((op, index))
    return tuple(frozen)


def _concat(cell: str, concat: Any, pairs: Sequence) -> tuple[int, ...]:
    states = 2 + len(pairs) // 2
    if not isinstance(concat, (list, tuple, range)) or not concat:
        raise SpaceError(f"genotype {cell}_concat: a non-empty list of state indices, got {concat!r}")
    for index in concat:
        if not _is_int(index) or not 0 <= index < states:
            raise SpaceError(f"genotype {cell}_concat: state indices lie in 0..{states - 1}, got {index!r}")
    if len(set(concat)) != len(concat):
        raise SpaceError(f"genotype {cell}_concat: repeated state index in {list(concat)}")
    return tuple(concat)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def format_genotype(genotype: Any) -> str:
    """The reference code's ``repr`` of ``genotype`` (lists, concat as a list): a stable string form."""
    g = freeze(genotype)
    return (f"Genotype(normal={[*g.normal]!r}, normal_concat={[*g.normal_concat]!r}, "
            f"reduce={[*g.reduce]!r}, reduce_concat={[*g.reduce_concat]!r})")


def parse_genotype(text: str) -> Genotype:
    """The frozen genotype of a ``Genotype(...)`` string, without evaluating anything.

    Accepts keyword or positional fields, lists or tuples, and ``range(a, b)``
    concats; :class:`SpaceError` quotes the offending piece of text.
    """
    if not isinstance(text, str):
        raise SpaceError(f"a genotype string is a str, got {type(text).__name__}")
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError) as error:  # ValueError: a NUL byte
        reason = error.msg if isinstance(error, SyntaxError) else str(error)
        raise SpaceError(f"not a genotype string: {text[:80]!r} ({reason})") from None
    if not (isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) and tree.func.id == "Genotype"):
        raise SpaceError(f"a genotype string reads 'Genotype(normal=..., ...)', got {_source(text, tree)!r}")
    fields = dict(zip(Genotype._fields, tree.args))
    if len(tree.args) > 4:
        raise SpaceError(f"Genotype takes 4 fields, got {len(tree.args)} positional arguments")
    for keyword in tree.keywords:
        if keyword.arg not in Genotype._fields or keyword.arg in fields:
            raise SpaceError(f"Genotype: unexpected or repeated field {keyword.arg!r}; fields: "
                             f"{', '.join(Genotype._fields)}")
        fields[keyword.arg] = keyword.value
    missing = [name for name in Genotype._fields if name not in fields]
    if missing:
        raise SpaceError(f"Genotype: missing field {missing[0]!r}")
    values = {name: _literal(text, node, concat=name.endswith("_concat")) for name, node in fields.items()}
    return freeze(Genotype(**values))


def _literal(text: str, node: ast.AST, *, concat: bool) -> Any:
    """A list of (str, int) pairs, or (``concat``) a list of ints or ``range(...)``; nothing else."""
    if concat and isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range":
        if node.keywords or not 1 <= len(node.args) <= 2:
            raise SpaceError(f"range takes 1 or 2 int arguments, got {_source(text, node)!r}")
        return range(*(_int(text, a) for a in node.args))
    if not isinstance(node, (ast.List, ast.Tuple)):
        raise SpaceError(f"expected a list, got {_source(text, node)!r}")
    if concat:
        return [_int(text, item) for item in node.elts]
    pairs = []
    for item in node.elts:
        if not isinstance(item, (ast.List, ast.Tuple)) or len(item.elts) != 2:
            raise SpaceError(f"expected an (op, input) pair, got {_source(text, item)!r}")
        op, index = item.elts
        if not (isinstance(op, ast.Constant) and isinstance(op.value, str)):
            raise SpaceError(f"expected an op name in quotes, got {_source(text, op)!r}")
        pairs.append((op.value, _int(text, index)))
    return pairs


def _int(text: str, node: ast.AST) -> int:
    if isinstance(node, ast.Constant) and _is_int(node.value):
        return node.value
    raise SpaceError(f"expected a non-negative int, got {_source(text, node)!r}")


def _source(text: str, node: ast.AST) -> str:
    segment = ast.get_source_segment(text.strip(), node)
    return segment if segment is not None else ast.dump(node)


GENOTYPES: dict[str, Genotype] = {name: freeze(g) for name, g in {
    "DARTS_V1": Genotype(
        normal=[("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 0), ("sep_conv_3x3", 1),
                ("skip_connect", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 2)],
        normal_concat=[2, 3, 4, 5],
        reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 0),
                ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("avg_pool_3x3", 0)],
        reduce_concat=[2, 3, 4, 5]),
    "DARTS_V2": Genotype(
        normal=[("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
                ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)],
        normal_concat=[2, 3, 4, 5],
        reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
                ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)],
        reduce_concat=[2, 3, 4, 5]),
    # NASNet-A and AmoebaNet-A as the DARTS reference code writes them (5 nodes). The official NASNet-A code
    # concatenates other states (docs/papers.md §2); these genotypes are followed as written.
    "NASNet": Genotype(
        normal=[("sep_conv_5x5", 1), ("sep_conv_3x3", 0), ("sep_conv_5x5", 0), ("sep_conv_3x3", 0),
                ("avg_pool_3x3", 1), ("skip_connect", 0), ("avg_pool_3x3", 0), ("avg_pool_3x3", 0),
                ("sep_conv_3x3", 1), ("skip_connect", 1)],
        normal_concat=[2, 3, 4, 5, 6],
        reduce=[("sep_conv_5x5", 1), ("sep_conv_7x7", 0), ("max_pool_3x3", 1), ("sep_conv_7x7", 0),
                ("avg_pool_3x3", 1), ("sep_conv_5x5", 0), ("skip_connect", 3), ("avg_pool_3x3", 2),
                ("sep_conv_3x3", 2), ("max_pool_3x3", 1)],
        reduce_concat=[4, 5, 6]),
    "AmoebaNet": Genotype(
        normal=[("avg_pool_3x3", 0), ("max_pool_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_5x5", 2),
                ("sep_conv_3x3", 0), ("avg_pool_3x3", 3), ("sep_conv_3x3", 1), ("skip_connect", 1),
                ("skip_connect", 0), ("avg_pool_3x3", 1)],
        normal_concat=[4, 5, 6],
        reduce=[("avg_pool_3x3", 0), ("sep_conv_3x3", 1), ("max_pool_3x3", 0), ("sep_conv_7x7", 2),
                ("sep_conv_7x7", 0), ("avg_pool_3x3", 1), ("max_pool_3x3", 0), ("max_pool_3x3", 1),
                ("conv_7x1_1x7", 0), ("sep_conv_3x3", 5)],
        reduce_concat=[3, 4, 6]),
}.items()}
"""The genotypes of the DARTS reference code, frozen (tuples)."""
