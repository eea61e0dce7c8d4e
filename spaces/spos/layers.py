"""Single-path spaces: one choice per layer, the chosen ops chained (SPOS, FairNAS style).

An architecture is a tuple of candidate indices, one per layer. Its graph is
the chain ``input -> stem0.. -> layer0 -> layer1 -> .. -> head0.. -> output``
with the chosen op at ``layer<i>``; the supernet puts at ``layer<i>`` a
``choice`` node over the layer's candidates with its own α key ``layer<i>``
(nothing shared across layers), so ``derive`` takes the argmax of each α.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import networkx as nx
from torch import nn

import ops
import wiring

from ..base import Decision, DecisionSpace, supernet_alphas
from ..constraint import Constraint
from ..errors import SpaceError

SEPARATOR = "-"
"""Between the layer tokens of an encoding."""

OpDict = Mapping[str, Any]


def _op_dicts(value: Any, what: str, *, empty: bool) -> list[dict[str, Any]]:
    """``value`` as a list of checked ``{"op": name, "params": {...}}`` dicts (deep copies)."""
    if isinstance(value, (str, Mapping)) or not isinstance(value, Sequence) or (not value and not empty):
        raise SpaceError(f"{what} must be a {'' if empty else 'non-empty '}list of op dicts, got {value!r}")
    checked = []
    for i, op in enumerate(value):
        if (not isinstance(op, Mapping) or not isinstance(op.get("op"), str) or set(op) - {"op", "params"}
                or not isinstance(op.get("params", {}), Mapping)):
            raise SpaceError(f"{what}[{i}] must be an op dict {{'op': name, 'params': {{...}}}}, got {op!r}")
        checked.append({"op": op["op"], "params": copy.deepcopy(dict(op.get("params", {})))})
    return checked


class LayerSpace(DecisionSpace):
    """One choice per layer among op candidates, between a fixed stem and head.

    ``tokens`` name each layer's candidates in encodings (default: their
    indices); ``supernet_params`` override those params in every supernet op
    that takes them (SPOS trains its supernet with ``{"affine": False}``).
    ``options`` are recorded as provenance. Every candidate is checked (shapes
    included) when the space is made.
    """

    def __init__(self, candidates: Sequence[Sequence[OpDict]], *, input_channels: int, image_size: int,
                 stem: Sequence[OpDict] = (), head: Sequence[OpDict] = (),
                 tokens: Sequence[Sequence[str]] | None = None, supernet_params: Mapping[str, Any] | None = None,
                 name: str = "layers", options: Mapping[str, Any] | None = None,
                 constraint: Constraint | None = None) -> None:
        super().__init__(constraint)
        self.name = name
        for option, value in (("input_channels", input_channels), ("image_size", image_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SpaceError(f"{option} must be a positive int, got {option}={value!r}")
        if isinstance(candidates, (str, Mapping)) or not isinstance(candidates, Sequence) or not candidates:
            raise SpaceError(f"candidates must be a non-empty list of per-layer candidate lists, got {candidates!r}")
        self.candidates = tuple(tuple(_op_dicts(c, f"candidates[{i}]", empty=False))
                                for i, c in enumerate(candidates))
        self.stem = tuple(_op_dicts(stem, "stem", empty=True))
        self.head = tuple(_op_dicts(head, "head", empty=True))
        self.input_channels, self.image_size = input_channels, image_size
        self.tokens = self._check_tokens(tokens)
        if supernet_params is not None and (not isinstance(supernet_params, Mapping)
                                            or not all(isinstance(k, str) for k in supernet_params)):
            raise SpaceError(f"supernet_params must be a dict of param names to values, got {supernet_params!r}")
        self.supernet_params = dict(supernet_params or {})
        self.options = copy.deepcopy(dict(options)) if options is not None else None
        self._decisions = tuple(Decision(f"layer{i}", tuple(range(len(c)))) for i, c in enumerate(self.candidates))
        for G in (self._relaxed({}), self.supernet()):  # every candidate as given, and as the supernet holds it
            try:
                wiring.validate(G)
            except (wiring.GraphError, ops.OpError) as error:
                raise SpaceError(f"{self.name}: {error}") from None

    def _check_tokens(self, tokens: Sequence[Sequence[str]] | None) -> tuple[tuple[str, ...], ...]:
        if tokens is None:
            return tuple(tuple(str(j) for j in range(len(c))) for c in self.candidates)
        if isinstance(tokens, str) or not isinstance(tokens, Sequence) or len(tokens) != len(self.candidates):
            raise SpaceError(f"tokens must give one list of names per layer ({len(self.candidates)}), got {tokens!r}")
        for i, (names, cands) in enumerate(zip(tokens, self.candidates)):
            if (isinstance(names, str) or not isinstance(names, Sequence) or len(names) != len(cands)
                    or len(set(names)) != len(names)
                    or not all(isinstance(t, str) and t and SEPARATOR not in t for t in names)):
                raise SpaceError(f"tokens[{i}] must be {len(cands)} distinct non-empty names without "
                                 f"{SEPARATOR!r}, got {names!r}")
        return tuple(tuple(names) for names in tokens)

    # -- protocol -------------------------------------------------------------

    def decisions(self) -> list[Decision]:
        return list(self._decisions)

    def encode(self, arch: tuple[int, ...]) -> str:
        """Layer tokens joined by ``-`` (e.g. ``3x3-xception-7x7`` or ``0-3-2``)."""
        self.check(arch)
        return SEPARATOR.join(names[i] for names, i in zip(self.tokens, arch))

    def decode(self, text: str) -> tuple[int, ...]:
        if not isinstance(text, str):
            raise SpaceError(f"{self.name}: an encoding is a string, got {text!r}")
        parts = text.split(SEPARATOR)
        if len(parts) != len(self.tokens):
            raise SpaceError(f"{self.name}: expected {len(self.tokens)} layer tokens separated by {SEPARATOR!r}, "
                             f"got {len(parts)} in {text!r}")
        arch = []
        for i, (part, names) in enumerate(zip(parts, self.tokens)):
            if part not in names:
                raise SpaceError(f"{self.name}: bad token {part!r} for layer {i}; expected one of {list(names)}")
            arch.append(names.index(part))
        return tuple(arch)

    def to_graph(self, arch: tuple[int, ...]) -> nx.DiGraph:
        encoding = self.encode(arch)
        G = self._chain([c[i] for c, i in zip(self.candidates, arch)], {})
        G.graph["space"]["encoding"] = encoding
        return G

    def supernet(self) -> nx.DiGraph:
        """Each layer a ``choice`` node over its candidates with its own α key ``layer<i>``."""
        G = self._relaxed(self.supernet_params)
        G.graph["space"]["supernet"] = True
        return self.tag_decisions(G)

    def decision_rows(self) -> dict[str, tuple[str, int]]:
        return {d.name: (d.name, 0) for d in self._decisions}

    def derive(self, model: nn.Module) -> tuple[int, ...]:
        """The argmax of each layer's α (first index on ties)."""
        found = supernet_alphas(model, {f"layer{i}": (1, len(c)) for i, c in enumerate(self.candidates)}, self.name)
        return tuple(int(found[f"layer{i}"][0].argmax()) for i in range(len(self.candidates)))

    # -- graphs ---------------------------------------------------------------

    def _relaxed(self, overrides: Mapping[str, Any]) -> nx.DiGraph:
        layers = [{"op": "choice", "params": {"candidates": [_override(c, overrides) for c in cands],
                                              "key": f"layer{i}"}}
                  for i, cands in enumerate(self.candidates)]
        return self._chain(layers, overrides)

    def _chain(self, layers: list[dict[str, Any]], overrides: Mapping[str, Any]) -> nx.DiGraph:
        G = nx.DiGraph(schema=wiring.SCHEMA_VERSION, space={"name": self.name})
        if self.options is not None:
            G.graph["space"]["options"] = copy.deepcopy(self.options)
        G.add_node("input", op="input", params={"channels": self.input_channels,
                                                "size": [self.image_size, self.image_size]})
        previous = "input"
        labelled = ([(f"stem{i}", op) for i, op in enumerate(self.stem)]
                    + [(f"layer{i}", op) for i, op in enumerate(layers)]
                    + [(f"head{i}", op) for i, op in enumerate(self.head)])
        for label, op in labelled:
            op = _override(op, overrides)
            G.add_node(label, op=op["op"], params=op["params"])
            G.add_edge(previous, label)
            previous = label
        G.add_node("output", op="output")
        G.add_edge(previous, "output")
        return G


