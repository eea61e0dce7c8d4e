"""wiring.to_json/from_json, graph_hash, save/load: lossless round trips, hostile input refused with GraphError."""

from __future__ import annotations

import json
import os
import re

import networkx as nx
import pytest
import torch

import wiring
from graphs import ALL, cell, chain, nested, small_cnn, with_choice, with_subgraph
from wiring import limits, serialise


def decorated():
    """``with_subgraph`` carrying provenance, extra node/edge attributes and int labels inside the cell."""
    inner = cell()
    inner.graph["role"] = "normal cell"
    inner.nodes[4]["note"] = {"why": ["sum", 2]}
    inner.edges[2, 4]["weight"] = 0.25
    G = with_subgraph(inner=inner)
    G.graph.update(generator={"name": "ws", "params": {"n": 8, "k": 4, "p": 0.75}, "seed": 1}, space="test")
    G.nodes["stem"]["colour"] = "red"
    G.edges["in", "stem"]["tag"] = None
    return G


def data_of(G):
    """Node and edge data with nested graphs replaced by their own data (for equality)."""
    def plain(value):
        if isinstance(value, nx.DiGraph):
            return data_of(value)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value
    graph = {k: plain(v) for k, v in G.graph.items() if k != "schema"}
    return (graph, sorted(((repr(n), plain(d)) for n, d in G.nodes(data=True))),
            sorted(((repr(u), repr(v), plain(d)) for u, v, d in G.edges(data=True))))


# -- JSON round trip ------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ALL) + ["decorated", "nested3"])
def test_round_trip_is_lossless(name):
    G = {"decorated": decorated, "nested3": lambda: nested(3)}.get(name, ALL.get(name))()
    text = wiring.to_json(G)
    H = wiring.from_json(text)
    assert wiring.to_json(H) == text
    assert wiring.graph_hash(H) == wiring.graph_hash(G)
    assert data_of(H) == data_of(G)
    assert list(H) == list(G)  # node order kept
    assert H.graph["schema"] == wiring.SCHEMA_VERSION
    assert data_of(wiring.from_json(text.encode())) == data_of(G)  # bytes accepted too


def test_round_trip_keeps_details():
    G = decorated()
    H = wiring.from_json(wiring.to_json(G, indent=2))
    assert H.graph["generator"] == G.graph["generator"]
    assert H.nodes["stem"]["colour"] == "red"
    assert H.edges["in", "stem"] == {"tag": None}
    assert H.edges["stem", "cell1"] == {"slot": 0}
    inner = H.nodes["cell1"]["params"]["graph"]
    assert isinstance(inner, nx.DiGraph) and inner.graph["role"] == "normal cell"
    assert sorted(inner) == list(range(7))  # int labels stay ints
    assert inner.nodes[4]["note"] == {"why": ["sum", 2]}
    assert inner.edges[2, 4]["weight"] == 0.25
    # Both subgraph nodes held the same cell object; after loading each has an equal copy.
    assert data_of(inner) == data_of(H.nodes["cell2"]["params"]["graph"])


def test_loaded_graph_compiles_identically():
    G = with_subgraph()
    a = wiring.compile(G, seed=0)
    b = wiring.compile(wiring.from_json(wiring.to_json(G)), seed=0)
    assert a.code == b.code
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_json_layout():
    document = json.loads(wiring.to_json(chain("max_pool", stride=2)))
    assert document["schema"] == wiring.SCHEMA_VERSION
    assert {n["id"]: n["op"] for n in document["nodes"]} == {"in": "input", "x": "max_pool", "out": "output"}
    assert document["nodes"][1]["params"] == {"stride": 2}  # params as given, defaults not filled in


def test_to_json_validates():
    G = small_cnn()
    G.add_edge("s", "stem")
    with pytest.raises(wiring.GraphError, match="cycle"):
        wiring.to_json(G)


@pytest.mark.parametrize("label", [("a", 1), 1.5, frozenset({1})])
def test_to_json_rejects_non_json_labels(label):
    G = nx.relabel_nodes(small_cnn(), {"a": label})
    with pytest.raises(wiring.GraphError, match=re.escape(repr(label))):
        wiring.to_json(G)


def test_to_json_rejects_non_json_labels_in_subgraph():
    inner = nx.relabel_nodes(cell(), {4: (4, "sum")})
    with pytest.raises(wiring.GraphError, match=re.escape("(4, 'sum')")):
        wiring.to_json(with_subgraph(inner=inner))


