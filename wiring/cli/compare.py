"""The main job: a miniature of the RandWire paper's generator comparison (docs/papers.md §1).

For ER(0.2), BA(5) and WS(4, 0.75), several random graphs each: build a
``spaces.randwire.cifar`` network sized for the dataset, compile, train and
evaluate it; print a table, save the results as JSON, a plot of accuracy per
generator and a drawing of one stage graph per generator.

**Node operations** (the paper's Fig. 6; docs/spaces/randwire.md). With
``node_ops`` (``--node-op sep,conv,maxpool,avgpool``) every generator's graphs
are trained under each node op: a generator × node-op grid. Each node op gets
the C of :func:`spaces.randwire.matched_channels`: the multiply-adds of the
separable network at ``channels``, matched on the WS(4, 0.75) network of the
first graph seed at the comparison's size (on the first generator's when WS is
not compared; the paper adjusts C per node op to keep the complexity). For
each pair of node ops, :func:`correlations` gives the Pearson r between their series of per-generator mean test accuracies (the
paper: 0.91–0.98, the ranking of generators kept). Without ``node_ops`` the
comparison is the separable one at ``channels``, as before the grid existed,
and its runs carry no ``node_op``/``channels`` fields.

**Saved as it goes, resumed.** ``results.json`` in ``out`` is rewritten
atomically (a temporary file, then :func:`os.replace`) after every network, with
``"complete": false`` until the last; an interrupted comparison keeps every
finished network. Run again with the same settings and data, it trains only the
missing networks. When the saved settings or data differ: an unfinished
comparison is refused (:class:`~wiring.errors.GraphError` naming each
difference; ``restart=True``, the CLI's ``--restart``, discards it), a finished
one is replaced, saying so. ``restart=True`` always starts afresh.

**Progress**: one bar over every epoch of every network (``wiring.train``'s
``log=`` callback), so it moves within the first minute.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from itertools import combinations
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from tqdm import tqdm

from spaces import randwire

from ..cost import cost
from ..data import Dataset
from ..draw import draw
from ..errors import GraphError
from ..train import train

PAPER_NAMES = {"er": "ER(0.2)", "ba": "BA(5)", "ws": "WS(4, 0.75)", "ws_flex": "WS-flex(4, 0.75)"}
NODE_OP_NAMES = {"sep": "3×3 separable conv", "conv": "3×3 conv", "maxpool": "3×3 max pool, 1×1 conv",
                 "avgpool": "3×3 average pool, 1×1 conv"}
PAPER_CORRELATION = "0.91–0.98"
"""The paper's Pearson r between node ops' series of generator means (Fig. 6)."""
RESULTS = "results.json"
REFERENCE_GENERATOR = "ws"
"""The generator whose network (at the first graph seed) the node ops' C are matched on, when compared."""


@dataclass(frozen=True)
class Run:
    """One trained network. ``node_op`` and ``channels`` (its C) are written to JSON for a node-op grid only."""

    generator: str
    graph_seed: int
    params: int
    macs: int
    val_accuracy: float
    test_accuracy: float
    train_seconds: float
    epochs_run: int
    node_op: str = "sep"
    channels: int | None = None


