"""Argument helpers shared by the commands: ``NAME=VALUE`` assignments, and the argparse types that refuse absurd
numbers (``--epochs 0``, ``--lr -1``, ``--data-fraction 2``) when the command line is parsed, before anything is
loaded or trained.

The types raise :class:`argparse.ArgumentTypeError`, which argparse reports as its own usage error, one line naming
the flag: ``wiring train: error: argument --epochs: must be an int >= 1, got 0``. The parser imports this module
for ``--help``, so it imports nothing of the library at module level.

:class:`Parser` makes every usage error that one line on stderr (exit status 2, no usage block): a wrong choice
names the valid ones, and a misspelt option or choice gets a close match ("did you mean"). :class:`HelpFormatter`
adds ``(default: X)`` to an option's help only where the help does not already say it and ``X`` means something.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NoReturn


def assignments(items: list[str], flag: str) -> dict[str, Any]:
    """``["k=4", "name=ws"]`` -> ``{"k": 4, "name": "ws"}`` (values read as JSON where they parse)."""
    from ..errors import GraphError  # deferred: the help imports this module, and nothing of the library

    parsed = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise GraphError(f"{flag} takes NAME=VALUE, got {item!r}")
        try:
            parsed[name] = json.loads(value)
        except ValueError:
            parsed[name] = value
    return parsed


def int_at_least(low: int) -> Callable[[str], int]:
    """An argparse ``type``: an int >= ``low``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an int >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an int >= {low}, got {value}")
        return value
    parse.__name__ = f"int >= {low}"
    return parse


def real_in(low: float, high: float | None = None, *, include_low: bool = False) -> Callable[[str], float]:
    """An argparse ``type``: a finite real above ``low`` (or at it, with ``include_low``) and at most ``high``."""
    rule = f"{'>=' if include_low else '>'} {low:g}" if high is None else \
        f"in {'[' if include_low else '('}{low:g}, {high:g}]"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        above = value >= low if include_low else value > low
        if not (math.isfinite(value) and above and (high is None or value <= high)):
            raise argparse.ArgumentTypeError(f"must be a number {rule}, got {text!r}")
        return value
    parse.__name__ = f"number {rule}"
    return parse


POSITIVE = int_at_least(1)
"""An int >= 1: epochs, trials, graphs, nodes, batch sizes, workers."""
NON_NEGATIVE = int_at_least(0)
"""An int >= 0: optional extra epochs."""
CHANNELS = int_at_least(2)
"""RandWire's C: conv1 has C // 2 channels, so at least 2."""
POSITIVE_REAL = real_in(0)
"""A finite real > 0: learning rates, seconds."""
FRACTION = real_in(0, 1)
"""A finite real in (0, 1]: a fraction of a split."""


def add_data_options(parser: argparse.ArgumentParser, datasets: tuple[str, ...], *, what: str) -> None:
    """``--dataset``, ``--data PATH``, ``--image-size`` and ``--limit`` on ``parser`` (see :func:`dataset_of`)."""
    parser.add_argument("--dataset", choices=datasets, default=None,
                        help=f"{what}: digits (embedded, the default without --data), cifar10 / cifar100 (the "
                             f"official binary files in --data) or folder (an image folder --data/<class>/<image>); "
                             f"inferred from --data when left out")
    parser.add_argument("--data", type=str, metavar="PATH", default=None,
                        help="where the dataset's files are: the directory holding cifar-10-batches-bin/ or "
                             "cifar-100-binary/ (or that directory), or an image folder")
    parser.add_argument("--image-size", type=int_at_least(1), metavar="N", default=None,
                        help="folder: resize every image to N×N (needed when their sizes differ)")
    parser.add_argument("--limit", type=int_at_least(1), metavar="N", default=None,
                        help="use a stratified subsample of N examples (CIFAR: of its training files)")