@pytest.mark.parametrize("where", ["node", "edge", "graph", "nested"])
def test_to_json_rejects_non_json_attrs(where):
    G = small_cnn()
    bad = object()
    if where == "node":
        G.nodes["a"]["thing"] = bad
        pattern = "node 'a' attributes"
    elif where == "edge":
        G.edges["a", "s"]["thing"] = bad
        pattern = r"edge \('a', 's'\) attributes"
    elif where == "graph":
        G.graph["thing"] = {"x": bad}
        pattern = "graph attributes"
    else:
        inner = cell()
        inner.graph["thing"] = torch.zeros(2)
        G = with_subgraph(inner=inner)
        pattern = "graph attributes"
    with pytest.raises(wiring.GraphError, match=pattern):
        wiring.to_json(G)


# -- from_json refuses hostile or malformed input ------------------------------------


def _document():
    return json.loads(wiring.to_json(with_subgraph()))


def _mutated(fn):
    document = _document()
    fn(document)
    return json.dumps(document)


def _nested_document(depth):
    document = json.loads(wiring.to_json(chain()))
    for _ in range(depth):
        wrapper = json.loads(wiring.to_json(chain("subgraph", graph=chain())))
        wrapper["nodes"][1]["params"]["graph"] = document
        document = wrapper
    return json.dumps(document)


def _edge_to(document, target):
    document["edges"].append({"source": "in", "target": target})


REJECTED = [
    ("not_json", "{nodes: [}", "not valid JSON"),
    ("empty_text", "", "not valid JSON"),
    ("bytes_garbage", bytes(range(128, 256)), "not valid JSON"),
    ("not_text", 42, "JSON text, got int"),
    ("top_level_list", "[]", "expected a JSON object"),
    ("deep_arrays", "[" * 100_000, "not valid JSON"),
    ("deep_objects", '{"a":' * 100_000, "not valid JSON"),
    ("schema_missing", _mutated(lambda d: d.pop("schema")), "schema version None"),
    ("schema_future", _mutated(lambda d: d.update(schema=2)), "schema version 2"),
    ("schema_str", _mutated(lambda d: d.update(schema="1")), "schema version '1'"),
    ("unknown_top_key", _mutated(lambda d: d.update(code="import os")), "unknown keys.*'code'"),
    ("nodes_missing", _mutated(lambda d: d.pop("nodes")), r"graph\.nodes: expected a JSON array"),
    ("nodes_object", _mutated(lambda d: d.update(nodes={})), r"graph\.nodes: expected a JSON array"),
    ("node_not_object", _mutated(lambda d: d["nodes"].append("x")), r"graph\.nodes\[8\]"),
    ("node_id_bool", _mutated(lambda d: d["nodes"][0].update(id=True)), r"nodes\[0\].*'id'.*True"),
    ("node_id_list", _mutated(lambda d: d["nodes"][0].update(id=[1])), r"nodes\[0\].*'id'.*\[1\]"),
    ("node_id_none", _mutated(lambda d: d["nodes"][0].update(id=None)), r"nodes\[0\].*'id'.*None"),
    ("node_id_float", _mutated(lambda d: d["nodes"][0].update(id=1.5)), r"nodes\[0\].*'id'.*1\.5"),
    ("node_unknown_key", _mutated(lambda d: d["nodes"][0].update(code="x")), r"nodes\[0\].*unknown keys.*'code'"),
    ("op_not_str", _mutated(lambda d: d["nodes"][1].update(op=["conv_bn"])), r"node 'stem'.*'op'.*\['conv_bn'\]"),
    ("op_missing", _mutated(lambda d: d["nodes"][1].pop("op")), r"node 'stem'.*'op'.*None"),
    ("op_unknown", _mutated(lambda d: d["nodes"][1].update(op="os.system")), r"node 'stem'.*'os\.system'.*known ops"),
    ("duplicate_node", _mutated(lambda d: d["nodes"].append(dict(d["nodes"][1]))), "duplicate node id 'stem'"),
    ("duplicate_edge", _mutated(lambda d: d["edges"].append(dict(d["edges"][0]))), "duplicate edge"),
    ("edge_unknown_node", _mutated(lambda d: _edge_to(d, "ghost")), "endpoint 'ghost'"),
    ("edge_bool_endpoint", _mutated(lambda d: _edge_to(d, True)), "endpoint True"),
    ("edge_not_object", _mutated(lambda d: d["edges"].append(["in", "stem"])), r"edges\[\d+\]: expected a JSON object"),
    ("edge_unknown_key", _mutated(lambda d: d["edges"][0].update(weight=1)), r"edges\[0\].*unknown keys.*'weight'"),
    ("edge_attrs_list", _mutated(lambda d: d["edges"][0].update(attrs=[1])), r"edges\[0\]\.attrs"),
    ("params_not_object", _mutated(lambda d: d["nodes"][1].update(params=[4])), r"nodes\[1\]\.params"),
    ("params_null", _mutated(lambda d: d["nodes"][1].update(params=None)), r"nodes\[1\]\.params"),
    ("node_attrs_list", _mutated(lambda d: d["nodes"][1].update(attrs=["x"])), r"nodes\[1\]\.attrs"),
    ("graph_attrs_list", _mutated(lambda d: d.update(attrs=[1])), r"graph\.attrs"),
    ("subgraph_not_object", _mutated(lambda d: d["nodes"][3]["params"].update(graph="cell")),
     r"params\.graph: expected a JSON object"),
    ("subgraph_bad_schema", _mutated(lambda d: d["nodes"][3]["params"]["graph"].update(schema=0)),
     r"params\.graph: unsupported schema version 0"),
    ("subgraph_bad_node", _mutated(lambda d: d["nodes"][3]["params"]["graph"]["nodes"][0].update(id=None)),
     r"params\.graph\.nodes\[0\]"),
    ("too_deep", _nested_document(limits.MAX_JSON_DEPTH + 1), f"deeper than {limits.MAX_JSON_DEPTH}"),
    ("slot_invalid", _mutated(lambda d: d["edges"][1].update(slot="first")), "slot.*'first'"),
    ("cycle", _mutated(lambda d: d["edges"].append({"source": "head", "target": "stem"})), "cycle"),
    ("param_invalid", _mutated(lambda d: d["nodes"][1]["params"].update(channels=-4)), r"'stem'.*'channels'.*-4"),
    ("true_endpoint", _mutated(lambda d: d["edges"].append({"source": True, "target": d["nodes"][1]["id"]})),
     "endpoint True is not a node id"),
    ("schema_float", _mutated(lambda d: d.update(schema=1.0)), "schema version 1.0"),
    ("schema_bool", _mutated(lambda d: d.update(schema=True)), "schema version True"),
    ("lone_surrogate_label", _mutated(lambda d: d["nodes"][1].update(id="\ud800")), r"nodes\[1\]\.id.*lone surrogate"),
    ("lone_surrogate_attr", _mutated(lambda d: d["attrs"].update(note="a\udfffb")), r"attrs\.note.*lone surrogate"),
]


