"""Typed DAGs as JSON (no code runs on load) and as files with weights; the stable graph hash.

JSON layout (schema 1)::

    {"schema": 1, "attrs": {graph attributes},
     "nodes": [{"id": label, "op": name, "params": {...}, "attrs": {other attributes}}],
     "edges": [{"source": label, "target": label, "slot": k, "attrs": {...}}]}

A param of kind ``graph`` (a ``subgraph`` node's nested DAG) is written as a
nested document of the same layout. Labels must be ints or strings.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import networkx as nx
import torch

import ops

from . import limits
from .analysis import SCHEMA_VERSION, analyse, stable_order
from .compiler import CompiledGraph, compile
from .errors import GraphError

_FILE_FORMAT = "nas-wiring"


# -- JSON ---------------------------------------------------------------------


def to_json(G: nx.DiGraph, *, indent: int | None = None) -> str:
    """The JSON text of the typed DAG ``G`` (validated first)."""
    analyse(G)
    return json.dumps(_to_document(G), indent=indent, sort_keys=False)


def _to_document(G: nx.DiGraph) -> dict[str, Any]:
    nodes = [_node_document(G, label) for label in G.nodes]
    edges = []
    for u, v, data in G.edges(data=True):
        edge: dict[str, Any] = {"source": u, "target": v}
        if data.get("slot") is not None:
            edge["slot"] = data["slot"]
        extra = {k: val for k, val in data.items() if k != "slot"}
        if extra:
            edge["attrs"] = _jsonable(extra, f"edge ({u!r}, {v!r}) attributes")
        edges.append(edge)
    attrs = {k: v for k, v in G.graph.items() if k != "schema"}
    return {"schema": SCHEMA_VERSION, "attrs": _jsonable(attrs, "graph attributes"), "nodes": nodes, "edges": edges}


def _node_document(G: nx.DiGraph, label: Hashable) -> dict[str, Any]:
    if not isinstance(label, (int, str)) or isinstance(label, bool):
        raise GraphError(f"node {label!r}: JSON needs int or str node labels")
    data = G.nodes[label]
    spec = ops.get(data["op"])
    params = dict(data.get("params") or {})
    for name, param in spec.params.items():
        if param.kind == "graph" and name in params:
            params[name] = _to_document(params[name])
    document = {"id": label, "op": data["op"], "params": _jsonable(params, f"node {label!r} params")}
    extra = {k: v for k, v in data.items() if k not in ("op", "params")}
    if extra:
        document["attrs"] = _jsonable(extra, f"node {label!r} attributes")
    return document


def _jsonable(value: Any, what: str) -> Any:
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as error:
        raise GraphError(f"{what} are not JSON-serialisable: {error}") from None


def from_json(text: str | bytes) -> nx.DiGraph:
    """Rebuild and validate a typed DAG from :func:`to_json` text.

    Only data is read (no code runs). Text over :data:`wiring.limits.MAX_JSON_CHARS`, nesting
    deeper than :data:`~wiring.limits.MAX_JSON_DEPTH`, more than :data:`~wiring.limits.MAX_NODES` nodes, an unknown
    schema version or any malformed part raise :class:`GraphError`.
    """
    if not isinstance(text, (str, bytes, bytearray)):
        raise GraphError(f"from_json takes JSON text, got {type(text).__name__}")
    if len(text) > limits.MAX_JSON_CHARS:
        raise GraphError(f"JSON text of {len(text)} characters exceeds the limit of {limits.MAX_JSON_CHARS}")
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise GraphError(f"not valid JSON: {error}") from None
    _check_text(document, "graph", 0)
    G = _from_document(document, "graph", depth=0, budget=[limits.MAX_NODES])
    analyse(G)
    return G


def _from_document(document: Any, where: str, depth: int, budget: list[int]) -> nx.DiGraph:
    if depth > limits.MAX_JSON_DEPTH:
        raise GraphError(f"{where}: subgraphs nested deeper than {limits.MAX_JSON_DEPTH} levels")
    _expect(document, dict, where)
    version = document.get("schema")
    if type(version) is not int or version != SCHEMA_VERSION:  # 1.0, true and 1e0 are not version 1
        raise GraphError(f"{where}: unsupported schema version {version!r}; this library reads {SCHEMA_VERSION}")
    unknown = set(document) - {"schema", "attrs", "nodes", "edges"}
    if unknown:
        raise GraphError(f"{where}: unknown keys {sorted(unknown)}")
    G = nx.DiGraph()
    G.graph.update(_expect(document.get("attrs", {}), dict, f"{where}.attrs"))  # data, never constructor input
    G.graph["schema"] = SCHEMA_VERSION
    nodes = _expect(document.get("nodes"), list, f"{where}.nodes")
    budget[0] -= len(nodes)
    if budget[0] < 0:
        raise GraphError(f"{where}: more than {limits.MAX_NODES} nodes in all")
    for i, node in enumerate(nodes):
        label, data = _node_from_document(node, f"{where}.nodes[{i}]", depth, budget)
        if label in G:
            raise GraphError(f"{where}.nodes[{i}]: duplicate node id {label!r}")
        G.add_node(label, **data)
    for i, edge in enumerate(_expect(document.get("edges", []), list, f"{where}.edges")):
        at = f"{where}.edges[{i}]"
        _expect(edge, dict, at)
        _no_unknown_keys(edge, {"source", "target", "slot", "attrs"}, at)
        u, v = edge.get("source"), edge.get("target")
        for end in (u, v):
            if not isinstance(end, (int, str)) or isinstance(end, bool) or end not in G:
                raise GraphError(f"{at}: endpoint {end!r} is not a node id")
        if G.has_edge(u, v):
            raise GraphError(f"{at}: duplicate edge ({u!r}, {v!r})")
        data = dict(_expect(edge.get("attrs", {}), dict, f"{at}.attrs"))
        if "slot" in edge:
            data["slot"] = edge["slot"]
        G.add_edge(u, v, **data)
    return G


def _node_from_document(node: Any, at: str, depth: int, budget: list[int]) -> tuple[Hashable, dict]:
    _expect(node, dict, at)
    _no_unknown_keys(node, {"id", "op", "params", "attrs"}, at)
    label = node.get("id")
    if not isinstance(label, (int, str)) or isinstance(label, bool):
        raise GraphError(f"{at}: 'id' must be an int or a string, got {label!r}")
    op = node.get("op")
    if not isinstance(op, str):
        raise GraphError(f"{at} (node {label!r}): 'op' must be a string, got {op!r}")
    try:
        spec = ops.get(op)
    except ops.OpError as error:
        raise GraphError(f"{at} (node {label!r}): {error}") from None
    params = dict(_expect(node.get("params", {}), dict, f"{at}.params"))
    for name, param in spec.params.items():
        if param.kind == "graph" and name in params:
            params[name] = _from_document(params[name], f"{at}.params.{name}", depth + 1, budget)
    data = dict(_expect(node.get("attrs", {}), dict, f"{at}.attrs"))
    data.update(op=op, params=params)
    return label, data


def _check_text(value: Any, where: str, depth: int) -> None:
    """Refuse strings that are not valid Unicode text (lone surrogates such as ``"\\ud800"``), naming where."""
    if depth > 4 * limits.MAX_JSON_DEPTH + 16:
        raise GraphError(f"{where}: JSON nested too deeply")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise GraphError(f"{where}: {value!r:.40} is not valid Unicode text (a lone surrogate)") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, f"{where} (a key)", depth + 1)
            _check_text(item, f"{where}.{key}", depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_text(item, f"{where}[{i}]", depth + 1)


def _no_unknown_keys(document: dict, known: set[str], where: str) -> None:
    unknown = set(document) - known
    if unknown:
        raise GraphError(f"{where}: unknown keys {sorted(unknown, key=str)}; expected some of {sorted(known)}")


def _expect(value: Any, kind: type, where: str) -> Any:
    if not isinstance(value, kind):
        raise GraphError(f"{where}: expected a JSON {'object' if kind is dict else 'array'}, got {value!r:.80}")
    return value


# -- hash ---------------------------------------------------------------------


def graph_hash(G: nx.DiGraph) -> str:
    """A stable 32-hex-digit hash of the ops, params, slots and nested subgraphs of ``G``.

    Graph attributes (provenance) do not enter it, and node labels only through
    the order they give to ties in :func:`~wiring.analysis.stable_order` (as in
    module names): graphs with the same hash compile to the same module,
    submodule names included.
    """
    analyse(G)
    return structural_hash(G)


def structural_hash(G: nx.DiGraph) -> str:
    """:func:`graph_hash` without validating ``G`` first: the same value for a valid graph, about ten times
    faster (no shape inference); for a graph that :func:`~wiring.validate` would refuse, any value or a
    :class:`GraphError`. The runner records it for architectures a space builds, which the objective validates."""
    try:
        text = _canonical(G, {})
    except (KeyError, TypeError, AttributeError, ValueError, nx.NetworkXException) as error:
        raise GraphError(f"cannot hash the graph: {type(error).__name__}: {error} (validate it first)") from None
    return hashlib.sha256(text.encode()).hexdigest()[:32]


_NESTED = "\0nested\0"
"""Stands for a nested graph's text in its node's params until that text is spliced in."""
_COMPACT = {"separators": (",", ":")}


def _canonical(G: nx.DiGraph, done: dict[int, str]) -> str:
    """``G``'s hashed form as compact JSON: ``{"nodes": [[op, params], ...], "edges": [[u, v, slot], ...]}`` in
    :func:`stable_order`, params in signature order, a nested graph's form in its node's params. ``done`` holds
    the texts of the nested graphs met so far, by ``id``: a graph object shared by several subgraph nodes, as a
    space's repeated cell, is walked and encoded once per hash."""
    if id(G) in done:
        return done[id(G)]
    order = stable_order(G)
    index = {label: i for i, label in enumerate(order)}
    nodes, nested = [], []
    for label in order:
        spec = ops.get(G.nodes[label]["op"])
        params = _filled(spec, G.nodes[label].get("params"))
        for name, param in spec.params.items():
            if param.kind == "graph":
                nested.append(_canonical(params[name], done))
                params[name] = _NESTED
            elif param.kind == "ops":
                params[name] = [[ops.get(c["op"]).name, _filled(ops.get(c["op"]), c.get("params"))]
                                for c in params[name]]
        nodes.append([spec.name, params])
    edges = sorted((index[u], index[v], data.get("slot")) for u, v, data in G.edges(data=True))
    pieces = json.dumps({"nodes": nodes, "edges": edges}, **_COMPACT).split(json.dumps(_NESTED))
    if len(pieces) != len(nested) + 1:  # a str param spelling the placeholder: refuse, never a wrong hash
        raise ValueError(f"a str param holds {_NESTED!r}, which graph hashing reserves")
    # json.dumps is compositional: splicing the nested texts in gives the text of the nested dicts
    done[id(G)] = "".join(piece + inner for piece, inner in zip(pieces, [*nested, ""]))
    return done[id(G)]


