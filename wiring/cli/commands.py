"""The commands other than ``wiring search``: compare, generate, draw, info, train.

Imported when one of them runs (``wiring.cli`` builds the parser without it): it imports torch.
"""

from __future__ import annotations

import argparse
import json
import stat
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import networkx as nx
import torch

from spaces import randwire

from .. import limits
from ..analysis import analyse
from ..cost import cost
from ..data import Dataset
from ..draw import draw
from ..errors import GraphError
from ..serialise import from_json, graph_hash, save, to_json
from ..train import train
from ..validate import validate
from .args import assignments, dataset_of, load_data
from .catalog import NETWORKS as REGIMES
from .compare import Interrupted, Settings, compare, table
from .report import announce

NETWORKS = {name: getattr(randwire, name) for name in REGIMES}
"""RandWire regime -> the function building its network."""


def run_compare(args: argparse.Namespace) -> int:
    generators = _names(args.generators, "--generators", sorted(randwire.GENERATORS))
    node_ops = None if args.node_op is None else _names(args.node_op, "--node-op", list(randwire.NODE_OPS))
    name, path, options = dataset_of(args)
    source = {"dataset": name, "path": None if path is None else str(Path(path).resolve()), **options}
    data = load_data(args)
    settings = Settings(generators, args.graphs, args.epochs, args.channels, args.nodes, args.seed,
                        args.batch_size, args.lr, args.optimizer, args.device, node_ops)
    grid = f" × {len(node_ops)} node op(s) ({', '.join(node_ops)})" if node_ops else ""
    print(f"{data}; {args.graphs} graph(s) per generator{grid}, C={args.channels}, N={args.nodes}, "
          f"{args.epochs} epoch(s) each", flush=True)
    try:
        runs = compare(data, settings, args.out, progress=not args.quiet, restart=args.restart, source=source,
                       report=lambda line: print(line, flush=True))
    except Interrupted as stop:
        print(f"wiring compare: interrupted: {stop.saved} of {stop.total} networks saved in {stop.path}; "
              f"rerun the same command to resume", file=sys.stderr)
        return 130
    channels = {op: next(r.channels for r in runs if r.node_op == op) for op in node_ops} if node_ops else None
    print(table(runs, generators, node_ops, channels))
    print(f"\nwrote {args.out / 'results.json'}, {args.out / 'accuracy.png'} and "
          f"{', '.join(str(args.out / f'graph_{g}.png') for g in generators)}")
    announce(args.out)
    return 0


def _names(text: str, flag: str, known: Sequence[str]) -> tuple[str, ...]:
    """The comma-separated names of ``text``, each in ``known`` and given once, else :class:`GraphError`."""
    names = tuple(g.strip() for g in text.split(",") if g.strip())
    unknown = [g for g in names if g not in known]
    if unknown or not names:
        raise GraphError(f"{flag} must name some of {', '.join(known)} (comma-separated), got {text!r}")
    twice = sorted({g for g in names if names.count(g) > 1})
    if twice:
        raise GraphError(f"{flag} names {', '.join(twice)} more than once, got {text!r}")
    return names


def run_generate(args: argparse.Namespace) -> int:
    params = assignments(args.param, "--param")
    if args.network:
        options = {"nodes": args.nodes, "generator": args.generator, "generator_params": params, "seed": args.seed,
                   "in_channels": args.in_channels, "image_size": args.size}
        if args.channels is not None:
            options["channels"] = args.channels
        G = NETWORKS[args.network](**options)
    else:
        topology = randwire.topology(args.generator, args.nodes, params, args.seed)
        channels = 78 if args.channels is None else args.channels
        G = randwire.stage(topology, args.in_channels, channels, size=[args.size, args.size])
    _write(to_json(G, indent=1), args.output)
    return 0


def _write(text: str, path: Path | None) -> None:
    if path is None:
        print(text)
    else:
        path.write_text(text + "\n")
        print(f"wrote {path}")  # on stdout, as draw, train and search report what they wrote


def _read_graph(path: Path) -> nx.DiGraph:
    """The typed DAG of a JSON file: a regular file (not a FIFO or device), its size checked before any read."""
    status = path.stat()  # a missing file: the OSError the CLI reports as for every command
    if not stat.S_ISREG(status.st_mode):
        raise GraphError(f"{path}: not a regular file (a typed-DAG JSON file is expected)")
    limit = limits.MAX_JSON_CHARS
    if status.st_size > limit:
        raise GraphError(f"{path}: {status.st_size} bytes exceeds the JSON limit of {limit}")
    with path.open("rb") as file:
        data = file.read(limit + 1)  # bounded, should the file grow meanwhile
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise GraphError(f"{path}: not a JSON text file") from None
    try:
        return from_json(text)
    except GraphError as error:
        raise GraphError(f"{path}: {error}") from None


def run_draw(args: argparse.Namespace) -> int:
    G = _read_graph(args.graph)
    output = args.output or args.graph.with_suffix(".png")
    draw(G, output, expand=args.expand, title=args.title)
    print(f"wrote {output}")
    return 0