@pytest.mark.parametrize("text, pattern", [pytest.param(t, p, id=i) for i, t, p in REJECTED])
def test_from_json_rejects(text, pattern):
    with pytest.raises(wiring.GraphError, match=pattern):
        wiring.from_json(text)


def test_rejected_cases_differ_from_valid_document():
    """The table's mutations are real: the unmutated document loads."""
    wiring.from_json(json.dumps(_document()))
    assert wiring.validate(wiring.from_json(_nested_document(limits.MAX_JSON_DEPTH))) is None


@pytest.mark.parametrize("attrs", [{"incoming_graph_data": 5}, {"incoming_graph_data": [["a", "b"]]},
                                   {"name": "x", "incoming_graph_data": {"n": {}}}])
def test_graph_attributes_are_data_not_constructor_input(attrs):
    """networkx would read ``incoming_graph_data`` as nodes and edges; from_json keeps it as an attribute."""
    G = wiring.from_json(json.dumps({**_document(), "attrs": attrs}))
    assert {k: v for k, v in G.graph.items() if k != "schema"} == attrs
    assert set(G) == {node["id"] for node in _document()["nodes"]}


def test_max_json_chars(monkeypatch):
    text = wiring.to_json(small_cnn())
    monkeypatch.setattr(limits, "MAX_JSON_CHARS", len(text))
    wiring.from_json(text)
    with pytest.raises(wiring.GraphError, match=f"{len(text) + 1} characters.*{len(text)}"):
        wiring.from_json(text + " ")


def test_max_nodes(monkeypatch):
    """The node budget counts every nesting level: 8 outer nodes + 2 uses of a 7-node cell."""
    G = with_subgraph()
    assert len(G) == 8 and len(cell()) == 7
    text = wiring.to_json(G)
    total = 8 + 2 * 7
    monkeypatch.setattr(limits, "MAX_NODES", total)
    wiring.from_json(text)
    monkeypatch.setattr(limits, "MAX_NODES", total - 1)
    with pytest.raises(wiring.GraphError, match=f"more than {total - 1} nodes"):
        wiring.from_json(text)


