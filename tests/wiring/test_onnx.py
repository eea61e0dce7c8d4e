"""ONNX export (wiring.export_onnx): a network of every space exports and runs in onnxruntime with torch's outputs,
at another batch size than the example's (the leading dimension is dynamic); typed DAGs, tuple outputs, modes and
errors naming the file and the node.

One export takes 1.5-6 s on one thread here (torch.export, then onnxscript's translation and optimiser; the first
also imports the exporter), so the networks are the spaces' SMALL instances, the ones tests/spaces/test_protocol.py
compiles; the file takes about a minute.
"""

from __future__ import annotations

import random
from importlib import import_module

import networkx as nx
import pytest
import torch
from torch import nn

import ops
from ops import registry
import spaces
import wiring
from graphs import multi_output, small_cnn
from wiring import ExportError
from wiring.analysis import analyse

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install 'nas-wiring[onnx]')")

ATOL, RTOL = 1e-5, 1e-4


def run_onnx(path, *inputs: torch.Tensor) -> list[torch.Tensor]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {given.name: x.numpy() for given, x in zip(session.get_inputs(), inputs)}
    return [torch.from_numpy(out) for out in session.run(None, feeds)]


def run_torch(model: nn.Module, *inputs: torch.Tensor) -> list[torch.Tensor]:
    with torch.no_grad():
        out = model.eval()(*inputs)
    return list(out) if isinstance(out, tuple) else [out]


def assert_same(path, model, *inputs) -> None:
    actual, expected = run_onnx(path, *inputs), run_torch(model, *inputs)
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        torch.testing.assert_close(a, e, atol=ATOL, rtol=RTOL)


def small_network(name: str) -> nx.DiGraph:
    module = import_module(f"spaces.{name}")
    space = module.space(**module.SMALL)
    return space.to_graph(space.sample(random.Random(0)))


# -- every space -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", spaces.SPACES)
def test_a_network_of_every_space_exports_and_runs_the_same_in_onnxruntime(name, tmp_path):
    G = small_network(name)
    model = wiring.compile(G, seed=0)
    module = import_module(f"spaces.{name}")
    custom = getattr(module, "example_inputs", None)
    path = tmp_path / f"{name}.onnx"
    if custom is None:  # images or features: one input, shaped as the graph declares
        (label,) = analyse(G).inputs
        shape = analyse(G).nodes[label].out_shape
        assert wiring.export_onnx(model, path, shape) == path
        check = [torch.randn(3, *shape)]  # another batch size than the export's example
    else:  # a GNN: node features (N, F) and an integer edge list (E, 2); both leading dimensions stay free
        assert wiring.export_onnx(model, path, inputs=custom(G)) == path
        check = custom(G, nodes=9, edges=23, seed=1)
    assert path.is_file() and not path.with_name(path.name + ".data").exists()  # weights inside the file
    assert_same(path, model, *check)


# -- typed DAGs, outputs, modes ----------------------------------------------------------------


def test_a_typed_dag_is_compiled_first_at_its_declared_input_shape(tmp_path):
    G = small_cnn()
    path = wiring.export_onnx(G, tmp_path / "cnn.onnx", seed=0)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (given,) = session.get_inputs()
    assert given.name == "x" and given.shape[1:] == [3, 8, 8] and isinstance(given.shape[0], str)  # dynamic batch
    assert_same(path, wiring.compile(G, seed=0), torch.randn(4, 3, 8, 8))