@dataclass(frozen=True)
class Settings:
    generators: tuple[str, ...]
    graphs: int
    epochs: int
    channels: int
    nodes: int
    seed: int
    batch_size: int
    lr: float
    optimizer: str
    device: str
    node_ops: tuple[str, ...] | None = None


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`compare`: ``saved`` of ``total`` networks are in ``path``."""

    def __init__(self, saved: int, total: int, path: Path) -> None:
        super().__init__(f"{saved} of {total} networks saved in {path}")
        self.saved, self.total, self.path = saved, total, path


def node_op_channels(data: Dataset, settings: Settings) -> dict[str, int]:
    """The C of each node op of the comparison: ``settings.channels`` for ``sep``, else the matched C (on the
    network of the first graph seed of WS(4, 0.75), or of the first generator when the comparison has no WS)."""
    options = _network_options(data, settings)
    reference = REFERENCE_GENERATOR if REFERENCE_GENERATOR in settings.generators else settings.generators[0]
    return {op: settings.channels if op == "sep" else randwire.matched_channels(
                "cifar", op, channels=settings.channels, generator=reference, seed=settings.seed, **options)
            for op in (settings.node_ops or ("sep",))}


def compare(data: Dataset, settings: Settings, out: Path, *, progress: bool = True, restart: bool = False,
            source: dict[str, Any] | None = None, report: Callable[[str], object] | None = None) -> list[Run]:
    """Train ``settings.graphs`` networks per generator (and node op) on ``data``; write results, plot and drawings
    to ``out``, saving each network as it finishes and resuming from ``out/results.json`` (module docs).

    ``source`` (JSON-able: the dataset's name, path and reader options) must also match to resume; ``report``
    gets one line saying what was resumed or replaced. Ctrl-C raises :class:`Interrupted`.
    """
    say = report or (lambda line: None)
    grid = settings.node_ops is not None
    path = out / RESULTS
    header = {"dataset": repr(data), "data": source, "settings": _jsonable(asdict(settings))}
    out.mkdir(parents=True, exist_ok=True)
    channels_of = node_op_channels(data, settings)
    jobs = [(op, g, settings.seed + i) for op in channels_of for g in settings.generators
            for i in range(settings.graphs)]
    saved = {} if restart else _saved(path, header, None if grid else settings.channels, say)
    runs = {key: saved[key] for key in jobs if key in saved}
    resumed = len(runs)
    if resumed:
        say(f"resuming: {resumed} of {len(jobs)} networks already in {path} (--restart trains them again)")
    extra = {"node_op_channels": channels_of} if grid else {}

    def ordered() -> list[Run]:
        return [runs[key] for key in jobs if key in runs]

    def save(complete: bool = False, **more: Any) -> None:
        _write(path, {**header, **extra, "complete": complete, "runs": [_record(r, grid) for r in ordered()],
                      **more})

    bar = tqdm(total=len(jobs) * settings.epochs, initial=resumed * settings.epochs, desc="compare", unit="epoch",
               disable=not progress, dynamic_ncols=True)
    try:
        save()
        first = settings.node_ops[0] if grid else "sep"
        for generator in settings.generators:
            G = _network(data, settings, generator, settings.seed, first, channels_of[first])
            draw(G.nodes["conv4"]["params"]["graph"], out / f"graph_{generator}.png",
                 title=f"{PAPER_NAMES.get(generator, generator)}: stage conv4 of graph seed {settings.seed}"
                       + (f", node op {first}" if grid else ""))
        for number, key in enumerate(jobs, start=1):
            if key in runs:
                continue
            op, generator, graph_seed = key
            label = f"net {number}/{len(jobs)} {op + ' ' if grid else ''}{generator} seed {graph_seed}"
            bar.set_postfix_str(label)
            G = _network(data, settings, generator, graph_seed, op, channels_of[op])
            size_cost = cost(G, data.input_shape)
            start = time.perf_counter()

            def log(record: Any, label: str = label) -> None:
                bar.update(1)
                bar.set_postfix_str(f"{label}, epoch {record.epoch} val {100 * record.val_accuracy:.1f}%")

            result = train(G, data, epochs=settings.epochs, batch_size=settings.batch_size, lr=settings.lr,
                           optimizer=settings.optimizer, device=settings.device, seed=settings.seed, progress=False,
                           log=log)
            bar.update(settings.epochs - result.epochs_run)  # the epochs a diverged network did not run
            runs[key] = Run(generator, graph_seed, size_cost.params, size_cost.macs, result.val_accuracy,
                            result.test_accuracy, time.perf_counter() - start, result.epochs_run, op,
                            channels_of[op])
            save()
        bar.close()
        result_runs = ordered()
        more: dict[str, Any] = {}
        if grid:
            more["generator_means"] = generator_means(result_runs, settings.generators, settings.node_ops)
            more["correlations"] = [{"node_ops": [a, b], "pearson_r": r, "accuracy": "test"}
                                    for (a, b), r in correlations(result_runs, settings.generators,
                                                                  settings.node_ops).items()]
        save(complete=True, **more)
        if grid:
            plot_grid(result_runs, settings.generators, settings.node_ops, channels_of, out / "accuracy.png",
                      repr(data))
        else:
            plot(result_runs, settings.generators, out / "accuracy.png", repr(data))
    except KeyboardInterrupt:
        bar.close()
        raise Interrupted(len(runs), len(jobs), path) from None
    return result_runs


def _network_options(data: Dataset, settings: Settings) -> dict[str, Any]:
    return {"nodes": settings.nodes, "num_classes": data.num_classes, "in_channels": data.input_shape[0],
            "image_size": data.input_shape[1]}


def _network(data: Dataset, settings: Settings, generator: str, graph_seed: int, node_op: str, channels: int) -> Any:
    return randwire.cifar(channels=channels, generator=generator, seed=graph_seed, node_op=node_op,
                          **_network_options(data, settings))


def _record(run: Run, grid: bool) -> dict[str, Any]:
    record = asdict(run)
    if not grid:
        del record["node_op"], record["channels"]
    return record


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _write(path: Path, content: dict[str, Any]) -> None:
    """``content`` as JSON in ``path``, atomically: a temporary file beside it, then :func:`os.replace`."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        temporary.write_text(json.dumps(content, indent=2))
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _saved(path: Path, header: dict[str, Any], channels: int | None,
           say: Callable[[str], object]) -> dict[tuple[str, str, int], Run]:
    """The runs saved in ``path`` by a comparison of the same settings and data, keyed (node op, generator, seed);
    {} when there is none, or one that finished with other settings (said); :class:`GraphError` for an unfinished
    one with other settings, or a file that is not a comparison's. ``channels``: the C of runs saved without one
    (a comparison without a node-op grid)."""
    if not path.exists():
        return {}
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(saved, dict) or not isinstance(saved.get("runs"), list):
            raise ValueError("no list of 'runs'")
    except (ValueError, UnicodeDecodeError) as error:
        raise GraphError(f"{path} is not a wiring compare {RESULTS} ({error}); delete it, add --restart to "
                         f"replace it, or choose another --out") from None
    differences = _differences(saved, header)
    complete = saved.get("complete", True)  # files written before resuming existed were written once, at the end
    if differences:
        what = "; ".join(differences)
        if complete or not saved["runs"]:
            say(f"{path} holds a {'finished' if complete else 'new'} comparison with other settings ({what}): "
                f"replacing it")
            return {}
        raise GraphError(f"{path} holds {len(saved['runs'])} finished network(s) of an interrupted comparison with "
                         f"other settings ({what}): rerun with its settings to resume it, add --restart to discard "
                         f"it, or choose another --out")
    names = {f.name for f in fields(Run)}
    runs = {}
    for i, record in enumerate(saved["runs"]):
        try:
            run = Run(**{"channels": channels, **{k: v for k, v in record.items() if k in names}})
        except TypeError as error:
            raise GraphError(f"{path}: run {i} is not a saved network ({error}); add --restart to replace the "
                             f"file") from None
        runs[(run.node_op, run.generator, run.graph_seed)] = run
    return runs


def _differences(saved: dict[str, Any], header: dict[str, Any]) -> list[str]:
    """``name: saved → now`` for each setting (and the data) that differs."""
    found = []
    old = saved.get("settings") if isinstance(saved.get("settings"), dict) else {}
    for name, value in header["settings"].items():
        if old.get(name) != value:
            found.append(f"{name.replace('_', '-')}: {_show(old.get(name))} → {_show(value)}")
    for key in ("data", "dataset"):
        if saved.get(key) != header[key]:
            found.append(f"{key}: {_show(saved.get(key))} → {_show(header[key])}")
    return found


def _show(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value))
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items() if v is not None)
    return "none" if value is None else str(value)