# -- graph_hash ---------------------------------------------------------------


def test_hash_format_and_stability():
    h = wiring.graph_hash(small_cnn())
    assert re.fullmatch(r"[0-9a-f]{32}", h)
    assert wiring.graph_hash(small_cnn()) == h


def test_hash_ignores_labels_attrs_and_insertion_order():
    G = small_cnn()
    h = wiring.graph_hash(G)
    assert wiring.graph_hash(nx.relabel_nodes(G, {label: f"n_{label}" for label in G})) == h
    H = G.copy()
    H.graph.update(generator={"name": "x", "seed": 9}, schema=1)
    H.nodes["a"]["colour"] = "blue"
    H.edges["a", "s"]["weight"] = 2.0
    assert wiring.graph_hash(H) == h
    R = nx.DiGraph()
    R.add_nodes_from(reversed(list(G.nodes(data=True))))
    R.add_edges_from(reversed(list(G.edges(data=True))))
    assert wiring.graph_hash(R) == h


def test_hash_ignores_explicit_defaults():
    """Params equal to the op's defaults hash like omitted ones (they compile identically)."""
    G = small_cnn()
    h = wiring.graph_hash(G)
    G.nodes["a"]["params"].update(stride=1, affine=True)
    assert wiring.graph_hash(G) == h


def _set(label, key, value):
    def change(G):
        G.nodes[label]["params"][key] = value
    return change


def _swap_slots(G):
    G.edges["down", "cat"]["slot"], G.edges["pool", "cat"]["slot"] = 1, 0


def _op(G):
    G.nodes["b"]["op"] = "avg_pool"


@pytest.mark.parametrize("change", [_op, _set("a", "kernel", 5), _set("head", "num_classes", 4), _swap_slots],
                         ids=["op", "param", "head", "slots"])
def test_hash_changes_with_content(change):
    G = small_cnn()
    h = wiring.graph_hash(G)
    change(G)
    wiring.validate(G)
    assert wiring.graph_hash(G) != h


def test_hash_sees_nested_subgraph_changes():
    h = wiring.graph_hash(with_subgraph())
    inner = cell()
    inner.nodes[5]["params"]["kernel"] = 3
    assert wiring.graph_hash(with_subgraph(inner=inner)) != h
    inner = cell()
    inner.graph["note"] = "provenance only"
    assert wiring.graph_hash(with_subgraph(inner=inner)) == h


def test_hash_of_a_shared_subgraph_equals_that_of_separate_copies():
    """graph_hash walks a graph object shared by several subgraph nodes once; the hash is that of copies."""
    G = with_subgraph()
    h = wiring.graph_hash(G)
    copies = with_subgraph()
    copies.nodes["cell2"]["params"] = {"graph": cell()}
    assert copies.nodes["cell1"]["params"]["graph"] is not copies.nodes["cell2"]["params"]["graph"]
    assert wiring.graph_hash(copies) == h
    copies.nodes["cell2"]["params"]["graph"].nodes[5]["params"]["kernel"] = 3
    assert wiring.graph_hash(copies) != h


def test_hash_distinguishes_keys():
    assert wiring.graph_hash(with_choice()) != wiring.graph_hash(with_choice(key="k"))


def test_hash_validates():
    with pytest.raises(wiring.GraphError):
        wiring.graph_hash(nx.DiGraph())


# -- save / load ----------------------------------------------------------------


def test_save_graph_only(tmp_path):
    G = decorated()
    path = tmp_path / "g.pt"
    wiring.save(path, G)
    H, model = wiring.load(path)
    assert model is None
    assert wiring.to_json(H) == wiring.to_json(G)


def test_save_with_model(tmp_path):
    """Weights, α and BN statistics come back; eval outputs are identical."""
    G = with_subgraph()
    model = wiring.compile(G, seed=0)
    model(torch.randn(4, 3, 8, 8))  # move BN running statistics off their initial values
    with torch.no_grad():
        model.arch_parameters()[0].add_(1.0)
    path = tmp_path / "m.pt"
    wiring.save(str(path), G, model)
    H, loaded = wiring.load(str(path))
    assert isinstance(loaded, wiring.CompiledGraph)
    assert wiring.graph_hash(H) == wiring.graph_hash(G)
    a, b = model.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(loaded.eval()(x), model.eval()(x), rtol=0, atol=0)
    assert loaded.arch_parameters()[0] is loaded.alphas.normal  # sharing survives loading


