"""Fuzz every file the library reads: graph JSON, ``wiring.save`` files and one-shot checkpoints (issue 11).

The promise: a damaged or hostile file raises the library's own error (naming
the file, where there is one), or, where the damage did not touch what is read
(a byte of a zip archive's padding, say), the very same content comes back:
never a silently different result, never a foreign exception, never a hang.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wiring
from wiring.search.oneshot.checkpoint import FORMAT, read, write
from wiring.search.strategy import SearchError

from graphs import multi_input, with_choice, with_subgraph
from test_fuzz_ops import bounded

GRAPHS = {"choice": with_choice("normal"), "subgraph": with_subgraph(), "multi_input": multi_input()}
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.sampled_from([10**30, -1, 0, 2**63, 1.5, 1e308]),
              st.text(max_size=6), st.sampled_from(["input", "output", "subgraph", "choice", "\ud800", "nodes"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6)
FUZZ = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])


def _paths(document: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (keys and indices) to a value inside ``document``."""
    found = [prefix] if prefix else []
    if isinstance(document, dict):
        for key, value in document.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(document, list):
        for i, value in enumerate(document):
            found += _paths(value, (*prefix, i))
    return found


def _mutate(document: Any, path: tuple, how: str, value: Any) -> Any:
    document = copy.deepcopy(document)
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    if how == "delete":
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return document


@st.composite
def damaged_documents(draw: st.DrawFn) -> tuple[nx.DiGraph, str]:
    """A graph and its JSON text with one value replaced or deleted, somewhere at any depth."""
    G = GRAPHS[draw(st.sampled_from(sorted(GRAPHS)))]
    document = json.loads(wiring.to_json(G))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(document)
        if not paths:
            break
        document = _mutate(document, draw(st.sampled_from(paths)), draw(st.sampled_from(["replace", "delete"])),
                           draw(JSON_VALUES))
    return G, json.dumps(document)


@FUZZ
@given(damaged_documents())
def test_a_damaged_json_document_is_refused_or_gives_a_graph_that_compiles(case):
    _, text = case
    with bounded():
        try:
            G = wiring.from_json(text)
        except wiring.GraphError as error:
            assert 0 < len(str(error)) < 2000
            return
        wiring.compile(G, seed=0)  # from_json validated it: it must build


@FUZZ
@given(name=st.sampled_from(sorted(GRAPHS)), data=st.data())
def test_damaged_json_text_is_refused_or_read_as_it_is(name, data):
    text = wiring.to_json(GRAPHS[name])
    cut = data.draw(st.integers(0, len(text) - 1))
    damaged = data.draw(st.sampled_from([text[:cut], text[:cut] + data.draw(st.characters()) + text[cut + 1:]]))
    with bounded():
        try:
            G = wiring.from_json(damaged)
        except wiring.GraphError:
            return
        wiring.compile(G, seed=0)  # from_json validated it: it must build
    assert wiring.to_json(wiring.from_json(wiring.to_json(G))) == wiring.to_json(G)  # and it round-trips


def _damaged(content: bytes, data: st.DataObject) -> bytes:
    """``content`` with one drawn bit flipped, or cut short at a drawn length."""
    if data.draw(st.booleans()):
        return content[:data.draw(st.integers(0, len(content) - 1))]
    damaged = bytearray(content)
    damaged[data.draw(st.integers(0, len(content) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    return bytes(damaged)


def _refused_naming_it_or_read(path: Path, content: bytes, reader: Any, error: type[Exception]) -> Any:
    """Write ``content`` to ``path`` and read it: None if ``reader`` refuses it with ``error`` naming the file,
    else what it read (a call that hangs fails)."""
    path.write_bytes(content)
    with bounded():
        try:
            return reader(path)
        except error as refused:
            assert str(path) in str(refused)
            return None


def _equal(x: Any, y: Any) -> bool:
    if isinstance(x, torch.Tensor):
        return isinstance(y, torch.Tensor) and x.dtype == y.dtype and x.shape == y.shape and torch.equal(x, y)
    if isinstance(x, dict):
        return isinstance(y, dict) and x.keys() == y.keys() and all(_equal(x[k], y[k]) for k in x)
    if isinstance(x, (list, tuple)):
        return type(x) is type(y) and len(x) == len(y) and all(_equal(a, b) for a, b in zip(x, y))
    return x == y


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> tuple[Path, bytes]:
    path = tmp_path_factory.mktemp("saved") / "model.pt"
    G = GRAPHS["choice"]
    wiring.save(path, G, wiring.compile(G, seed=0))
    return path, path.read_bytes()


@FUZZ
@given(data=st.data())
def test_a_saved_model_with_a_flipped_bit_or_cut_short_is_refused_naming_the_file_or_loads_the_same(
        saved, tmp_path, data):
    good, content = saved
    loaded = _refused_naming_it_or_read(tmp_path / "damaged.pt", _damaged(content, data), wiring.load,
                                        wiring.GraphError)
    if loaded is not None:
        (G, model), (G0, model0) = loaded, wiring.load(good)
        assert wiring.to_json(G) == wiring.to_json(G0) and _equal(model.state_dict(), model0.state_dict())


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> tuple[Path, bytes]:
    path = tmp_path_factory.mktemp("ckpt") / "state.ckpt"
    write(path, {"format": FORMAT, "weights": torch.arange(64, dtype=torch.float32), "loop": {"epoch": 3},
                 "setup": {"lr": "0.025"}})
    return path, path.read_bytes()


@FUZZ
@given(data=st.data())
def test_a_checkpoint_with_a_flipped_bit_or_cut_short_is_refused_naming_the_file_or_reads_the_same(
        checkpoint, tmp_path, data):
    good, content = checkpoint
    state = _refused_naming_it_or_read(tmp_path / "damaged.ckpt", _damaged(content, data), read, SearchError)
    if state is not None:
        assert _equal(state, read(good))
