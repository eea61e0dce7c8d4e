"""The report of a black-box search storage: progress, Pareto front, parameter importance, best trials, trials."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import MutableMapping, Sequence
from pathlib import Path
from typing import Any

from ..runner import SearchResult, Trial
from .importance import importances
from .page import Column, Section, cell, escape, figure_png, image, note, number, table

TIME_METRICS = ("time_cost", "train_seconds")
"""Metrics holding a trial's simulated (or measured) training seconds, in order of preference: NAS-Bench-201's
``time_cost`` (what :func:`wiring.search.run` charges a ``time_budget`` by default), the evaluators'
``train_seconds``."""

MAX_ROWS = 5000
"""Trials the table lists at most (the best by score when there are more)."""

MAX_METRICS = 12
"""Metric columns the table shows at most (params and MACs first, then by name)."""

ERROR_CHARS = 4000
"""Characters of a failed trial's error text kept in the table (its last line is always shown)."""


def sections(result: SearchResult, space: Any = None, *, top: int = 3,
             drawings: MutableMapping[str, bytes | str] | None = None) -> tuple[list[tuple[str, Any]], list[Section]]:
    """The summary lines and sections of ``result``'s report; ``drawings`` caches drawings by encoding."""
    setup = result.setup
    counts = {status: sum(t.status == status for t in result.trials) for status in ("complete", "failed",
                                                                                     "running", "stopped")}
    best = result.best
    summary: list[tuple[str, Any]] = [
        ("strategy", setup.get("strategy", "?").rpartition(".")[2] + _settings(setup.get("settings"))),
        ("space", setup.get("space", "?")),
        ("seed", setup.get("seed", "?")),
        ("objective", setup.get("objective", "?")),
    ]
    if result.objectives:
        summary.append(("objectives", ", ".join(f"{k} ({v})" for k, v in result.objectives.items())))
    summary.append(("trials", f"{len(result.trials)}: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
                    if result.trials else "none yet"))
    summary.append(("best", "no successful trial yet" if best is None else
                    f"#{best.number}: score {number(best.score)} ({_clip(best.encoding, 120)})"))
    parts = [Section("progress", "Progress", _progress(result))]
    if result.objectives and len(result.objectives) >= 2:
        parts.append(Section("pareto", "Pareto front", _pareto(result)))
    found = importances(result.trials, space)
    if found is not None and found[1]:
        parts.append(Section("importance", "Parameter importance", _importance(*found)))
    parts.append(Section("best", "Best trials", _best(result, space, top, drawings)))
    parts.append(Section("trials", "Trials", _trials(result)))
    return summary, parts


def _settings(text: str | None) -> str:
    try:
        values = json.loads(text) if text else {}
    except ValueError:
        return ""
    if not isinstance(values, dict) or not values:
        return ""
    return " (" + ", ".join(f"{k}={v}" for k, v in sorted(values.items()) if not isinstance(v, (dict, list)))[:200] \
        + ")"


def _clip(text: str | None, width: int) -> str:
    text = text or ""
    return text if len(text) <= width else text[:width - 1] + "…"