def test_tuple_outputs_become_onnx_outputs_and_a_static_export_keeps_its_batch(tmp_path):
    G = multi_output()
    model = wiring.compile(G, seed=0)
    path = wiring.export_onnx(model, str(tmp_path / "two.onnx"), (3, 8, 8), dynamic=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == [1, 3, 8, 8] and [o.shape for o in session.get_outputs()] == [[1, 3],
                                                                                                          [1, 5]]
    assert_same(path, model, torch.randn(1, 3, 8, 8))


def test_the_export_is_the_inference_graph_and_the_mode_comes_back(tmp_path):
    model = wiring.compile(small_cnn(), seed=0).train()
    model.n1.eval()  # a mixed state survives too
    states = {name: m.training for name, m in model.named_modules()}
    path = wiring.export_onnx(model, tmp_path / "cnn.onnx", (3, 8, 8))
    assert {name: m.training for name, m in model.named_modules()} == states
    assert_same(path, model, torch.randn(2, 3, 8, 8))  # run_torch compares in eval mode: BN running statistics


# -- errors ------------------------------------------------------------------------------------


class Eigenvalues(nn.Module):
    """An op ONNX has no translation for (aten.linalg_eig)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.linalg.eigvals(x.reshape(x.shape[0], 4, 4)).real.reshape(x.shape[0], -1)


class DataDependent(nn.Module):
    """Python control flow on a tensor's value: torch.export cannot trace it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if x.sum() > 0 else -x


@pytest.fixture
def odd_ops():
    """Two ops the exporter cannot handle, registered for one test and forgotten afterwards (the registry is
    global: other tests list every registered op)."""
    before = dict(registry._REGISTRY)
    for name, module in (("test_onnx_eigenvalues", Eigenvalues), ("test_onnx_data_dependent", DataDependent)):
        ops.register(ops.OpSpec(name, shape=lambda shapes, params: shapes[0],
                                cost=lambda shapes, out, params: ops.Cost(0, 0),
                                build=lambda shapes, out, params, _module=module: _module(), doc="a test op"))
    yield
    for name in set(registry._REGISTRY) - set(before):
        del registry._REGISTRY[name]


def with_op(op: str) -> nx.DiGraph:
    """input (16 features) -> cell (a subgraph holding node 'odd' of ``op``) -> output."""
    inner = nx.DiGraph()
    inner.add_node("in", op="input", params={"channels": 16, "size": []})
    inner.add_node("odd", op=op, params={})
    inner.add_node("out", op="output")
    inner.add_edges_from([("in", "odd"), ("odd", "out")])
    G = nx.DiGraph()
    G.add_node("x", op="input", params={"channels": 16, "size": []})
    G.add_node("cell", op="subgraph", params={"graph": inner})
    G.add_node("y", op="output")
    G.add_edges_from([("x", "cell"), ("cell", "y")])
    return G


@pytest.mark.parametrize("op, step, culprit", [
    ("test_onnx_eigenvalues", "the ONNX exporter cannot translate the model", "aten.linalg_eig"),
    ("test_onnx_data_dependent", "torch.export cannot trace the model", "data-dependent"),
])
def test_an_op_the_exporter_cannot_handle_is_named_with_the_file_and_its_node(op, step, culprit, tmp_path,
                                                                                odd_ops):
    path = tmp_path / "odd.onnx"
    with pytest.raises(ExportError) as info:
        wiring.export_onnx(with_op(op), path)
    message = str(info.value)
    assert message.startswith(f"{path}: {step} at graph node 'cell' / 'odd' (module n1.n1, ")
    assert culprit in message and not path.exists()


@pytest.mark.parametrize("where, culprit", [
    ("missing/cnn.onnx", "missing is not a directory"),
    (".", "it is a directory"),
])
def test_a_bad_path_is_named_before_anything_is_exported(where, culprit, tmp_path):
    path = tmp_path / where
    with pytest.raises(ExportError, match=f"^{path}: cannot write .*{culprit}"):
        wiring.export_onnx(small_cnn(), path)


@pytest.mark.parametrize("kwargs, culprit", [
    ({}, "pass input_shape (one sample, without batch, e.g. (3, 32, 32)) or inputs= to export a module"),
    ({"input_shape": (3, 0, 8)}, "input_shape is one sample's shape without batch"),
    ({"input_shape": (3, 8, 8), "inputs": torch.randn(1, 3, 8, 8)}, "pass input_shape or inputs, not both"),
    ({"inputs": [torch.randn(2, 3, 8, 8)] * 2}, "the model takes 1 input(s) (x), got 2"),
    ({"input_shape": (4, 8, 8)}, "the model does not run on the example inputs ((2, 4, 8, 8)): RuntimeError"),
    ({"input_shape": (3, 8, 8), "dynamic": 1}, "dynamic must be a bool"),
    ({"input_shape": (3, 8, 8), "opset": 3}, "opset must be an int >= 7"),
])
def test_bad_arguments_are_named_with_the_file(kwargs, culprit, tmp_path):
    path = tmp_path / "cnn.onnx"
    with pytest.raises(ExportError) as info:
        wiring.export_onnx(wiring.compile(small_cnn(), seed=0), path, **kwargs)
    assert str(info.value).startswith(f"{path}: ") and culprit in str(info.value)


def test_a_dag_of_several_inputs_needs_example_inputs_and_a_non_model_is_refused(tmp_path):
    G = small_network("nasbench_graph")
    with pytest.raises(ExportError, match=r"the graph has 2 inputs \('x', 'edges'\): pass inputs="):
        wiring.export_onnx(G, tmp_path / "gnn.onnx")
    with pytest.raises(ExportError, match="model must be a compiled module .* got str"):
        wiring.export_onnx("model.pt", tmp_path / "m.onnx", (3, 8, 8))
    with pytest.raises(wiring.GraphError) as info:  # a malformed DAG fails as wiring.compile does, before export
        wiring.export_onnx(nx.DiGraph(), tmp_path / "empty.onnx")
    assert not isinstance(info.value, ExportError) and "the graph is empty" in str(info.value)
    assert issubclass(ExportError, wiring.GraphError)


def test_import_wiring_imports_no_onnx_package():
    import subprocess
    import sys

    code = "import sys, wiring; wiring.export_onnx; print(sorted(m for m in sys.modules if 'onnx' in m.split('.')[0]))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_missing_exporter_package_is_named_with_the_extra_to_install(monkeypatch, tmp_path):
    from wiring import onnx_export

    real = onnx_export.importlib.util.find_spec
    monkeypatch.setattr(onnx_export.importlib.util, "find_spec",
                        lambda name, *args: None if name == "onnxscript" else real(name, *args))
    with pytest.raises(ExportError, match=r"cnn.onnx: ONNX export needs onnxscript: pip install 'nas-wiring\[onnx\]'"):
        wiring.export_onnx(small_cnn(), tmp_path / "cnn.onnx")
