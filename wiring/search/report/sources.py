"""What a report reads: which kind of job wrote a file or folder, and reading it without touching it.

- a black-box search storage (:mod:`wiring.search.storage`): opened read-only (an SQLite ``mode=ro`` connection:
  no lock taken, no write, no checkpoint of its journal), so a report can be made while the search writes to it;
  its rows are checked as :class:`~wiring.search.storage.Storage` checks them (decoded fields, digests);
- a one-shot checkpoint (:mod:`wiring.search.oneshot.checkpoint`): read with :func:`~wiring.search.oneshot.
  checkpoint.read` (``weights_only``, checksum verified);
- a ``wiring compare`` folder: its ``results.json`` (or that file itself) and the drawings beside it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..runner import SearchResult, Trial
from ..storage import SQLITE_HEADER, Storage, is_search_storage
from ..strategy import SearchError

SEARCH, ONESHOT, COMPARE = "search", "oneshot", "compare"
RESULTS = "results.json"
"""The file ``wiring compare`` writes into its folder."""


def kind_of(source: str | os.PathLike[str]) -> str:
    """``"search"``, ``"oneshot"`` or ``"compare"``: what ``source`` holds, judged from the file itself;
    :class:`SearchError` naming it for anything else (a missing path, a damaged or foreign file)."""
    path = _path(source)
    if path.is_dir():
        if (path / RESULTS).is_file():
            return COMPARE
        raise SearchError(f"{str(path)!r} is a folder without {RESULTS}: not a wiring compare results folder "
                          f"(give a search storage, a one-shot checkpoint or a compare folder)")
    if not path.exists():
        raise SearchError(f"{str(path)!r} does not exist (give a search storage, a one-shot checkpoint or a wiring "
                          f"compare results folder)")
    if not path.is_file():
        raise SearchError(f"{str(path)!r} is not a regular file")
    if is_search_storage(path):
        return SEARCH
    from ..oneshot.checkpoint import is_checkpoint  # deferred: it imports torch

    if is_checkpoint(path):
        return ONESHOT
    if path.name == RESULTS:
        return COMPARE
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(SQLITE_HEADER))
    except OSError as error:
        raise SearchError(f"cannot read {str(path)!r}: {error.strerror or error}") from None
    if head == SQLITE_HEADER:
        raise SearchError(f"{str(path)!r} is an SQLite database but not a search storage (no 'meta' and 'trials' "
                          f"tables, or damaged)")
    raise SearchError(f"{str(path)!r} is neither a search storage, a one-shot checkpoint nor a wiring compare "
                      f"{RESULTS}")


def _path(source: Any) -> Path:
    if not isinstance(source, (str, os.PathLike)) or not os.fspath(source):
        raise SearchError(f"a report's source must be a file or folder path, got {source!r}")
    return Path(os.fsdecode(source))


def stamp(source: str | os.PathLike[str]) -> str:
    """A string that changes whenever ``source`` changes: the modification time and size of the file, of its
    SQLite journal (``-wal``) while that holds something, or of every file of a compare folder. (An empty journal
    is left out: SQLite creates one for a reader, this module's included, when there is none.)"""
    path = _path(source)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file())
    else:
        files = [path, path.with_name(path.name + "-wal")]
    parts = []
    for f in files:
        try:
            status = f.stat()
        except OSError:
            continue
        if status.st_size or f == path:
            parts.append(f"{f.name}:{status.st_mtime_ns}:{status.st_size}")
    return "|".join(parts)


# -- a black-box search storage ------------------------------------------------------------------------


def search_setup(source: str | os.PathLike[str]) -> dict[str, str]:
    """The setup a storage records (its ``meta`` table: strategy, space and their settings...), read-only."""
    store = Storage(_path(source), readonly=True)
    try:
        return store.meta()
    finally:
        store.close()


def read_search(source: str | os.PathLike[str], space: Any = None) -> SearchResult:
    """The :class:`~wiring.search.SearchResult` recorded in a storage, read without locking or writing it; with
    ``space``, each trial's ``arch`` decoded (None where it does not decode)."""
    path = _path(source)
    store = Storage(path, readonly=True)
    try:
        rows, setup = store.rows(), store.meta()
    finally:
        store.close()
    trials = []
    for row in rows:
        arch = None
        if space is not None:
            try:
                arch = space.decode(row.encoding)
            except (ValueError, TypeError, KeyError):
                arch = None
        trials.append(Trial(number=row.number, encoding=row.encoding, status=row.status, score=row.score,
                            metrics=row.metrics, graph_hash=row.graph_hash, hyperparameters=row.hyperparameters,
                            started=row.started, finished=row.finished, duration=row.duration, error=row.error,
                            arch=arch))
    return SearchResult(trials, storage=path, setup=setup)