def run_info(args: argparse.Namespace) -> int:
    G = _read_graph(args.graph)
    analysis = analyse(G)
    shape = _parse_shape(args.input_shape) if args.input_shape is not None else \
        analysis.nodes[analysis.inputs[0]].out_shape
    total = cost(G, shape)
    counts = Counter(_ops(G))
    print(f"{args.graph}: valid typed DAG (schema {G.graph.get('schema')})")
    print(f"  nodes {G.number_of_nodes()} ({sum(counts.values())} with nested subgraphs), edges {G.number_of_edges()}")
    print(f"  input {shape}  ->  output {analyse(G, {0: shape}).output_shape}")
    print(f"  params {total.params:,}   multiply-adds {total.macs:,}")
    print(f"  ops: {', '.join(f'{op}×{n}' for op, n in counts.most_common())}")
    for key in ("space", "generator"):
        if G.graph.get(key):
            print(f"  {key}: {json.dumps(G.graph[key])}")
    print(f"  hash {graph_hash(G)}")
    return 0


def _parse_shape(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(d) for d in text.split(","))
    except ValueError:
        raise GraphError(f"--input-shape takes comma-separated integers without the batch dimension, "
                         f"e.g. 3,32,32, got {text!r}") from None


def _ops(G: nx.DiGraph) -> list[str]:
    found = []
    for _, data in G.nodes(data=True):
        found.append(data["op"])
        if data["op"] == "subgraph":
            found.extend(_ops(data["params"]["graph"]))
    return found


def _trainable(G: nx.DiGraph, data: Dataset, path: Path) -> tuple[nx.DiGraph, Dataset]:
    """``G`` and ``data`` made to fit each other, saying so: the images fitted to the graph's input as
    ``wiring search`` fits them (:func:`~wiring.search.evaluators.fit_input`), and a graph that ends in a feature
    map (a ``wiring generate`` stage) given a classifier head."""
    from ..search.evaluators import fit_input  # deferred: it imports scipy, which other commands do not need

    analysis = analyse(G)
    if len(analysis.inputs) != 1:
        raise GraphError(f"{path}: train takes a graph with one input node, got {len(analysis.inputs)}")
    shape = tuple(analysis.nodes[analysis.inputs[0]].out_shape)
    if shape != tuple(data.input_shape):
        fitted = fit_input(data, shape)
        print(f"{data.name} images {tuple(data.input_shape)} fitted to the graph's input {shape} "
              f"(channels repeated, bilinear resize)", flush=True)
        data = fitted
    return with_head(G, data.num_classes, path), data


def with_head(G: nx.DiGraph, num_classes: int, path: Path | str = "the graph") -> nx.DiGraph:
    """``G`` if its output is logits ``(num_classes,)``; a copy with a ``head`` node (global average pool, then a
    linear layer to ``num_classes``: the classifier the spaces end in) before the output if it ends in one feature
    map ``(C, H, W)``, saying so; else :class:`GraphError` naming the output's shape."""
    analysis = analyse(G)
    shape = analysis.output_shape
    logits = shape[0] if shape and isinstance(shape[0], tuple) else shape  # (logits, aux logits, ...)
    if tuple(logits) == (num_classes,):
        return G
    producers = list(G.in_edges(analysis.output, data=True))
    if len(producers) != 1 or len(logits) != 3:
        raise GraphError(f"{path}: the graph's output has shape {shape}, not the logits ({num_classes},) of "
                         f"{num_classes} classes: end it in a classifier (op 'head' with num_classes={num_classes}) "
                         f"or in one feature map (C, H, W), to which train adds one")
    (source, output, attrs), = producers
    label = next(name for name in ("head", *(f"head_{i}" for i in range(1, len(G) + 2))) if name not in G)
    H = G.copy()
    H.remove_edge(source, output)
    H.add_node(label, op="head", params={"num_classes": num_classes})
    H.add_edge(source, label)
    H.add_edge(label, output, **attrs)
    validate(H)
    print(f"the graph ends in a {tuple(logits)} feature map, not logits: added node {label!r} (op 'head': global "
          f"average pool, linear to {num_classes} classes) before its output", flush=True)
    return H


def run_train(args: argparse.Namespace) -> int:
    if (args.graph is None) == (args.randwire is None):
        raise GraphError("give either a graph JSON file or --randwire REGIME, not both or neither")
    if args.save is not None and not args.save.parent.is_dir():  # fail before training, not after
        raise GraphError(f"cannot write {str(args.save)!r}: directory {str(args.save.parent)!r} does not exist")
    if args.save is not None and args.save.is_dir():
        raise GraphError(f"cannot write {str(args.save)!r}: it is a directory")
    data = load_data(args)
    if args.graph is not None:
        G, data = _trainable(_read_graph(args.graph), data, args.graph)
    else:
        G = NETWORKS[args.randwire](channels=args.channels, nodes=args.nodes, generator=args.generator,
                                    seed=args.seed, num_classes=data.num_classes, in_channels=data.input_shape[0],
                                    image_size=data.input_shape[1])
    result = train(G, data, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer,
                   device=args.device, seed=args.seed, progress=not args.quiet, early_stopping=args.patience)
    print(f"{data}")
    print(f"val accuracy {100 * result.val_accuracy:.2f}% (epoch {result.best_epoch})   "
          f"test accuracy {100 * result.test_accuracy:.2f}%   {result.epochs_run} epoch(s) in "
          f"{result.train_seconds:.1f}s{'   diverged' if result.diverged else ''}")
    if args.save:
        try:
            save(args.save, G, result.model.to(torch.device("cpu")))
        except RuntimeError as error:  # torch.save reports unwritable paths as RuntimeError
            raise GraphError(f"cannot write {str(args.save)!r}: {error}") from None
        print(f"wrote {args.save}")
    return 0