def _last_line(text: str | None) -> str:
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _scalar(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# -- progress ------------------------------------------------------------------------------------------


def time_metric(trials: Sequence[Trial]) -> str | None:
    """The first of :data:`TIME_METRICS` that some complete trial records, or None."""
    for name in TIME_METRICS:
        if any(_scalar(t.metrics.get(name)) for t in trials if t.status == "complete"):
            return name
    return None


def _progress(result: SearchResult) -> str:
    from matplotlib.figure import Figure

    trials = result.trials
    if not trials:
        return note("No trial recorded yet.")
    metric = time_metric(trials)
    wall = metric is None and any(t.finished is not None for t in trials)
    panels = 2 if (metric or wall) else 1
    fig = Figure(figsize=(6.2 * panels, 3.8))
    ax = fig.add_subplot(1, panels, 1)
    complete = [t for t in trials if t.status == "complete"]
    failed = [t for t in trials if t.status == "failed"]
    ax.scatter([t.number for t in complete], [t.score for t in complete], s=10, alpha=0.45, color="tab:gray",
               label="trial score")
    if failed and complete:
        low = min(t.score for t in complete)
        ax.scatter([t.number for t in failed], [low] * len(failed), marker="x", s=16, color="tab:red",
                   label="failed")
    curve = result.best_so_far()
    xs = [t.number for t, b in zip(trials, curve) if b is not None]
    ys = [b for b in curve if b is not None]
    if xs:
        ax.step(xs, ys, where="post", color="tab:blue", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel("score")
    ax.set_title("best so far against trials", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    text = ""
    if panels == 2:
        ax2 = fig.add_subplot(1, 2, 2)
        times, best_curve = _against_time(result, metric)
        if times:
            ax2.step(times, best_curve, where="post", color="tab:blue")
            ax2.plot(times, best_curve, ".", color="tab:blue", markersize=3)
        label = (f"simulated time (s): the sum of the trials' {metric}" if metric
                 else "wall-clock time since the first trial started (s)")
        ax2.set_xlabel(label, fontsize=9)
        ax2.set_ylabel("best score so far")
        ax2.set_title("best so far against " + ("simulated time" if metric else "time"), fontsize=10)
        ax2.grid(True, alpha=0.3)
        text = note(f"Right: each finished trial adds its {metric} metric to the clock (a failed trial without it "
                    f"adds its wall-clock duration), in trial order, as a time budget counts it." if metric else
                    "Right: the trials record no simulated time (time_cost or train_seconds), so this is the "
                    "wall-clock time at which each trial finished.")
    fig.tight_layout()
    return image(figure_png(fig), "best score so far against trials") + text


def _against_time(result: SearchResult, metric: str | None) -> tuple[list[float], list[float]]:
    """Best score so far against the clock: the simulated clock (sum of ``metric``) in trial order, or the wall
    clock (finish time since the first start) in finishing order."""
    finished = [t for t in result.trials if t.status in ("complete", "failed")]
    if metric is None:
        finished = sorted((t for t in finished if t.finished is not None), key=lambda t: t.finished)
        starts = [t.started for t in result.trials if t.started is not None]
        origin = min(starts) if starts else (finished[0].finished if finished else 0.0)
    clock, best, times, values = 0.0, None, [], []
    for t in finished:
        if metric is None:
            now = t.finished - origin
        else:
            cost = t.metrics.get(metric)
            clock += cost if _scalar(cost) else (t.duration or 0.0)
            now = clock
        if t.status == "complete" and (best is None or t.score > best):
            best = t.score
        if best is not None:
            times.append(now)
            values.append(best)
    return times, values


# -- Pareto front --------------------------------------------------------------------------------------


def _pareto(result: SearchResult) -> str:
    objectives = result.objectives or {}
    if not result.complete:
        return note("No complete trial yet.")
    value = lambda t, name: t.score if name == "score" else t.metrics.get(name)  # noqa: E731
    first = next(iter(objectives))
    front = sorted(result.front, key=lambda t: (not _scalar(value(t, first)), value(t, first) or 0))
    try:
        with tempfile.TemporaryDirectory(prefix="wiring-report-") as folder:
            figure = image(result.plot_front(Path(folder) / "front.png").read_bytes(), "Pareto front")
    except (KeyError, TypeError, ValueError) as error:  # an objective some trial lacks
        figure = note(f"No plot of the front ({type(error).__name__}: {error}).")
    columns = [Column("number", "#", numeric=True)] + [
        Column(name, f"{name} ({direction})", descending=direction == "max", numeric=True)
        for name, direction in objectives.items()] + [Column("encoding", "encoding")]
    rows = [[cell(t.number), *(cell(value(t, n)) for n in objectives), f'<td class="enc">{escape(t.encoding)}</td>']
            for t in front]
    shown = f" (plotted: the first two of {len(objectives)} objectives)" if len(objectives) > 2 else ""
    return (figure +
            note(f"{len(front)} trials on the front: no other feasible complete trial is at least as good in every "
                 f"objective and better in one{shown}.") +
            table("front-table", columns, rows))


# -- parameter importance ------------------------------------------------------------------------------


def _importance(source: str, found: list[Any]) -> str:
    from matplotlib.figure import Figure

    shown = found[:20]
    fig = Figure(figsize=(6.4, 0.6 + 0.32 * len(shown)))
    ax = fig.add_subplot()
    names = [i.name for i in shown][::-1]
    ax.barh(names, [i.eta2 for i in shown][::-1], color="tab:blue")
    ax.set_xlim(0, 1)
    ax.set_xlabel("η²: share of the score's variance explained by the parameter alone")
    ax.tick_params(axis="y", labelsize=8)
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    columns = [Column("parameter", "parameter"), Column("eta2", "η²", descending=True, numeric=True),
               Column("values", "values", numeric=True), Column("best", "best value (trials, mean score)"),
               Column("worst", "worst value (trials, mean score)")]
    rows = [[cell(i.name), cell(i.eta2, text=f"{i.eta2:.3f}"), cell(len(i.groups)),
             cell(f"{i.best[0]} ({i.best[1]}, {number(i.best[2], '.4g')})"),
             cell(f"{i.groups[-1][0]} ({i.groups[-1][1]}, {number(i.groups[-1][2], '.4g')})")] for i in found]
    where = ("the space's decisions (each trial's choice per decision)" if source == "decisions"
             else "the recorded hyperparameters (numbers with many values in 5 bins of equal counts)")
    return (image(figure_png(fig), "parameter importance") +
            note(f"Per parameter, from {where}: the complete trials grouped by its value, η² = the variance of the "
                 f"group means (weighted by trials) over the variance of the scores, the main effect of a one-way "
                 f"ANOVA. 0: the value does not move the mean score; 1: it alone fixes the score. Few trials per "
                 f"value inflate it.") +
            table("importance-table", columns, rows))


# -- best trials and their drawings --------------------------------------------------------------------


def ranked(result: SearchResult) -> list[Trial]:
    """Complete trials best first, as :attr:`SearchResult.best` ranks them (feasible first, then score)."""
    def violation(t: Trial) -> float:
        v = t.metrics.get("violation", 0.0)
        return v if _scalar(v) else 0.0
    return sorted(result.complete, key=lambda t: (violation(t), -t.score, t.number))


def _best(result: SearchResult, space: Any, top: int, drawings: MutableMapping[str, bytes | str] | None) -> str:
    best = ranked(result)[:top]
    if not best:
        return note("No complete trial yet.")
    columns = [Column("rank", "rank", numeric=True), Column("number", "#", numeric=True),
               Column("score", "score", descending=True, numeric=True), Column("encoding", "encoding")]
    rows = [[cell(i + 1), cell(t.number), cell(t.score), f'<td class="enc">{escape(t.encoding)}</td>']
            for i, t in enumerate(best)]
    out = table("best-table", columns, rows)
    if space is None:
        return out + note("Drawings need the space: wiring report rebuilds it from what the storage records; "
                          "the library function takes space=.")
    drawings = {} if drawings is None else drawings
    figures = []
    for i, t in enumerate(best):
        drawn = draw_arch(space, t.arch, t.encoding, drawings,
                          title=f"#{t.number} (rank {i + 1}): score {number(t.score, '.4g')}")
        figures.append(image(drawn, f"architecture of trial {t.number}",
                             caption=f"rank {i + 1}: trial #{t.number}, score {number(t.score)}")
                       if isinstance(drawn, bytes) else note(f"Trial #{t.number}: {drawn}"))
    return out + "".join(figures)


def draw_arch(space: Any, arch: Any, encoding: str, cache: MutableMapping[str, bytes | str], *,
              title: str | None = None, dpi: int = 60) -> bytes | str:
    """A PNG of ``space.to_graph(arch)`` drawn by :func:`wiring.draw` (cached by encoding), or one line saying
    why there is none."""
    if encoding in cache:
        return cache[encoding]
    from ...draw import draw

    if arch is None:
        found: bytes | str = "its encoding does not decode in the given space"
    else:
        try:
            G = space.to_graph(arch)
            with tempfile.TemporaryDirectory(prefix="wiring-report-") as folder:
                path = os.path.join(folder, "arch.png")
                draw(G, path, title=title, dpi=dpi)
                found = Path(path).read_bytes()
        except (ValueError, TypeError, KeyError) as error:  # the library's errors are ValueErrors
            found = f"no drawing ({_last_line(str(error)) or type(error).__name__})"
    cache[encoding] = found
    return found


# -- the trial table -----------------------------------------------------------------------------------


def _trials(result: SearchResult) -> str:
    trials = result.trials
    if not trials:
        return note("No trial recorded yet.")
    shown = trials
    remark = ""
    if len(trials) > MAX_ROWS:
        keep = {t.number for t in ranked(result)[:MAX_ROWS]}
        shown = [t for t in trials if t.number in keep]
        remark = note(f"Showing the {len(shown)} best of {len(trials)} trials.")
    names = sorted({k for t in trials for k, v in t.metrics.items() if _scalar(v)})
    first = [n for n in ("params", "macs") if n in names]
    others = [n for n in names if n not in first and n != "violation"]
    metrics = (first + others)[:MAX_METRICS]
    titles = {"params": "params", "macs": "MACs"}
    columns = ([Column("number", "#", numeric=True), Column("status", "status"),
                Column("score", "score", descending=True, numeric=True)]
               + [Column(m, titles.get(m, m), numeric=True) for m in metrics]
               + [Column("seconds", "seconds", numeric=True), Column("encoding", "encoding"),
                  Column("error", "error")])
    best = result.best
    rows = []
    for t in shown:
        error = ""
        if t.error:
            last = escape(_clip(_last_line(t.error), 160))
            error = f"<details><summary>{last}</summary><pre>{escape(_clip(t.error, ERROR_CHARS))}</pre></details>"
        cells = [cell(t.number), cell(t.status), cell(t.score)]
        cells += [cell(t.metrics.get(m) if _scalar(t.metrics.get(m)) else None) for m in metrics]
        cells += [cell(t.duration, text=number(t.duration, ".3g")), f'<td class="enc">{escape(t.encoding)}</td>',
                  f"<td>{error}</td>"]
        kind = "best" if best is not None and t.number == best.number else t.status
        rows.append((f'class="{escape(kind)}" data-number="{t.number}"', cells))
    head_note = note("Click a column header to sort (again: reverse); the page's #sort=score (or -score, "
                     "descending) sorts the same way. Failed trials show their error's last line; click it for "
                     "the rest.")
    html_rows = table("trials-table", columns, [r[1] for r in rows], main=True, row_attrs=[r[0] for r in rows])
    skipped = len([k for t in trials for k, v in t.metrics.items() if not _scalar(v)])
    extra = note(f"Metrics beyond the first {MAX_METRICS} and non-numeric ones are left out.") \
        if len(first + others) > MAX_METRICS or skipped else ""
    return head_note + remark + html_rows + extra


__all__ = ["MAX_ROWS", "TIME_METRICS", "draw_arch", "ranked", "sections", "time_metric"]