def _override(op: OpDict, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``op`` with ``overrides`` applied to the params its op takes."""
    params = copy.deepcopy(dict(op["params"]))
    if overrides and op["op"] != "choice":
        taken = ops.get(op["op"]).params
        params.update({k: copy.deepcopy(v) for k, v in overrides.items() if k in taken})
    return {"op": op["op"], "params": params}


def layers(candidates: Sequence[Sequence[OpDict]], *, input_channels: int = 3, image_size: int = 32,
           num_classes: int = 10, stem: Sequence[OpDict] = (), head: Sequence[OpDict] | None = None,
           supernet_params: Mapping[str, Any] | None = None, constraint: Constraint | None = None) -> LayerSpace:
    """A single-path space from any per-layer candidate lists (op dicts ``{"op": name, "params": {...}}``).

    ``head`` defaults to the built-in ``head`` op with ``num_classes`` (which
    is used for nothing else). Encodings are the candidate indices, e.g. ``0-2-1``.
    """
    if head is None:
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
            raise SpaceError(f"num_classes must be a positive int, got num_classes={num_classes!r}")
        head = [{"op": "head", "params": {"num_classes": num_classes}}]
    return LayerSpace(candidates, input_channels=input_channels, image_size=image_size, stem=stem, head=head,
                      supernet_params=supernet_params, constraint=constraint)
