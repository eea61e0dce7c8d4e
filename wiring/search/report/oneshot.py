"""The report of a one-shot checkpoint: setup, α of every decision per epoch, the architecture α implies."""

from __future__ import annotations

import inspect
import os
from collections.abc import MutableMapping
from typing import Any

from ..strategy import SearchError
from .page import Column, Section, cell, escape, facts, figure_png, image, note, number, table
from .search import draw_arch


def sections(path: str | os.PathLike[str], space: Any = None,
             drawings: MutableMapping[str, bytes | str] | None = None) -> tuple[list[tuple[str, Any]], list[Section]]:
    """The summary lines and sections of the checkpoint at ``path``'s report."""
    from ..oneshot.checkpoint import decoded_setup, read  # deferred: torch

    state = read(path)
    setup = decoded_setup(state["setup"])
    loop = state["loop"]
    name = str(setup.get("strategy", "?"))
    cls = strategy_class(name)
    sigmoid = getattr(cls, "mode", "softmax") == "sigmoid"
    history = alpha_history(loop.get("history"))
    epochs = setup.get("epochs")
    summary: list[tuple[str, Any]] = [
        ("strategy", name), ("space", setup.get("space", "?")),
        ("epochs", f"{loop.get('epoch', 0)} of {epochs} run" if epochs is not None else loop.get("epoch", 0)),
        ("data", f"{setup.get('data.name')}: {setup.get('data.train')} training examples, input "
                 f"{setup.get('data.input_shape')}, {setup.get('data.num_classes')} classes"),
    ]
    if isinstance(loop.get("reason"), str) and loop.get("stopped") is not None:
        summary.append(("stopped", f"{'early: ' if loop.get('stopped') else ''}{loop['reason']}"))
    labels: dict[str, list[tuple[str, list[str]]]] = {}
    derived = ""
    if space is not None and history:
        model, why = _supernet(space, state, cls)
        if model is not None:
            labels = decision_labels(model)
            derived = _derived(space, model, cls, setup, history, drawings)
        else:
            derived = note(f"No derived architecture: {why}.")
    parts = [Section("setup", "Setup", facts(state["setup"].items()))]  # as recorded (JSON values)
    if history:
        parts.append(Section("alphas", "α per epoch", _heatmaps(history, labels, sigmoid)))
        parts.append(Section("strongest", "Strongest candidate per decision", _strongest(history, labels, sigmoid)))
        parts.append(Section("derived", "Derived architecture", derived or note(
            "The architecture needs the space: wiring report rebuilds it from what the checkpoint records; the "
            "library function takes space=. The table above gives each decision's strongest candidate.")))
    else:
        parts.append(Section("alphas", "α per epoch", note(
            f"{name} records no α per epoch in its checkpoint (it samples paths, or learns a controller): its "
            f"architecture comes from the end of the search (wiring search prints it).")))
    told = [t for t in loop.get("told") or [] if isinstance(t, (list, tuple)) and len(t) == 2
            and isinstance(t[0], str) and isinstance(t[1], (int, float)) and not isinstance(t[1], bool)]
    if told:
        parts.append(Section("candidates", "Candidates evaluated", _told(told, space, drawings)))
    losses = loop.get("losses", loop.get("train_loss"))
    if isinstance(losses, list) and losses and all(isinstance(v, (int, float)) for v in losses):
        parts.append(Section("losses", "Training loss", _losses(losses)))
    return summary, parts


def _told(told: list[Any], space: Any, drawings: MutableMapping[str, bytes | str] | None) -> str:
    """The architectures a search scored with the supernet's weights (SPOS' evolution: ``told``), best first."""
    ranked = sorted(enumerate(told), key=lambda p: (-p[1][1], p[0]))
    columns = [Column("order", "#", numeric=True), Column("score", "score", descending=True, numeric=True),
               Column("encoding", "encoding")]
    rows = [[cell(i), cell(score), f'<td class="enc">{escape(encoding)}</td>'] for i, (encoding, score) in ranked]
    body = note(f"{len(told)} architectures scored with the supernet's weights so far (in the order scored: #), the "
                f"best first.") + table("candidates-table", columns, rows)
    if space is not None:
        best = ranked[0][1][0]
        try:
            arch = space.decode(best)
        except (ValueError, TypeError, KeyError):
            arch = None
        drawn = draw_arch(space, arch, best, {} if drawings is None else drawings, title="the best so far")
        body += image(drawn, "best candidate", caption="the best candidate so far (wiring.draw)") \
            if isinstance(drawn, bytes) else note(f"Drawing: {drawn}.")
    return body


