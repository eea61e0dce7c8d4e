"""The report of a ``wiring compare`` folder: accuracy per generator (every graph a point), the tables, the
stage drawings the folder holds. A generator × node-op grid (``--node-op``) gets one series per node op and the
correlations ``results.json`` records; an unfinished comparison (``"complete": false``) says how far it got."""

from __future__ import annotations

import statistics
from typing import Any

from .page import Column, Section, cell, figure_png, image, note, number, table
from .sources import CompareResults, read_png

PAPER_NAMES = {"er": "ER(0.2)", "ba": "BA(5)", "ws": "WS(4, 0.75)", "ws_flex": "WS-flex(4, 0.75)"}
"""The generators as the RandWire paper names them at ``wiring compare``'s settings (docs/papers.md §1)."""


def sections(results: CompareResults) -> tuple[list[tuple[str, Any]], list[Section]]:
    s = results.settings
    ops = results.node_ops
    summary: list[tuple[str, Any]] = [
        ("dataset", results.dataset or "?"),
        ("networks", f"{len(results.runs)}" + (f" of {results.expected}" if results.expected else "")
         + f": {s.get('graphs', '?')} graph(s) per generator" + (f" and node op ({', '.join(ops)})" if ops else "")
         + f", C={s.get('channels', '?')}, N={s.get('nodes', '?')}, {s.get('epochs', '?')} epoch(s) each"),
        ("training", f"{s.get('optimizer', '?')}, lr {s.get('lr', '?')}, batch {s.get('batch_size', '?')}, seed "
                     f"{s.get('seed', '?')}, device {s.get('device', '?')}"),
    ]
    if results.complete is False:
        summary.append(("state", "unfinished: the comparison is running or was interrupted (the same command "
                                 "resumes it)"))
    parts = [Section("accuracy", "Accuracy per generator", _accuracy(results)),
             Section("generators", "Generators", _summary(results))]
    correlations = results.extra.get("correlations")
    if ops and isinstance(correlations, list) and correlations:
        parts.append(Section("correlations", "Node operations", _correlations(correlations)))
    parts += [Section("runs", "Networks", _runs(results)), Section("drawings", "Stage drawings", _drawings(results))]
    return summary, parts