def _filled(spec: ops.OpSpec, given: Any) -> dict[str, Any]:
    """``given`` params with the defaults filled in, in signature order (what ``spec.resolve`` gives a valid node,
    without its checks and copies: the hash reads them only)."""
    given = given or {}
    missing = [name for name, param in spec.params.items() if name not in given and param.default is ops.REQUIRED]
    if missing:
        raise ValueError(f"op {spec.name!r} misses param {missing[0]!r}")
    return {name: given[name] if name in given else param.default for name, param in spec.params.items()}


# -- files --------------------------------------------------------------------


def save(path: str | os.PathLike, G: nx.DiGraph, model: torch.nn.Module | None = None) -> None:
    """Write ``G`` (as JSON) and, if given, ``model``'s weights to ``path``."""
    state = None if model is None else {k: v.detach().cpu() for k, v in model.state_dict().items()}
    text = to_json(G)
    folder = Path(path).parent
    if not folder.is_dir():
        raise GraphError(f"{path}: cannot write there, {folder} is not a directory")
    document = {"format": _FILE_FORMAT, "graph": text, "state_dict": state, "sha256": _digest(text, state)}
    try:
        torch.save(document, path)
    except OSError as error:
        raise GraphError(f"{path}: cannot write it ({error.strerror or error})") from None
    except RuntimeError as error:  # torch reports an unwritable path as a RuntimeError
        raise GraphError(f"{path}: cannot write it ({error})") from None