def strategy_class(name: str) -> type | None:
    """The one-shot strategy class ``name`` of :mod:`wiring.search.oneshot`, or None."""
    import importlib

    found = getattr(importlib.import_module("wiring.search.oneshot"), name, None)
    return found if isinstance(found, type) else None


def alpha_history(history: Any) -> list[dict[str, Any]]:
    """``history`` when it is α per epoch (a list of ``{key: 2-d tensor}``, the same keys and shapes every
    epoch), else an empty list."""
    import torch

    if not isinstance(history, list) or not history or not all(isinstance(h, dict) and h for h in history):
        return []
    first = history[0]
    shapes = {k: tuple(v.shape) for k, v in first.items() if isinstance(v, torch.Tensor)}
    if len(shapes) != len(first) or any(len(s) != 2 or 0 in s for s in shapes.values()):
        return []
    for h in history:
        if set(h) != set(first) or any(not isinstance(v, torch.Tensor) or tuple(v.shape) != shapes[k]
                                       for k, v in h.items()):
            return []
    return history


def weights(alpha: Any, sigmoid: bool) -> Any:
    """The candidates' weights of each α row: softmax over the row, or each candidate's sigmoid."""
    import torch

    alpha = alpha.detach().float()
    return torch.sigmoid(alpha) if sigmoid else torch.softmax(alpha, dim=-1)


def decision_labels(model: Any) -> dict[str, list[tuple[str, list[str]]]]:
    """α key -> per row, (decision name, candidate names), from the compiled supernet."""
    from ...supernet import decisions

    found: dict[str, dict[int, tuple[str, list[str]]]] = {}
    for d in decisions(model):
        found.setdefault(d.key, {})[d.row] = (d.name, list(d.choices))
    return {key: [rows[r] for r in sorted(rows)] for key, rows in found.items()}


def _row_labels(key: str, shape: tuple[int, int], labels: dict[str, list[tuple[str, list[str]]]]) \
        -> list[tuple[str, list[str]]]:
    rows = labels.get(key)
    if rows is None or len(rows) != shape[0] or any(len(c) != shape[1] for _, c in rows):
        return [(f"{key}[{r}]", [f"candidate {j}" for j in range(shape[1])]) for r in range(shape[0])]
    return rows


