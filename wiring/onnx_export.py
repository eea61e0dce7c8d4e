"""ONNX export of compiled typed DAGs: ``wiring.export_onnx(model, path, input_shape)``.

The exporter is torch's own, ``torch.onnx.export(..., dynamo=True)`` (the
default since torch 2.9; the TorchScript exporter is deprecated): it traces
the module with ``torch.export`` (non-strict), which suits the plain
generated ``forward`` of a ``torch.fx`` module, then translates the ATen graph
with ``onnxscript``. It needs the ``onnx`` extra (``pip install
'nas-wiring[onnx]'``: onnx, onnxscript, and onnxruntime to run the files);
nothing here is imported by ``import wiring``.

What is exported is the inference graph: the module runs in eval mode during
the export (batch-norm running statistics, no dropout or drop-path) and gets
its mode back afterwards. The leading dimension of every input (the batch of
an image; the node and edge counts of a GNN's two inputs) is dynamic by
default, so the file takes any batch size. A supernet exports too, with its
relaxation as compiled (``mode``); a sampling mode's draw is traced, so use a
deterministic mode (softmax) or a derived architecture.

Weights are stored in the ``.onnx`` file itself, except for a model of more
than :data:`EXTERNAL_DATA_BYTES` of weights (ONNX's protobuf limit is 2 GiB):
those go to ``<path>.data`` beside it.

Errors are :class:`ExportError` (a :class:`~wiring.GraphError`, as for
:func:`wiring.save`) naming the file; an op the exporter cannot trace or
translate is named by its graph node where the exporter's report locates it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import re
import warnings
from collections.abc import Hashable, Iterator, Sequence
from pathlib import Path
from typing import Any

import networkx as nx
import torch
from torch import nn

from .errors import GraphError

__all__ = ["EXTERNAL_DATA_BYTES", "ExportError", "export_onnx"]

EXTERNAL_DATA_BYTES = 1 << 30
"""Weights above this many bytes are written to ``<path>.data`` (ONNX files hold at most 2 GiB)."""

_NEEDS = ("onnx", "onnxscript")
_QUIET = ("torch.onnx._internal.exporter._registration",)
"""Loggers of the exporter that warn on every first use about ops of packages we do not use (torchvision)."""


class ExportError(GraphError):
    """An ONNX export that failed: a bad path, a missing exporter package, or an op the exporter cannot handle."""


def export_onnx(model: Any, path: str | os.PathLike, input_shape: Sequence[int] | None = None, *,
                inputs: Sequence[torch.Tensor] | torch.Tensor | None = None, dynamic: bool = True,
                seed: int | None = None, opset: int | None = None) -> Path:
    """Write ``model`` (a compiled module, or a typed DAG compiled first) to the ONNX file ``path``.

    Parameters
    ----------
    model : torch.nn.Module or networkx.DiGraph
        A module from :func:`wiring.compile` (any ``nn.Module`` torch can
        export works), or a typed DAG, compiled with ``seed``.
    path : str or os.PathLike
        The file to write; its folder must exist.
    input_shape : sequence of int, optional
        One sample's shape, without batch, e.g. ``(3, 32, 32)``; the example
        batch is random. For a typed DAG with one input it defaults to the
        graph's declared shape.
    inputs : tensor or sequence of tensors, optional
        Example inputs instead of ``input_shape``, in the module's input order:
        needed for several inputs, e.g. a GNN's node features ``(N, F)`` and
        integer edge list ``(E, 2)``.
    dynamic : bool
        Leave every input's leading dimension free (default). It stays fixed
        where an example has a leading dimension of 1.
    seed : int, optional
        Weight initialisation when ``model`` is a typed DAG.
    opset : int, optional
        ONNX opset version (default: the exporter's).

    Returns the path written. Raises :class:`ExportError` naming the file.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ExportError(f"path must be a str or os.PathLike naming the .onnx file, got {path!r}")
    target = Path(path)
    _check_target(target)
    if not isinstance(dynamic, bool):
        raise ExportError(f"{target}: dynamic must be a bool, got dynamic={dynamic!r}")
    if opset is not None and (not isinstance(opset, int) or isinstance(opset, bool) or opset < 7):
        raise ExportError(f"{target}: opset must be an int >= 7 or None, got opset={opset!r}")
    graph = model if isinstance(model, nx.DiGraph) else None
    if graph is not None:
        from .compiler import compile

        model = compile(graph, seed=seed)
    elif not isinstance(model, nn.Module):
        raise ExportError(f"{target}: model must be a compiled module (wiring.compile) or a typed DAG, "
                          f"got {type(model).__name__}")
    args = _examples(model, graph, target, input_shape, inputs, dynamic)
    missing = [name for name in _NEEDS if importlib.util.find_spec(name) is None]
    if missing:
        raise ExportError(f"{target}: ONNX export needs {' and '.join(missing)}: pip install 'nas-wiring[onnx]'")
    was_training = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        _fits(model, args, target)
        program = _export(model, args, target, dynamic, opset)
    finally:
        for module, training in was_training:
            module.training = training
    weights = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])
    try:
        program.save(target, external_data=weights > EXTERNAL_DATA_BYTES)
    except OSError as error:
        raise ExportError(f"{target}: cannot write it ({error.strerror or error})") from None
    return target


