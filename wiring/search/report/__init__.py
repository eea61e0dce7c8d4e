"""One self-contained HTML page of a job: a black-box search, a one-shot search, or a ``wiring compare`` run.

``write_report(source, path, *, space=None)`` (also ``wiring.report``) reads ``source`` and writes the page to
``path``; what it reads is judged from the file itself (:func:`kind_of`):

- a black-box search storage (``wiring.search.run(storage=...)``, ``wiring search --storage``): best score so
  far against trials (and against simulated time where trials record ``time_cost`` or ``train_seconds``), the
  Pareto front of a multi-objective run, parameter importance (η² per decision, :mod:`.importance`), the best
  trials (drawn with :func:`wiring.draw` when ``space`` is given) and every trial in a sortable table;
- a one-shot checkpoint (a one-shot strategy's ``checkpoint=``, ``wiring search --strategy darts --storage``):
  its setup, α of every decision per epoch as heatmaps, each decision's strongest candidate, and with ``space``
  the architecture the α imply (encoding and drawing);
- a ``wiring compare`` output folder (or its ``results.json``): accuracy per generator with every graph's point,
  the tables, and the stage drawings in the folder.

The page needs nothing but itself: styles, script and images (PNG, base64) are inline, and its
Content-Security-Policy forbids loading anything else. A storage is opened read-only (no lock, no write), so a
report can be made, or served (:class:`~.serve.ReportServer`, ``wiring report --serve``), while the search runs.

See ``docs/report.md``.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from generators.checks import positive_int

from ..strategy import SearchError
from . import compare as _compare
from . import oneshot as _oneshot
from . import search as _search
from .page import Section, note, page
from .sources import COMPARE, ONESHOT, SEARCH, kind_of, read_compare, read_search, stamp

TITLES = {SEARCH: "search", ONESHOT: "one-shot search", COMPARE: "compare"}


def render(source: str | os.PathLike[str], *, space: Any = None, top: int = 3, live: str | None = None,
           drawings: MutableMapping[str, bytes | str] | None = None) -> str:
    """The report of ``source`` as HTML text (:func:`write_report` writes it).

    ``space`` (the search's space object) decodes the trials, names the decisions and lets the best ``top``
    architectures be drawn. ``live``: the source's :func:`~.sources.stamp`, for a page that polls its server and
    reloads when the source changes. ``drawings`` caches the drawings by encoding across calls."""
    positive_int("top", top, error=SearchError)
    kind = kind_of(source)
    path = Path(os.fsdecode(source))
    if kind == SEARCH:
        summary, sections = _search.sections(read_search(path, space), space, top=top, drawings=drawings)
    elif kind == ONESHOT:
        summary, sections = _oneshot.sections(path, space, drawings)
    else:
        summary, sections = _compare.sections(read_compare(path))
    summary = [("source", str(path)), *summary,
               ("generated", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime()) + (" (live: reloads as the source "
                                                                                      "changes)" if live else ""))]
    return page(f"wiring report: {TITLES[kind]} {path.name}", summary, sections, kind=kind, live=live)


def write_report(source: str | os.PathLike[str], path: str | os.PathLike[str], *, space: Any = None,
                 top: int = 3) -> Path:
    """Write the report of ``source`` (a search storage, a one-shot checkpoint, or a compare folder) to the HTML
    file ``path``, atomically (a page open in a browser is never half-written); returns ``path``.

    Raises :class:`~wiring.search.SearchError` naming the file for a source that is none of those, is damaged,
    or a ``path`` that cannot be written."""
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise SearchError(f"a report's path must be a file path, got {path!r}")
    target = Path(os.fsdecode(path))
    if target.is_dir():
        raise SearchError(f"cannot write the report to {str(target)!r}: it is a directory")
    folder = target.parent
    if not folder.is_dir():
        raise SearchError(f"cannot write the report to {str(target)!r}: directory {str(folder)!r} does not exist")
    text = render(source, space=space, top=top)
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    except OSError as error:
        raise SearchError(f"cannot write the report to {str(target)!r}: {error.strerror or error}") from None
    return target


report = write_report
"""The name ``wiring.report`` exports."""


def error_page(source: str | os.PathLike[str], error: BaseException, *, live: str | None = None) -> str:
    """A page saying, in one line, why ``source`` has no report (what a server shows until it has one)."""
    return page(f"wiring report: {Path(os.fsdecode(source)).name}", [("source", str(source))],
                [Section("error", "No report", note(str(error)))], kind="error", live=live)


def __getattr__(name: str) -> Any:
    if name == "ReportServer":  # deferred: http.server is only needed to serve
        from .serve import ReportServer

        return ReportServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ReportServer", "error_page", "kind_of", "render", "report", "stamp", "write_report"]