def _digest(text: str, state: dict[str, torch.Tensor] | None) -> str:
    """SHA-256 of a saved graph's JSON and its weights (names, dtypes, shapes and bytes, in name order)."""
    h = hashlib.sha256(text.encode("utf-8"))
    for name in sorted(state or {}):
        tensor = state[name].contiguous().reshape(-1)
        h.update(f"\0{name}\0{tensor.dtype}\0{tuple(state[name].shape)}\0".encode())
        h.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return h.hexdigest()


def load(path: str | os.PathLike) -> tuple[nx.DiGraph, CompiledGraph | None]:
    """Read a file written by :func:`save`: ``(G, model)``, model None when no weights were saved.

    Uses ``torch.load(weights_only=True)``: no code in the file runs.
    """
    try:
        with warnings.catch_warnings():  # a damaged file makes torch warn before it fails: our error says it
            warnings.simplefilter("ignore", UserWarning)
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise GraphError(f"{path}: no such file") from None
    except Exception as error:  # torch raises many types for a corrupt file
        raise GraphError(f"{path}: not a readable wiring file ({type(error).__name__}: {error})") from None
    if not isinstance(payload, dict) or payload.get("format") != _FILE_FORMAT:
        raise GraphError(f"{path}: not a wiring file (no '{_FILE_FORMAT}' format marker)")
    state, text = payload.get("state_dict"), payload.get("graph")
    if state is not None and (not isinstance(state, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items())):
        raise GraphError(f"{path}: the saved weights do not fit: not a state dict of tensors")
    if not isinstance(text, str):
        raise GraphError(f"{path}: the saved graph is not JSON text, got {type(text).__name__}")
    if payload.get("sha256") != _digest(text, state):
        raise GraphError(f"{path}: fails its checksum: the file was changed or damaged after wiring.save wrote it")
    G = from_json(text)
    if state is None:
        return G, None
    model = compile(G)
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as error:
        raise GraphError(f"{path}: the saved weights do not fit the saved graph: {error}") from None
    return G, model