def _heatmaps(history: list[dict[str, Any]], labels: dict[str, list[tuple[str, list[str]]]], sigmoid: bool) -> str:
    import torch
    from matplotlib.figure import Figure

    figures = []
    for key in history[0]:
        stack = torch.stack([weights(h[key], sigmoid) for h in history])  # epochs × rows × candidates
        epochs, rows, candidates = stack.shape
        names = _row_labels(key, (rows, candidates), labels)
        matrix = stack.permute(1, 2, 0).reshape(rows * candidates, epochs).numpy()
        lines = rows * candidates
        fig = Figure(figsize=(min(3.6 + 0.22 * epochs, 14), min(1.2 + 0.14 * lines, 30)))
        ax = fig.add_subplot()
        low, high = float(matrix.min()), float(matrix.max())
        shown = ax.imshow(matrix, aspect="auto", interpolation="nearest", cmap="viridis", vmin=low,
                          vmax=high if high > low else low + 1e-9)
        ax.set_yticks(range(lines), [f"{names[r][0]}: {names[r][1][c]}" for r in range(rows)
                                     for c in range(candidates)], fontsize=6)
        step = max(1, epochs // 12)
        ax.set_xticks(range(0, epochs, step), [str(e + 1) for e in range(0, epochs, step)], fontsize=7)
        for r in range(1, rows):
            ax.axhline(r * candidates - 0.5, color="white", linewidth=0.8)
        ax.set_xlabel("epoch", fontsize=8)
        ax.set_title(f"α {key}: {'sigmoid' if sigmoid else 'softmax'} weight of each candidate", fontsize=9)
        fig.colorbar(shown, ax=ax, fraction=0.04, pad=0.02)
        fig.tight_layout()
        figures.append(image(figure_png(fig, dpi=80), f"alpha {key} per epoch", caption=f"α key {key!r}: "
                             f"{rows} decision(s) × {candidates} candidates, {epochs} epoch(s)"))
    return note("Each row of a heatmap is one candidate of one decision, each column an epoch; the colour is the "
                "candidate's weight after that epoch (softmax over the decision's candidates, or sigmoid for Fair "
                "DARTS), on a scale from the smallest to the largest weight of the heatmap (early in a search the "
                "weights differ little from uniform). Decisions that share an α key (cells of one type) share a "
                "heatmap.") + "".join(figures)


def _strongest(history: list[dict[str, Any]], labels: dict[str, list[tuple[str, list[str]]]], sigmoid: bool) -> str:
    columns = [Column("key", "α key"), Column("decision", "decision"), Column("strongest", "strongest"),
               Column("weight", "weight", descending=True, numeric=True), Column("runner-up", "runner-up"),
               Column("runner-up-weight", "its weight", numeric=True),
               Column("change", "change of the strongest's weight over the epochs", numeric=True)]
    rows = []
    last, first = history[-1], history[0]
    for key in last:
        w, w0 = weights(last[key], sigmoid), weights(first[key], sigmoid)
        names = _row_labels(key, tuple(w.shape), labels)
        for r in range(w.shape[0]):
            order = w[r].argsort(descending=True).tolist()
            top, second = order[0], order[1] if len(order) > 1 else None
            rows.append([cell(key), cell(names[r][0]), cell(names[r][1][top]), cell(float(w[r, top])),
                         cell(names[r][1][second] if second is not None else ""),
                         cell(float(w[r, second]) if second is not None else None),
                         cell(float(w[r, top] - w0[r, top]))])
    return note(f"After epoch {len(history)}.") + table("strongest-table", columns, rows, main=True)


def _supernet(space: Any, state: dict[str, Any], cls: type | None) -> tuple[Any, str]:
    """The supernet compiled in the strategy's mode with the checkpoint's weights and α, or (None, why not)."""
    from ...compiler import compile as compile_graph

    try:
        model = compile_graph(space.supernet(), mode=getattr(cls, "mode", "softmax"))
        model.load_state_dict(state["parts"]["model"])
    except (ValueError, TypeError, KeyError, RuntimeError, AttributeError) as error:
        return None, f"the checkpoint's supernet does not load into this space's ({_one_line(error)})"
    model.eval()
    return model, ""


def _derived(space: Any, model: Any, cls: type | None, setup: dict[str, Any], history: list[Any],
             drawings: MutableMapping[str, bytes | str] | None) -> str:
    derive = space.derive
    strategy = _strategy(cls, space, setup)
    if strategy is not None:
        derive = strategy.derive  # the strategy's own rule (Fair DARTS: σ(α)), with its settings
    try:
        arch = derive(model)
        encoding = space.encode(arch)
    except (ValueError, TypeError, KeyError, RuntimeError) as error:
        return note(f"The space cannot derive an architecture from this supernet ({_one_line(error)}).")
    drawn = draw_arch(space, arch, encoding, {} if drawings is None else drawings,
                      title=f"derived after epoch {len(history)}")
    body = (f'<p>After epoch {len(history)}, by {escape(type(strategy).__name__ if strategy else "the space")}\'s '
            f'derive rule:</p><p class="enc"><code>{escape(encoding)}</code></p>')
    if isinstance(drawn, bytes):
        body += image(drawn, "derived architecture", caption="the derived network (wiring.draw)")
    else:
        body += note(f"Drawing: {drawn}.")
    return body


def _strategy(cls: type | None, space: Any, setup: dict[str, Any]) -> Any:
    """The strategy ``cls`` rebuilt on ``space`` from the recorded settings that its constructor takes, or None
    (its derive rule and settings, e.g. a threshold; nothing is trained)."""
    if cls is None:
        return None
    try:
        parameters = inspect.signature(cls).parameters
        options = {k: v for k, v in setup.items() if k in parameters and k not in ("space", "checkpoint")
                   and "." not in k}
        return cls(space, **options)
    except (ValueError, TypeError, SearchError):
        return None


def _losses(losses: list[float]) -> str:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.2))
    ax = fig.add_subplot()
    ax.plot(range(1, len(losses) + 1), losses, marker="o", markersize=3)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return image(figure_png(fig), "training loss per epoch") + note(f"Last: {number(losses[-1], '.4g')}.")


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:200]
