"""The ``wiring search`` parser and help: a black-box strategy recorded in a resumable SQLite storage, or a one-shot
strategy (:mod:`wiring.cli.oneshot`) checkpointed to a resumable file. Built from names alone (:mod:`.catalog`);
the search itself (:mod:`.run_search`) is imported when it runs."""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .args import FRACTION, NON_NEGATIVE, POSITIVE, POSITIVE_REAL, add_data_options
from .catalog import BLACK_BOX, DATASETS, IMAGE_SPACES, SPACES, STRATEGIES, TABLE_SPACES

STRATEGY_NAMES = {name.lower(): name for name in BLACK_BOX}
BLACK_BOX_ONLY = {"budget": 20, "executor": "inline", "workers": 2, "ray_address": None, "timeout": None,
                  "objectives": None, "width": None}
"""Options of black-box strategies only, with their defaults: a one-shot search refuses any of them given."""
ONE_SHOT_ONLY = {"save": None, "retrain_epochs": 0}
"""Options of one-shot strategies only, with their defaults: a black-box search refuses any of them given."""
TRAINING_ONLY = {"dataset": None, "data": None, "image_size": None, "limit": None, "epochs": 2, "data_fraction": 1.0}
"""Options of a search that trains, with their defaults: a black-box search of a table space (:data:`TABLE_SPACES`,
which looks its candidates up) refuses any of them given."""

DESCRIPTION = f"""\
Search a space with a strategy, on a dataset (the embedded digits or your files, --data; images fitted to the
space's input).

Black-box strategies train every candidate for --epochs (or, for {', '.join(TABLE_SPACES)}, look it up in
the benchmark's table: no data, no training) and record every trial in --storage; the table of
trials, best first, ends with a legend of its columns.
One-shot strategies train the space's supernet once for --epochs, derive one architecture and
print its encoding; --storage is their checkpoint.
Either way, --param sets the strategy's own settings (the paper's by default: a population
or initial design at least --budget is warned about, e.g. regularizedevolution's population
100; use --param population=10 --param sample=3 for a budget of 50), and running the same
command again continues a stopped search.

Which options apply (one given where it does not is refused):
  every search        --space --strategy --storage --seed --full --option --param --plot --quiet
  a search that trains (every one-shot search; black-box on every space but {', '.join(TABLE_SPACES)})
                      --dataset --data --image-size --limit --epochs --data-fraction
  black-box only      --budget --executor --workers --ray-address --timeout --objectives --width
  one-shot only       --save --retrain-epochs"""