# -- node-op series ----------------------------------------------------------------------------------------------


def generator_means(runs: Sequence[Run], generators: Sequence[str], node_ops: Sequence[str]) -> dict[str, dict]:
    """{node op: {generator: mean test accuracy over its graphs}} (NaN-free: generators without runs left out)."""
    means: dict[str, dict[str, float]] = {}
    for op in node_ops:
        means[op] = {}
        for generator in generators:
            values = [r.test_accuracy for r in runs if r.node_op == op and r.generator == generator]
            if values:
                means[op][generator] = statistics.fmean(values)
    return means


def correlations(runs: Sequence[Run], generators: Sequence[str],
                 node_ops: Sequence[str]) -> dict[tuple[str, str], float | None]:
    """For each pair of node ops, the Pearson r between their series of per-generator mean test accuracies.

    None where it is undefined: fewer than two generators, or a series without spread (every generator's mean the
    same, e.g. all at chance).
    """
    means = generator_means(runs, generators, node_ops)
    found: dict[tuple[str, str], float | None] = {}
    for a, b in combinations(node_ops, 2):
        shared = [g for g in generators if g in means[a] and g in means[b]]
        try:
            r = statistics.correlation([means[a][g] for g in shared], [means[b][g] for g in shared])
        except statistics.StatisticsError:  # under two points, or a constant series
            r = None
        found[(a, b)] = r
    return found


# -- output ------------------------------------------------------------------------------------------------------