# -- arguments -----------------------------------------------------------------------------


def _check_target(target: Path) -> None:
    if target.is_dir():
        raise ExportError(f"{target}: cannot write the ONNX file, it is a directory")
    folder = target.parent
    if not folder.is_dir():
        raise ExportError(f"{target}: cannot write there, {folder} is not a directory")
    if not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise ExportError(f"{target}: cannot write it (permission denied)")


def _placeholders(model: nn.Module) -> list[str] | None:
    graph = getattr(model, "graph", None)
    if not isinstance(graph, torch.fx.Graph):
        return None
    return [str(node.target) for node in graph.nodes if node.op == "placeholder"]


def _examples(model: nn.Module, graph: nx.DiGraph | None, target: Path, input_shape: Any, inputs: Any,
              dynamic: bool) -> tuple[torch.Tensor, ...]:
    """The example inputs: ``inputs``, or a random batch of ``input_shape`` (default: the DAG's one input)."""
    names = _placeholders(model)
    if inputs is not None:
        if input_shape is not None:
            raise ExportError(f"{target}: pass input_shape or inputs, not both")
        args = (inputs,) if isinstance(inputs, torch.Tensor) else tuple(inputs) \
            if isinstance(inputs, Sequence) else None
        if not args or not all(isinstance(a, torch.Tensor) for a in args):
            raise ExportError(f"{target}: inputs must be a tensor or a non-empty sequence of tensors, got {inputs!r}")
    else:
        if input_shape is None:
            input_shape = _declared_shape(graph, target, names)
        shape = tuple(input_shape) if isinstance(input_shape, Sequence) and not isinstance(input_shape, str) else None
        if not shape or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape):
            raise ExportError(f"{target}: input_shape is one sample's shape without batch, positive ints such as "
                              f"(3, 32, 32), got input_shape={input_shape!r}")
        if names is not None and len(names) != 1:
            raise ExportError(f"{target}: the model takes {len(names)} inputs ({', '.join(names)}); input_shape "
                              f"describes one: pass inputs=(tensor, ...) in that order")
        generator = torch.Generator().manual_seed(0)
        args = (torch.randn(2 if dynamic else 1, *shape, generator=generator),)
    if names is not None and len(names) != len(args):
        raise ExportError(f"{target}: the model takes {len(names)} input(s) ({', '.join(names)}), got {len(args)}")
    return args


def _declared_shape(graph: nx.DiGraph | None, target: Path, names: list[str] | None) -> tuple[int, ...]:
    if graph is None:
        raise ExportError(f"{target}: pass input_shape (one sample, without batch, e.g. (3, 32, 32)) or inputs= "
                          f"to export a module")
    from .analysis import analyse

    analysis = analyse(graph)
    if len(analysis.inputs) != 1:
        labels = ", ".join(map(repr, analysis.inputs))
        raise ExportError(f"{target}: the graph has {len(analysis.inputs)} inputs ({labels}): pass inputs=(tensor, "
                          f"...) in index order (a GNN's edge list is an integer (E, 2) tensor)")
    return tuple(analysis.nodes[analysis.inputs[0]].out_shape)