def test_saved_file_is_plain_data(tmp_path):
    """The file loads with ``torch.load(weights_only=True)``: no pickled code."""
    path = tmp_path / "m.pt"
    wiring.save(path, small_cnn(), wiring.compile(small_cnn()))
    payload = torch.load(path, weights_only=True)
    assert set(payload) == {"format", "graph", "state_dict", "sha256"}
    assert isinstance(payload["graph"], str)
    assert all(isinstance(v, torch.Tensor) for v in payload["state_dict"].values())


def test_load_missing_file(tmp_path):
    with pytest.raises(wiring.GraphError, match="no such file"):
        wiring.load(tmp_path / "absent.pt")


def test_load_random_bytes(tmp_path):
    path = tmp_path / "noise.pt"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(wiring.GraphError, match="not a readable wiring file"):
        wiring.load(path)


def test_load_directory(tmp_path):
    with pytest.raises(wiring.GraphError):
        wiring.load(tmp_path)


@pytest.mark.parametrize("payload", [{"graph": "{}", "state_dict": None}, {"format": "other"}, [1, 2], "text"])
def test_load_without_marker(tmp_path, payload):
    path = tmp_path / "other.pt"
    torch.save(payload, path)
    with pytest.raises(wiring.GraphError, match="format marker"):
        wiring.load(path)


def test_load_pickled_code_refused(tmp_path):
    """A file with a pickled object (not plain data) is refused, and its code does not run."""
    path = tmp_path / "evil.pt"
    torch.save({"format": "nas-wiring", "graph": wiring.to_json(small_cnn()), "state_dict": None,
                "extra": _Boom()}, path)
    with pytest.raises(wiring.GraphError, match="not a readable wiring file"):
        wiring.load(path)
    assert not _Boom.ran


class _Boom:
    ran = False

    def __reduce__(self):
        return (_Boom._explode, ())

    @staticmethod
    def _explode():
        _Boom.ran = True
        return "boom"


def _corrupt(tmp_path, change):
    G = small_cnn()
    path = tmp_path / "bad.pt"
    wiring.save(path, G, wiring.compile(G))
    payload = torch.load(path, weights_only=True)
    change(payload)
    try:  # signed again, as a consistent file would be: what the checks behind the checksum see
        payload["sha256"] = serialise._digest(payload["graph"], payload["state_dict"])
    except (AttributeError, TypeError):
        pass  # not the types a saved file holds: refused before the checksum
    torch.save(payload, path)
    return path


@pytest.mark.parametrize("change, pattern", [
    (lambda p: p["state_dict"].update({"n1.0.weight": torch.zeros(1)}), "do not fit"),
    (lambda p: p["state_dict"].pop("n1.0.weight"), "do not fit"),
    (lambda p: p["state_dict"].update({"extra.weight": torch.zeros(1)}), "do not fit"),
    (lambda p: p.update(state_dict=[1, 2]), "do not fit"),
    (lambda p: p.update(graph=wiring.to_json(with_choice())), "do not fit"),
    (lambda p: p.update(graph="{not json"), "not valid JSON"),
    (lambda p: p.update(graph=None), "JSON text"),
])
def test_load_weights_that_do_not_fit(tmp_path, change, pattern):
    with pytest.raises(wiring.GraphError, match=pattern):
        wiring.load(_corrupt(tmp_path, change))


def test_save_into_a_missing_directory_names_it(tmp_path):
    with pytest.raises(wiring.GraphError, match="missing.*is not a directory"):
        wiring.save(tmp_path / "missing" / "net.pt", chain())
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("edit", ["weight", "graph", "no_checksum"])
def test_a_changed_save_file_fails_its_checksum(tmp_path, edit):
    G = small_cnn()
    path = tmp_path / "net.pt"
    wiring.save(path, G, wiring.compile(G, seed=0))
    payload = torch.load(path, weights_only=True)
    if edit == "weight":
        name = next(k for k, v in payload["state_dict"].items() if v.is_floating_point())
        payload["state_dict"][name].view(-1)[0] += 1e-3
    elif edit == "graph":
        payload["graph"] = payload["graph"].replace('"num_classes": 3', '"num_classes": 4')
    else:
        del payload["sha256"]
    torch.save(payload, path)
    with pytest.raises(wiring.GraphError, match="fails its checksum"):
        wiring.load(path)
