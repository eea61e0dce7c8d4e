"""The ``wiring`` command line: compare, generate, draw, info, train, search, report.

This module builds the parser from names alone (:mod:`.catalog`), so ``wiring --help`` and
``wiring COMMAND --help`` import no torch; a command's code (:mod:`.commands`, :mod:`.run_search`,
the one place that names concrete spaces) is imported when it runs. Every error is one line on stderr
and a non-zero exit status, never a traceback; usage errors too (:class:`.args.Parser`): exit status 2, no usage
block. Results and "wrote FILE" lines go to stdout, warnings and errors to stderr. Output piped into a reader that
stops early (``wiring info g.json | head -1``) ends the command quietly, as Unix tools end on SIGPIPE: Python
ignores SIGPIPE, so the write raises :class:`BrokenPipeError`, which :func:`main` catches, pointing stdout at
``os.devnull`` so that nothing is written to the closed pipe at exit, and returning :data:`EXIT_PIPE`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from importlib import import_module
from pathlib import Path
from typing import Any

from .args import CHANNELS, POSITIVE, POSITIVE_REAL, HelpFormatter, Parser, add_data_options
from .catalog import DATASETS, GENERATORS, NETWORKS, OPTIMIZERS
from .search import add_parser as _search_parser

EXIT_ERROR = 2
EXIT_PIPE = 141
"""The exit status when stdout's reader has gone: 128 + SIGPIPE, what a shell reports for a tool SIGPIPE ended."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    try:
        try:
            return _main(argv)
        finally:  # what is still buffered is written now, where a closed pipe is handled, not at exit
            sys.stdout.flush()
    except BrokenPipeError:
        _stdout_to_devnull()
        return EXIT_PIPE


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except BrokenPipeError:
        raise  # the reader of stdout has gone: main() ends quietly
    except (ValueError, OSError) as error:
        print(f"wiring {args.command}: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"wiring {args.command}: interrupted", file=sys.stderr)
        return 130


def _stdout_to_devnull() -> None:
    """Point stdout's file descriptor at ``os.devnull``, so that the interpreter's last flush at exit does not
    write to the closed pipe (and report a second BrokenPipeError)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a file (a test's capture): nothing is flushed to a pipe
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="wiring", description="Random wiring and neural architecture search on typed networkx DAGs.",
        epilog="Run 'wiring COMMAND --help' for the options of one command.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _compare_parser(commands)
    _generate_parser(commands)
    _draw_parser(commands)
    _info_parser(commands)
    _train_parser(commands)
    _search_parser(commands, _formatter)
    _report_parser(commands)
    return parser


def _formatter(prog: str) -> argparse.HelpFormatter:
    return HelpFormatter(prog)


def _deferred(name: str, module: str = ".commands") -> Callable[[argparse.Namespace], int]:
    """The command ``<module>.<name>``, its module imported when the command runs (it imports torch)."""
    def run(args: argparse.Namespace) -> int:
        return getattr(import_module(module, __name__), name)(args)
    return run


# -- compare ------------------------------------------------------------------


def _compare_parser(commands: Any) -> None:
    p = commands.add_parser(
        "compare", formatter_class=_formatter, help="the main job: compare RandWire graph generators",
        description="A miniature of the RandWire paper's generator comparison: for ER(0.2), BA(5) and WS(4, 0.75), "
                    "train several random networks each on a dataset (the embedded digits, or your files: --data) "
                    "and print accuracy mean ± std. Writes results.json, accuracy.png and one stage drawing per "
                    "generator to --out. "
                    "results.json is saved after every network: after Ctrl-C, the same command resumes, training only "
                    "the missing networks (an unfinished comparison with other settings is refused, naming them; "
                    "a finished one is replaced). --node-op trains every generator under several node operations "
                    "(the paper's Fig. 6), each at the C matching the separable network's multiply-adds, and prints "
                    "the Pearson correlation between the node ops' series of generator means.")
    add_data_options(p, DATASETS, what="training data")
    p.add_argument("--generators", default="er,ba,ws", help="comma-separated generators (er, ba, ws, ws_flex)")
    p.add_argument("--graphs", type=POSITIVE, default=4, help="random graphs (networks) per generator")
    p.add_argument("--epochs", type=POSITIVE, default=8, help="training epochs per network")
    p.add_argument("--channels", type=CHANNELS, default=16, help="RandWire C")
    p.add_argument("--nodes", type=POSITIVE, default=16, help="RandWire N (nodes per stage)")
    p.add_argument("--seed", type=int, default=0, help="first graph seed; also the training and split seed")
    p.add_argument("--batch-size", type=POSITIVE, default=64)
    p.add_argument("--lr", type=POSITIVE_REAL, default=0.01, help="learning rate")
    p.add_argument("--optimizer", default="adam", choices=OPTIMIZERS)
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    p.add_argument("--out", type=Path, default=Path("compare-results"), help="output directory")
    p.add_argument("--node-op", default=None, metavar="OPS",
                   help="comma-separated node operations, a generator × node-op grid: sep (3×3 separable conv, "
                        "the paper's), conv (3×3 conv), maxpool, avgpool (3×3 pool, then 1×1 conv); each but sep at "
                        "the C whose multiply-adds match sep's at --channels (default: sep alone, no grid)")
    p.add_argument("--restart", action="store_true",
                   help="discard the networks saved in --out/results.json instead of resuming from them")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_deferred("run_compare"))

# -- generate -----------------------------------------------------------------


def _generate_parser(commands: Any) -> None:
    p = commands.add_parser(
        "generate", formatter_class=_formatter, help="a random graph model to typed-DAG JSON",
        description="Draw a graph from a generator and write it as typed-DAG JSON: one RandWire stage by default, "
                    "or a whole RandWire network with --network.")
    p.add_argument("generator", choices=GENERATORS, help="graph model (paper settings by default)")
    p.add_argument("--nodes", type=int, default=32, help="nodes per stage (N)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="generator parameter, e.g. --param k=6 --param p=0.5 (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="generator seed")
    p.add_argument("--network", choices=NETWORKS, help="write a whole RandWire network of this regime")
    p.add_argument("--channels", type=int, default=None, help="C (default: 78 for a stage or the regime's default)")
    p.add_argument("--in-channels", type=int, default=3, help="channels of the input images")
    p.add_argument("--size", type=int, default=32, help="input image size (stage input, or network image_size)")
    p.add_argument("-o", "--output", type=Path, help="output file (default: stdout)")
    p.set_defaults(run=_deferred("run_generate"))

# -- draw / info --------------------------------------------------------------


def _draw_parser(commands: Any) -> None:
    p = commands.add_parser("draw", formatter_class=_formatter, help="typed-DAG JSON to a PNG drawing",
                            description="Draw a typed DAG, layered by topological order, ops labelled; nested "
                                        "subgraphs get panels of their own unless --expand inlines them.")
    p.add_argument("graph", type=Path, help="typed-DAG JSON file")
    p.add_argument("-o", "--output", type=Path, help="PNG file (default: the graph's name with .png)")
    p.add_argument("--expand", action="store_true", help="inline nested subgraphs")
    p.add_argument("--title", help="figure title")
    p.set_defaults(run=_deferred("run_draw"))

def _info_parser(commands: Any) -> None:
    p = commands.add_parser("info", formatter_class=_formatter, help="validate, cost and summarise a graph JSON",
                            description="Validate a typed-DAG JSON file and print its size, cost, ops and hash.")
    p.add_argument("graph", type=Path, help="typed-DAG JSON file")
    p.add_argument("--input-shape", help="input shape without batch, e.g. 3,224,224 (default: the shape the "
                                         "graph's input node declares)")
    p.set_defaults(run=_deferred("run_info"))

# -- train --------------------------------------------------------------------


def _train_parser(commands: Any) -> None:
    p = commands.add_parser(
        "train", formatter_class=_formatter, help="train a graph JSON or a RandWire network on a dataset",
        description="Train a typed DAG (a JSON file) or a RandWire network (--randwire) on a dataset (the embedded "
                    "digits, or your files: --data); print validation and test accuracy; optionally save graph and "
                    "weights. The images are fitted "
                    "to a graph's input as wiring search fits them (channels repeated, bilinear resize), and a graph "
                    "that ends in a feature map, such as a stage from wiring generate, gets a classifier head "
                    "(global average pool, linear to the dataset's classes; saved with it).")
    p.add_argument("graph", type=Path, nargs="?", help="typed-DAG JSON file (or use --randwire)")
    p.add_argument("--randwire", choices=NETWORKS, help="build a RandWire network of this regime instead")
    p.add_argument("--generator", default="ws", choices=GENERATORS, help="with --randwire")
    p.add_argument("--channels", type=CHANNELS, default=16, help="with --randwire: C")
    p.add_argument("--nodes", type=POSITIVE, default=16, help="with --randwire: N")
    add_data_options(p, DATASETS, what="training data")
    p.add_argument("--epochs", type=POSITIVE, default=5, help="training epochs")
    p.add_argument("--batch-size", type=POSITIVE, default=64, help="examples per step")
    p.add_argument("--lr", type=POSITIVE_REAL, default=0.01, help="learning rate")
    p.add_argument("--optimizer", default="adam", choices=OPTIMIZERS, help="optimiser")
    p.add_argument("--patience", type=POSITIVE, default=None,
                   help="stop after this many epochs without improvement (default: train every epoch)")
    p.add_argument("--seed", type=int, default=0, help="graph, initialisation, split and shuffling seed")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    p.add_argument("--save", type=Path, help="write graph and trained weights to this file (wiring.save)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_deferred("run_train"))


# -- report -------------------------------------------------------------------


def _report_parser(commands: Any) -> None:
    p = commands.add_parser(
        "report", formatter_class=_formatter, help="one HTML page of a search, a one-shot search or a comparison",
        description="Write one self-contained HTML page (images and script inline, nothing fetched) of a black-box "
                    "search storage (progress, Pareto front, parameter importance, the best architectures drawn, "
                    "every trial in a sortable table), a one-shot checkpoint (α per epoch, the derived "
                    "architecture) or a wiring compare folder (accuracy per generator, tables, stage drawings). "
                    "The kind is read from the file. A storage is read without locking or writing it, so a report "
                    "can be made, or served with --serve, while the search runs.")
    p.add_argument("source", type=Path,
                   help="a search storage (wiring search --storage), a one-shot checkpoint, or a wiring compare "
                        "output folder")
    p.add_argument("-o", "--output", type=Path,
                   help="HTML file (default: the source with .html, e.g. search.html; report.html in a compare "
                        "folder)")
    p.add_argument("--serve", action="store_true",
                   help="serve the report on 127.0.0.1 instead, regenerated as the source changes; the page "
                        "reloads itself; Ctrl-C stops")
    p.add_argument("--port", type=int, default=None, help="with --serve: the port, 0..65535 (default: a free one)")
    p.add_argument("--top", type=POSITIVE, default=3, help="best trials drawn (when the space can be rebuilt)")
    p.set_defaults(run=_deferred("run", ".report"))  # it imports matplotlib, torch and the spaces