def _fits(model: nn.Module, args: tuple[torch.Tensor, ...], target: Path) -> None:
    """Run the examples once, so a wrong shape is reported as such rather than deep inside the exporter."""
    try:
        with torch.no_grad():
            model(*args)
    except Exception as error:  # noqa: BLE001 - any failure of the user's module on these inputs
        shapes = ", ".join(str(tuple(a.shape)) for a in args)
        raise ExportError(f"{target}: the model does not run on the example inputs ({shapes}): "
                          f"{type(error).__name__}: {_first_lines(str(error), 3)}") from error


# -- the exporter --------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in _QUIET]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _export(model: nn.Module, args: tuple[torch.Tensor, ...], target: Path, dynamic: bool, opset: int | None) -> Any:
    """Trace with ``torch.export`` (step 1), then translate to ONNX (steps 2-3): each failure named by graph node."""
    shapes = tuple({0: torch.export.Dim.AUTO} for _ in args) if dynamic else None
    with _quiet_exporter(), warnings.catch_warnings():
        # torch's own pytree deprecation, raised inside torch.export on every call
        warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
        try:
            exported = torch.export.export(model, args, dynamic_shapes=shapes, strict=False)
        except Exception as error:  # noqa: BLE001 - torch.export raises many types
            where = _locate(model, [*_modules_in_traceback(model, error),
                                    *re.findall(r"call_module\[target=([\w.]+)\]", str(error))])
            raise ExportError(f"{target}: torch.export cannot trace the model{where}: {type(error).__name__}: "
                              f"{_summary(error)}") from error
        try:
            return torch.onnx.export(exported, args, dynamo=True, verbose=False, opset_version=opset,
                                     external_data=False)
        except Exception as error:  # noqa: BLE001 - the translator raises many types
            where = _locate(model, _modules_of_failed_op(exported, str(error)))
            raise ExportError(f"{target}: the ONNX exporter cannot translate the model{where}: "
                              f"{type(error).__name__}: {_summary(error)}") from error


def _modules_in_traceback(model: nn.Module, error: BaseException) -> list[str]:
    """Paths of ``model``'s submodules whose ``forward`` is on the error's traceback, innermost first."""
    names = {id(module): name for name, module in model.named_modules() if name}
    found: list[str] = []
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        tb = error.__traceback__
        while tb is not None:
            name = names.get(id(tb.tb_frame.f_locals.get("self")))
            if name is not None and name not in found:
                found.append(name)
            tb = tb.tb_next
        error = error.__cause__ or error.__context__
    return sorted(found, key=lambda n: -n.count("."))


def _modules_of_failed_op(exported: Any, message: str) -> list[str]:
    """Module paths (``n3.n1``) of the exported nodes the translator's report names, where it names one."""
    names = re.findall(r"Error when translating node %(\w+)", message)
    ops = re.findall(r"OpOverload\(op='aten\.(\w+)'", message)
    paths = []
    for node in exported.graph.nodes:
        target = str(node.target).removeprefix("aten.").split(".")[0]
        if node.name in names or any(op and target.startswith(op) for op in ops):
            stack = node.meta.get("nn_module_stack") or {}
            if stack:
                paths.append(list(stack.values())[-1][0])
    return paths


def _locate(model: nn.Module, paths: list[str]) -> str:
    """`` at graph node 'cell' / 'bad' (module n1.n1, Eig)`` for the first module path that maps to graph nodes."""
    for path in paths:
        module, labels = model, []
        for part in path.split("."):
            names: dict[str, Hashable] = getattr(module, "node_names", None) or {}
            if part in names:
                labels.append(names[part])
            module = getattr(module, part, None)
            if module is None:
                break
        if labels and module is not None:
            return f" at graph node {' / '.join(map(repr, labels))} (module {path}, {type(module).__name__})"
    return ""


def _summary(error: BaseException) -> str:
    """The first line of the exporter's 'Exception summary' where its report has one, else its first lines."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    match = re.search(r"## Exception summary\s*\n\s*(\S.*)", text)
    if match is None:
        return _first_lines(text, 3)
    return re.sub(r"<class '(?:\w+\.)*(\w+)'>", r"\1", match.group(1).strip())


def _first_lines(text: str, count: int) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " ".join(lines[:count]) + (" ..." if len(lines) > count else "")
