"""The ``wiring`` command line: compare, generate, draw, info, train, search.

The one place that names concrete spaces. Every error is one line on stderr
and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import stat
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import networkx as nx
import torch

from spaces import randwire

from ..analysis import analyse
from ..cost import cost
from ..data import DATASETS, load_dataset
from ..draw import draw
from ..errors import GraphError
from .. import limits
from ..serialise import from_json, graph_hash, save, to_json
from ..train import OPTIMIZERS, train
from .args import assignments
from .compare import Settings, compare, table
from .search import add_parser as _search_parser

NETWORKS = {"small": randwire.small, "regular": randwire.regular, "cifar": randwire.cifar}
EXIT_ERROR = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, OSError) as error:
        print(f"wiring {args.command}: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"wiring {args.command}: interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wiring", description="Random wiring and neural architecture search on typed networkx DAGs.",
        epilog="Run 'wiring COMMAND --help' for the options of one command.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _compare_parser(commands)
    _generate_parser(commands)
    _draw_parser(commands)
    _info_parser(commands)
    _train_parser(commands)
    _search_parser(commands, _formatter)
    return parser


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.ArgumentDefaultsHelpFormatter(prog, max_help_position=32)


# -- compare ------------------------------------------------------------------


def _compare_parser(commands: Any) -> None:
    p = commands.add_parser(
        "compare", formatter_class=_formatter, help="the main job: compare RandWire graph generators",
        description="A miniature of the RandWire paper's generator comparison: for ER(0.2), BA(5) and WS(4, 0.75), "
                    "train several random networks each on an embedded dataset and print accuracy mean ± std. "
                    "Writes results.json, accuracy.png and one stage drawing per generator to --out.")
    p.add_argument("--dataset", default="digits", choices=sorted(DATASETS), help="embedded dataset")
    p.add_argument("--generators", default="er,ba,ws", help="comma-separated generators (er, ba, ws, ws_flex)")
    p.add_argument("--graphs", type=int, default=4, help="random graphs (networks) per generator")
    p.add_argument("--epochs", type=int, default=8, help="training epochs per network")
    p.add_argument("--channels", type=int, default=16, help="RandWire C")
    p.add_argument("--nodes", type=int, default=16, help="RandWire N (nodes per stage)")
    p.add_argument("--seed", type=int, default=0, help="first graph seed; also the training and split seed")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.01, help="learning rate")
    p.add_argument("--optimizer", default="adam", choices=OPTIMIZERS)
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    p.add_argument("--out", type=Path, default=Path("compare-results"), help="output directory")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_compare)


def _compare(args: argparse.Namespace) -> int:
    generators = tuple(g.strip() for g in args.generators.split(",") if g.strip())
    unknown = [g for g in generators if g not in randwire.GENERATORS]
    if unknown or not generators:
        raise GraphError(f"--generators must name some of {sorted(randwire.GENERATORS)}, got {args.generators!r}")
    for name in ("graphs", "epochs", "channels", "nodes"):
        if getattr(args, name) < 1:
            raise GraphError(f"--{name} must be at least 1, got {getattr(args, name)}")
    data = load_dataset(args.dataset, seed=args.seed)
    settings = Settings(generators, args.graphs, args.epochs, args.channels, args.nodes, args.seed,
                        args.batch_size, args.lr, args.optimizer, args.device)
    print(f"{data}; {args.graphs} graph(s) per generator, C={args.channels}, N={args.nodes}, "
          f"{args.epochs} epoch(s) each", flush=True)
    runs = compare(data, settings, args.out, progress=not args.quiet)
    print(table(runs, generators))
    print(f"\nwrote {args.out / 'results.json'}, {args.out / 'accuracy.png'} and "
          f"{', '.join(str(args.out / f'graph_{g}.png') for g in generators)}")
    return 0


# -- generate -----------------------------------------------------------------


def _generate_parser(commands: Any) -> None:
    p = commands.add_parser(
        "generate", formatter_class=_formatter, help="a random graph model to typed-DAG JSON",
        description="Draw a graph from a generator and write it as typed-DAG JSON: one RandWire stage by default, "
                    "or a whole RandWire network with --network.")
    p.add_argument("generator", choices=sorted(randwire.GENERATORS), help="graph model (paper settings by default)")
    p.add_argument("--nodes", type=int, default=32, help="nodes per stage (N)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="generator parameter, e.g. --param k=6 --param p=0.5 (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="generator seed")
    p.add_argument("--network", choices=sorted(NETWORKS), help="write a whole RandWire network of this regime")
    p.add_argument("--channels", type=int, default=None, help="C (default: 78 for a stage or the regime's default)")
    p.add_argument("--in-channels", type=int, default=3, help="channels of the input images")
    p.add_argument("--size", type=int, default=32, help="input image size (stage input, or network image_size)")
    p.add_argument("-o", "--output", type=Path, help="output file (default: stdout)")
    p.set_defaults(run=_generate)


def _generate(args: argparse.Namespace) -> int:
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
        print(f"wrote {path}", file=sys.stderr)


# -- draw / info --------------------------------------------------------------


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


def _draw_parser(commands: Any) -> None:
    p = commands.add_parser("draw", formatter_class=_formatter, help="typed-DAG JSON to a PNG drawing",
                            description="Draw a typed DAG, layered by topological order, ops labelled; nested "
                                        "subgraphs get panels of their own unless --expand inlines them.")
    p.add_argument("graph", type=Path, help="typed-DAG JSON file")
    p.add_argument("-o", "--output", type=Path, help="PNG file (default: the graph's name with .png)")
    p.add_argument("--expand", action="store_true", help="inline nested subgraphs")
    p.add_argument("--title", help="figure title")
    p.set_defaults(run=_draw)


def _draw(args: argparse.Namespace) -> int:
    G = _read_graph(args.graph)
    output = args.output or args.graph.with_suffix(".png")
    draw(G, output, expand=args.expand, title=args.title)
    print(f"wrote {output}")
    return 0


def _info_parser(commands: Any) -> None:
    p = commands.add_parser("info", formatter_class=_formatter, help="validate, cost and summarise a graph JSON",
                            description="Validate a typed-DAG JSON file and print its size, cost, ops and hash.")
    p.add_argument("graph", type=Path, help="typed-DAG JSON file")
    p.add_argument("--input-shape", help="input shape without batch, e.g. 3,224,224 (default: declared)")
    p.set_defaults(run=_info)


def _info(args: argparse.Namespace) -> int:
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


# -- train --------------------------------------------------------------------


def _train_parser(commands: Any) -> None:
    p = commands.add_parser(
        "train", formatter_class=_formatter, help="train a graph JSON or a RandWire network on a dataset",
        description="Train a typed DAG (a JSON file) or a RandWire network (--randwire) on an embedded dataset; "
                    "print validation and test accuracy; optionally save graph and weights.")
    p.add_argument("graph", type=Path, nargs="?", help="typed-DAG JSON file (or use --randwire)")
    p.add_argument("--randwire", choices=sorted(NETWORKS), help="build a RandWire network of this regime instead")
    p.add_argument("--generator", default="ws", choices=sorted(randwire.GENERATORS), help="with --randwire")
    p.add_argument("--channels", type=int, default=16, help="with --randwire: C")
    p.add_argument("--nodes", type=int, default=16, help="with --randwire: N")
    p.add_argument("--dataset", default="digits", choices=sorted(DATASETS))
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--optimizer", default="adam", choices=OPTIMIZERS)
    p.add_argument("--patience", type=int, default=None, help="stop after this many epochs without improvement")
    p.add_argument("--seed", type=int, default=0, help="graph, initialisation, split and shuffling seed")
    p.add_argument("--device", default="cpu")
    p.add_argument("--save", type=Path, help="write graph and trained weights to this file (wiring.save)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_train)


def _train(args: argparse.Namespace) -> int:
    if (args.graph is None) == (args.randwire is None):
        raise GraphError("give either a graph JSON file or --randwire REGIME, not both or neither")
    if args.save is not None and not args.save.parent.is_dir():  # fail before training, not after
        raise GraphError(f"cannot write {str(args.save)!r}: directory {str(args.save.parent)!r} does not exist")
    if args.save is not None and args.save.is_dir():
        raise GraphError(f"cannot write {str(args.save)!r}: it is a directory")
    data = load_dataset(args.dataset, seed=args.seed)
    if args.graph is not None:
        G = _read_graph(args.graph)
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