def add_parser(commands: Any, formatter: Callable[[str], argparse.HelpFormatter]) -> None:
    """Add ``wiring search``; ``formatter`` lays out its options, the description and epilog keep their lines.

    The options that apply to some searches only (:data:`BLACK_BOX_ONLY`, :data:`ONE_SHOT_ONLY`,
    :data:`TRAINING_ONLY`) parse to ``None`` when not given, so that a search can refuse one given where it does
    not apply, even at its default value; :func:`wiring.cli.run_search.search` then fills in their defaults."""
    p = commands.add_parser(
        "search", formatter_class=_as_written(formatter), help="search a space with a strategy (resumable)",
        description=DESCRIPTION, epilog=epilog())
    p.add_argument("--space", required=True, choices=SPACES, metavar="SPACE",
                   help=f"search space: {', '.join(SPACES)}")
    p.add_argument("--strategy", default="regularizedevolution", metavar="NAME",
                   choices=sorted(STRATEGY_NAMES) + list(STRATEGIES), help="search strategy (listed below)")
    p.add_argument("--budget", type=POSITIVE, metavar="N",
                   help=f"black-box: trials in all, a continued storage's own included (default: "
                        f"{BLACK_BOX_ONLY['budget']})")
    p.add_argument("--storage", type=Path, metavar="PATH",
                   help="black-box: SQLite file recording every trial; one-shot: checkpoint file saved every "
                        "epoch. Run the same command again to continue (default: none: trials kept in memory, no "
                        "checkpoint)")
    p.add_argument("--seed", type=int, default=0, help="strategy seed (same seed, same trajectory)")
    p.add_argument("--full", action="store_true", help="the space at its default (paper) size, not SMALL")
    p.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                   help="space option, e.g. --option channels=8 (repeatable; a wrong name lists the space's)")
    add_data_options(p, DATASETS, what=f"a search that trains (not black-box on {', '.join(TABLE_SPACES)}): "
                                       f"training data, images fitted to the space's input")
    p.add_argument("--epochs", type=POSITIVE, metavar="N",
                   help=f"one-shot: supernet training epochs; black-box: training epochs per candidate (not "
                        f"{', '.join(TABLE_SPACES)}) (default: {TRAINING_ONLY['epochs']})")
    p.add_argument("--data-fraction", type=FRACTION, metavar="F",
                   help="fraction of the training split used (one-shot: by the search and --retrain-epochs; "
                        "default: 1, all of it)")
    p.add_argument("--executor", choices=("inline", "process", "ray"),
                   help="black-box: where trials run: in-process, a local process pool, or Ray (loopback unless "
                        "--ray-address) (default: inline)")
    p.add_argument("--workers", type=POSITIVE, metavar="N",
                   help=f"black-box: workers of the process pool or Ray (default: {BLACK_BOX_ONLY['workers']})")
    p.add_argument("--ray-address", metavar="ADDRESS", help="black-box: address of an existing Ray cluster")
    p.add_argument("--timeout", type=POSITIVE_REAL, metavar="SECONDS", help="black-box: seconds per trial")
    p.add_argument("--objectives", metavar="NAME:DIR,...",
                   help="black-box: several objectives, e.g. accuracy:max,params:min (names: accuracy, "
                        "test_accuracy, params, macs, and nasbench_graph's table columns); the table then lists "
                        "the Pareto front; use a multi-objective strategy (nsga2, randomsearch)")
    p.add_argument("--width", type=POSITIVE, metavar="N",
                   help="black-box: cut the encodings in the table of trials to N characters, ending in '…' "
                        "(default: printed whole)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a strategy setting passed to its constructor, e.g. --param population=10 (black-box) or "
                        "--param batch_size=32 --param device=cuda (one-shot) (repeatable; a wrong name lists the "
                        "valid ones)")
    p.add_argument("--save", type=Path, metavar="PATH",
                   help="one-shot: write the derived network (typed DAG, with its weights after --retrain-epochs) "
                        "with wiring.save")
    p.add_argument("--retrain-epochs", type=NON_NEGATIVE, metavar="N",
                   help="one-shot: train the derived network from scratch for this many epochs and print its "
                        "test accuracy (default: 0, none)")
    p.add_argument("--plot", type=Path, metavar="PATH",
                   help="a PNG file: black-box: best-so-far vs trials; one-shot with α: each candidate's weight per "
                        "epoch")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_search)


def _search(args: argparse.Namespace) -> int:
    from .run_search import search  # deferred: it imports torch and every strategy, which the help does not need
    return search(args)


def epilog() -> str:
    """The strategy table: black-box names, then each one-shot strategy with the spaces it supports."""
    image = IMAGE_SPACES
    lines = textwrap.wrap(f"black-box, on any space: {', '.join(sorted(STRATEGY_NAMES))}", 96,
                          initial_indent="  ", subsequent_indent="    ")
    lines += textwrap.wrap(f"one-shot, on the spaces listed (image spaces: {', '.join(image)}):", 96,
                           initial_indent="  ", subsequent_indent="    ")
    for name, entry in STRATEGIES.items():
        supported = "image spaces" if entry.spaces == image else ", ".join(entry.spaces)
        lines.append(f"    {name:<10} {entry.name:<13} {supported}")
    return "\n".join(["strategies:", *lines])


def _as_written(formatter: Callable[[str], argparse.HelpFormatter]) -> Callable[[str], argparse.HelpFormatter]:
    """``formatter``, printing the description and epilog with their own line breaks (as
    :class:`argparse.RawDescriptionHelpFormatter` does)."""
    def make(prog: str) -> argparse.HelpFormatter:
        help_formatter = formatter(prog)
        help_formatter._fill_text = lambda text, width, indent: "".join(  # type: ignore[method-assign]
            indent + line for line in text.splitlines(keepends=True))
        return help_formatter
    return make