def table(runs: list[Run], generators: tuple[str, ...], node_ops: tuple[str, ...] | None = None,
          channels: dict[str, int] | None = None) -> str:
    """The comparison table: one row per generator, accuracy as mean ± std over graphs; for a node-op grid one
    such block per node op (with its C), then the Pearson r of each pair of node ops."""
    if node_ops is None:
        return _block(runs, generators)
    blocks = []
    for op in node_ops:
        c = f", C={channels[op]}" if channels and op in channels else ""
        blocks.append(f"node op {op} ({NODE_OP_NAMES[op]}{c})\n"
                      + _block([r for r in runs if r.node_op == op], generators))
    if len(node_ops) > 1:
        lines = [f"Pearson r of the per-generator mean test accuracies, between node ops (paper, ImageNet: "
                 f"{PAPER_CORRELATION}):"]
        for (a, b), r in correlations(runs, generators, node_ops).items():
            lines.append(f"  {a} ~ {b}: " + (f"{r:+.3f}" if r is not None else
                                              "undefined (needs two or more generators whose means differ)"))
        if len(generators) == 2:
            lines.append("  (with two generators r is ±1 by construction: compare three or more)")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _block(runs: list[Run], generators: tuple[str, ...]) -> str:
    header = (f"{'generator':<18} {'graphs':>6} {'params':>9} {'MACs':>9} {'val acc (%)':>14} "
              f"{'test acc (%)':>14} {'train s':>8}")
    lines = [header, "-" * len(header)]
    for generator in generators:
        rows = [r for r in runs if r.generator == generator]
        lines.append(
            f"{PAPER_NAMES.get(generator, generator):<18} {len(rows):>6} "
            f"{_mean([r.params for r in rows]) / 1e3:>8.1f}k {_mean([r.macs for r in rows]) / 1e6:>8.2f}M "
            f"{_pm([100 * r.val_accuracy for r in rows]):>14} {_pm([100 * r.test_accuracy for r in rows]):>14} "
            f"{_mean([r.train_seconds for r in rows]):>8.1f}")
    ranking = sorted(generators, key=lambda g: -_mean([r.test_accuracy for r in runs if r.generator == g]))
    lines.append("")
    lines.append("ranking by mean test accuracy: " + " > ".join(PAPER_NAMES.get(g, g) for g in ranking)
                 + "   (paper, ImageNet: WS beats ER and BA)")
    return "\n".join(lines)


def plot(runs: list[Run], generators: tuple[str, ...], path: Path, subtitle: str) -> None:
    """Test accuracy of every graph per generator, with mean ± std."""
    fig = Figure(figsize=(1.8 + 1.6 * len(generators), 4.2), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for x, generator in enumerate(generators):
        accuracies = [100 * r.test_accuracy for r in runs if r.generator == generator]
        ax.scatter([x] * len(accuracies), accuracies, alpha=0.6, zorder=3, label=None)
        ax.errorbar([x + 0.15], [_mean(accuracies)], yerr=[_std(accuracies)], fmt="D", color="black", capsize=5,
                    zorder=4)
    ax.set_xticks(range(len(generators)), [PAPER_NAMES.get(g, g) for g in generators])
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"RandWire generators: each dot one random graph, ◆ mean ± std\n{subtitle}", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)


def plot_grid(runs: list[Run], generators: tuple[str, ...], node_ops: tuple[str, ...], channels: dict[str, int],
              path: Path, subtitle: str) -> None:
    """The paper's Fig. 6 in small: per node op, the mean ± std test accuracy of each generator, joined by a line."""
    fig = Figure(figsize=(max(7.0, 2.4 + 1.6 * len(generators)), 4.6), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    width = 0.5 / max(1, len(node_ops))
    for k, op in enumerate(node_ops):
        xs = [x + (k - (len(node_ops) - 1) / 2) * width for x in range(len(generators))]
        accuracies = [[100 * r.test_accuracy for r in runs if r.node_op == op and r.generator == g]
                      for g in generators]
        ax.errorbar(xs, [_mean(a) for a in accuracies], yerr=[_std(a) for a in accuracies], fmt="-o", capsize=4,
                    label=f"{op} (C={channels[op]})", zorder=3)
    ax.set_xticks(range(len(generators)), [PAPER_NAMES.get(g, g) for g in generators])
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"RandWire generators under each node op: mean ± std over graphs\n{subtitle}", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, title="node op", title_fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def _std(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def _pm(values: list[float]) -> str:
    return f"{_mean(values):.1f} ± {_std(values):.1f}"