def _name(generator: str) -> str:
    return PAPER_NAMES.get(generator, generator)


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _std(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def _groups(results: CompareResults) -> list[tuple[str | None, str, list[dict[str, Any]]]]:
    """``(node op or None, generator, its runs)`` in the settings' order."""
    ops = results.node_ops or [None]
    return [(op, g, [r for r in results.runs if r["generator"] == g and (op is None or r.get("node_op") == op)])
            for op in ops for g in results.generators]


def _accuracy(results: CompareResults) -> str:
    from matplotlib.figure import Figure

    generators, ops = results.generators, results.node_ops or [None]
    if not results.runs:
        return note("results.json holds no finished network yet.")
    fig = Figure(figsize=(2.4 + 1.9 * len(generators) * (1 + 0.35 * (len(ops) - 1)), 4.4))
    ax = fig.add_subplot()
    width = 0.7 / len(ops)
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink"]
    for k, op in enumerate(ops):
        colour = colours[k % len(colours)]
        for x, generator in enumerate(generators):
            runs = [r for r in results.runs if r["generator"] == generator and (op is None or r.get("node_op") == op)]
            test, val = [100 * r["test_accuracy"] for r in runs], [100 * r["val_accuracy"] for r in runs]
            at = x + (k - (len(ops) - 1) / 2) * width
            first = x == 0
            if op is None:
                ax.scatter([at - 0.12] * len(val), val, marker="o", facecolors="none", edgecolors="tab:gray",
                           zorder=3, label="validation" if first else None)
            ax.scatter([at] * len(test), test, alpha=0.7, color=colour, zorder=3,
                       label=("test" if op is None else f"{op}: test") if first else None)
            if test:
                ax.errorbar([at + 0.1], [_mean(test)], yerr=[_std(test)], fmt="D", color="black", capsize=4,
                            zorder=4, markersize=4, label="test mean ± std" if first and k == 0 else None)
    ax.set_xticks(range(len(generators)), [_name(g) for g in generators])
    ax.set_xlim(-0.6, len(generators) - 0.4)
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"each dot one random graph's network\n{results.dataset}", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return image(figure_png(fig, dpi=110), "accuracy per generator")


def _summary(results: CompareResults) -> str:
    grid = bool(results.node_ops)
    columns = ([Column("node_op", "node op")] if grid else []) + [
        Column("generator", "generator"), Column("graphs", "graphs", numeric=True),
        Column("params", "params (mean)", numeric=True), Column("macs", "MACs (mean)", numeric=True),
        Column("val", "val acc % (mean)", descending=True, numeric=True), Column("val_std", "± std", numeric=True),
        Column("test", "test acc % (mean)", descending=True, numeric=True),
        Column("test_std", "± std", numeric=True), Column("seconds", "train s (mean)", numeric=True)]
    rows, ranking = [], {}
    for op, generator, runs in _groups(results):
        val, test = [100 * r["val_accuracy"] for r in runs], [100 * r["test_accuracy"] for r in runs]
        params, macs = _mean([r["params"] for r in runs]), _mean([r["macs"] for r in runs])
        seconds = _mean([r["train_seconds"] for r in runs])
        rows.append(([cell(op)] if grid else []) + [
            cell(_name(generator)), cell(len(runs)), cell(params, text=_short(params)), cell(macs, text=_short(macs)),
            cell(_mean(val), text=number(_mean(val), ".1f")), cell(_std(val) if val else None, text=number(
                _std(val) if val else None, ".1f")), cell(_mean(test), text=number(_mean(test), ".1f")),
            cell(_std(test) if test else None, text=number(_std(test) if test else None, ".1f")),
            cell(seconds, text=number(seconds, ".1f"))])
        if test:
            ranking.setdefault(op, []).append((_mean(test), generator))
    lines = [f"{op + ': ' if op else ''}" + " > ".join(_name(g) for _, g in sorted(r, key=lambda p: -p[0]))
             for op, r in ranking.items()]
    return table("generators-table", columns, rows) + note(
        f"Ranking by mean test accuracy: {'; '.join(lines) or 'none yet'} (the paper, on ImageNet: WS beats ER "
        f"and BA).")


def _correlations(correlations: list[Any]) -> str:
    columns = [Column("a", "node op"), Column("b", "node op"), Column("r", "Pearson r", descending=True, numeric=True)]
    rows = []
    for c in correlations:
        if isinstance(c, dict) and isinstance(c.get("node_ops"), list) and len(c["node_ops"]) == 2:
            r = c.get("pearson_r")
            rows.append([cell(c["node_ops"][0]), cell(c["node_ops"][1]),
                         cell(r if isinstance(r, (int, float)) else None, text=number(r, ".3f"))])
    return note("Between two node operations: the Pearson correlation of their series of per-generator mean test "
                "accuracies, as results.json records it (the paper, Fig. 6: 0.91–0.98).") + \
        table("correlations-table", columns, rows)


def _short(value: float | None) -> str:
    if value is None:
        return ""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.2f}{suffix}"
    return f"{value:.0f}"


def _runs(results: CompareResults) -> str:
    grid = bool(results.node_ops)
    columns = ([Column("node_op", "node op"), Column("channels", "C", numeric=True)] if grid else []) + [
        Column("generator", "generator"), Column("graph_seed", "graph seed", numeric=True),
        Column("params", "params", numeric=True), Column("macs", "MACs", numeric=True),
        Column("val_accuracy", "val acc %", descending=True, numeric=True),
        Column("test_accuracy", "test acc %", descending=True, numeric=True),
        Column("train_seconds", "train s", numeric=True), Column("epochs_run", "epochs", numeric=True)]
    rows = [([cell(r.get("node_op")), cell(r.get("channels"))] if grid else []) + [
        cell(_name(r["generator"])), cell(r["graph_seed"]), cell(r["params"]), cell(r["macs"]),
        cell(100 * r["val_accuracy"], text=f"{100 * r['val_accuracy']:.2f}"),
        cell(100 * r["test_accuracy"], text=f"{100 * r['test_accuracy']:.2f}"),
        cell(r["train_seconds"], text=f"{r['train_seconds']:.1f}"), cell(r["epochs_run"])] for r in results.runs]
    return note("One row per trained network; click a header to sort.") + table("runs-table", columns, rows, main=True)


def _drawings(results: CompareResults) -> str:
    figures = []
    for path in results.drawings:
        png = read_png(path)
        if png is None:
            figures.append(note(f"{path.name}: not a PNG file, left out."))
            continue
        generator = path.stem.removeprefix("graph_")
        figures.append(image(png, f"stage drawing {path.name}", caption=f"{_name(generator)}: {path.name}"))
    if not figures:
        return note("The folder holds no stage drawing (graph_*.png).")
    return note("One stage (conv4) of each generator's first graph, as wiring compare drew it.") + "".join(figures)


__all__ = ["PAPER_NAMES", "sections"]