# -- a compare folder ----------------------------------------------------------------------------------

RUN_FIELDS = {"generator": str, "graph_seed": int, "params": int, "macs": int, "val_accuracy": float,
              "test_accuracy": float, "train_seconds": float, "epochs_run": int}
"""The fields of one run in ``results.json`` (``wiring.cli.compare.Run``) and their types."""


OPTIONAL_FIELDS = {"node_op": str, "channels": int}
"""Fields of a run of a generator × node-op grid (``wiring compare --node-op``)."""


@dataclass
class CompareResults:
    """A compare folder: where it is, what ``results.json`` says, and the stage drawings beside it.

    ``complete`` is False while the comparison runs (or after it was interrupted), None where the file does not
    say; ``extra`` holds its other top-level entries (``correlations``, ``generator_means``, ...)."""

    folder: Path
    dataset: str
    settings: dict[str, Any]
    runs: list[dict[str, Any]]
    drawings: list[Path] = field(default_factory=list)
    complete: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def generators(self) -> list[str]:
        """The generators in the settings' order (then any other a run names)."""
        order = [g for g in self.settings.get("generators") or [] if isinstance(g, str)]
        return order + sorted({r["generator"] for r in self.runs} - set(order))

    @property
    def node_ops(self) -> list[str]:
        """The node operations of a grid, in the settings' order; ``[]`` for a comparison of one node op."""
        order = [op for op in self.settings.get("node_ops") or [] if isinstance(op, str)]
        found = {r["node_op"] for r in self.runs if "node_op" in r}
        return order + sorted(found - set(order)) if (order or found) else []

    @property
    def expected(self) -> int | None:
        """How many networks the settings ask for (generators × graphs × node ops), or None if they do not say."""
        graphs = self.settings.get("graphs")
        if not isinstance(graphs, int) or not self.settings.get("generators"):
            return None
        return len(self.settings["generators"]) * graphs * max(1, len(self.settings.get("node_ops") or []))


def read_compare(source: str | os.PathLike[str]) -> CompareResults:
    """The results of a ``wiring compare`` folder (or of its ``results.json``); :class:`SearchError` naming the
    file and the field for a file ``wiring compare`` did not write."""
    path = _path(source)
    results = path / RESULTS if path.is_dir() else path
    folder = results.parent
    try:
        text = results.read_text(encoding="utf-8")
    except OSError as error:
        raise SearchError(f"cannot read {str(results)!r}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise SearchError(f"{str(results)!r} is not a wiring compare {RESULTS} (not UTF-8 text)") from None
    try:
        data = json.loads(text)
    except ValueError as error:
        raise SearchError(f"{str(results)!r} is not a wiring compare {RESULTS} (not JSON: {error})") from None
    if not isinstance(data, dict) or not isinstance(data.get("runs"), list):
        raise SearchError(f"{str(results)!r} is not a wiring compare {RESULTS} (no list of 'runs')")
    settings = data.get("settings") if isinstance(data.get("settings"), dict) else {}
    runs = []
    for i, run in enumerate(data["runs"]):
        if not isinstance(run, dict):
            raise SearchError(f"{str(results)!r}: run {i} is {run!r:.60}, not an object")
        for name, kind in [*RUN_FIELDS.items(), *((k, v) for k, v in OPTIONAL_FIELDS.items()
                                                  if run.get(k) is not None)]:
            value = run.get(name)
            ok = isinstance(value, str) if kind is str else (
                isinstance(value, (int, float)) and not isinstance(value, bool)
                and (kind is float or float(value).is_integer()))
            if not ok:
                raise SearchError(f"{str(results)!r}: run {i}: {name} is {value!r:.60}, not "
                                  f"{'a string' if kind is str else 'a number'}")
        runs.append(dict(run))
    drawings = sorted(p for p in folder.glob("graph_*.png") if p.is_file())
    complete = data.get("complete") if isinstance(data.get("complete"), bool) else None
    extra = {k: v for k, v in data.items() if k not in ("dataset", "settings", "runs", "complete")}
    return CompareResults(folder, str(data.get("dataset", "")), dict(settings), runs, drawings, complete, extra)


def read_png(path: Path) -> bytes | None:
    """The bytes of a PNG file, or None when it is not one (or cannot be read)."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return data if data.startswith(b"\x89PNG\r\n\x1a\n") else None