def dataset_of(args: argparse.Namespace) -> tuple[str, str | None, dict[str, Any]]:
    """(dataset name, path, reader options) of :func:`add_data_options`' flags: without ``--dataset``, digits,
    or with ``--data`` what the directory holds (CIFAR-10 / CIFAR-100 binary files, else an image folder)."""
    from ..data import DataError
    from ..data.readers import dataset_in

    name, path = args.dataset, args.data
    if name is None:
        name = "digits" if path is None else dataset_in(path)
    if name == "digits" and path is not None:
        raise DataError(f"--data {path}: digits is embedded and reads no files; give --dataset "
                        f"cifar10, cifar100 or folder")
    if name != "digits" and path is None:
        raise DataError(f"--dataset {name} reads files: give --data PATH")
    if args.image_size is not None and name != "folder":
        raise DataError(f"--image-size applies to --dataset folder, not {name}")
    options: dict[str, Any] = {"limit": args.limit}
    if args.image_size is not None:
        options["size"] = args.image_size
    return name, path, options


def load_data(args: argparse.Namespace) -> Any:
    """The dataset :func:`add_data_options`' flags name, split with ``args.seed``."""
    from ..data import load_dataset

    name, path, options = dataset_of(args)
    return load_dataset(name, path=path, seed=args.seed, **options)


# -- the parser and its help ------------------------------------------------------------------------------------


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'X'?)`` for the choice closest to ``word`` (difflib), or ``""`` when none is close."""
    match = difflib.get_close_matches(word, [str(c) for c in choices], n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def invalid_choice(value: Any, choices: Iterable[Any]) -> str:
    """``invalid choice 'x' (did you mean 'y'?); choose from a, b, c``."""
    names = [str(c) for c in choices]
    return f"invalid choice {value!r}{did_you_mean(str(value), names)}; choose from {', '.join(names)}"


class Parser(argparse.ArgumentParser):
    """An :class:`argparse.ArgumentParser` (and, through ``add_subparsers``, its commands' parsers) whose usage
    errors are one line on stderr, ``PROG: error: MESSAGE``, exit status 2, without the usage block: the usage of
    a command with many options is ten lines that bury the one that matters. A wrong choice names the valid ones
    and the closest ("did you mean"); an unknown option is reported by the command it was given to, with the
    command's closest option."""

    def error(self, message: str) -> NoReturn:
        if message.startswith("the following arguments are required: "):  # and what they take
            for action in self._actions:
                if action.required and action.choices is not None:
                    name = action.option_strings[0] if action.option_strings else action.metavar or action.dest
                    message += f"; {name} is one of {', '.join(map(str, action.choices))}"
        self.exit(2, f"{self.prog}: error: {message}\n")

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        if action.choices is not None and value not in action.choices:
            raise argparse.ArgumentError(action, invalid_choice(value, action.choices))

    def parse_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                   namespace: argparse.Namespace | None = None) -> argparse.Namespace:
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            parser = self._command_parser(parsed)
            parser.error(parser.unrecognized(extras))
        return parsed

    def _command_parser(self, parsed: argparse.Namespace) -> Parser:
        """The parser of the command ``parsed`` names (``wiring search``), else this one."""
        for action in self._actions:
            if isinstance(action.choices, dict) and getattr(parsed, action.dest or "", None) in action.choices:
                found = action.choices[getattr(parsed, action.dest)]
                return found._command_parser(parsed) if isinstance(found, Parser) else found
        return self

    def unrecognized(self, extras: Sequence[str]) -> str:
        """``unrecognized argument --parm (did you mean '--param'?)``, or the help to read when nothing is close."""
        options = [o for o in self._option_string_actions if o.startswith("--")]
        hints = "".join(did_you_mean(word.partition("=")[0], options) for word in extras if word.startswith("-"))
        return (f"unrecognized argument{'s' if len(extras) > 1 else ''}: {' '.join(extras)}"
                + (hints or f"; see '{self.prog} --help'"))


class HelpFormatter(argparse.HelpFormatter):
    """Options listed up to column 32, each help followed by ``(default: X)`` once: not where the help already
    says its default, nor where ``X`` is ``None``, ``False`` or empty (a flag, an option that is off unless
    given)."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "default" in text.lower() or default is None or default is False or default is argparse.SUPPRESS \
                or default == []:
            return text
        return f"{text} (default: %(default)s)"
