"""Drawings of typed DAGs and topology DAGs as PNG files: :func:`draw`.

The drawing is layered: each ``networkx.topological_generations`` layer is a
row, top to bottom, its nodes ordered by the barycentre of their neighbours to
cut crossings; an edge that skips layers keeps a narrow slot free in each row
it crosses and is drawn as a smooth curve through them, so edges do not run
through nodes. Typed nodes show their op and key params (``sep_conv 3x3 /2 ·
64``) coloured by op family; inputs and outputs have their own shapes. Edges
into ordered ops with several inputs show their slot. Nested subgraphs get a
panel each (one per distinct graph), or are inlined with ``expand=True``.

Matplotlib draws through its Agg canvas directly: no pyplot, no display, and
the caller's backend and figures stay as they are.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Patch
from matplotlib.path import Path

from generators.checks import positive_int

from .analysis import Analysis, analyse, stable_order
from .errors import GraphError
from .pyg import expand as expand_subgraphs
from .serialise import graph_hash

__all__ = ["draw"]

# Sizes in inches at scale 1 (fonts in points); a figure over MAX_INCHES or MAX_PIXELS a side is scaled down whole.
FONT = 8.0
TITLE_FONT = 10.0
PAD = 0.06
NODE_GAP = 0.3
LAYER_GAP = 0.38
MARGIN = 0.25
LINE = 0.2
BEND_WIDTH = 0.04
BEND_GAP = 0.08
END_SPACING = 0.1
ARROW_HEAD = 0.15
MAX_INCHES = 40.0
MAX_PIXELS = 16000

FAMILIES: dict[str, tuple[str, str]] = {
    # family: (fill, edge colour)
    "input": ("#a1d99b", "#238b45"),
    "output": ("#fc9272", "#cb181d"),
    "convolution": ("#c6dbef", "#4292c6"),
    "pooling": ("#fdd0a2", "#e6550d"),
    "aggregation": ("#dadaeb", "#756bb1"),
    "skip": ("#f0f0f0", "#969696"),
    "relaxed": ("#fff3b0", "#d4b106"),
    "classifier": ("#c7eae5", "#35978f"),
    "subgraph": ("#e6d5b8", "#8c6d31"),
    "other": ("#ffffff", "#525252"),
    "source": ("#a1d99b", "#238b45"),
    "sink": ("#fc9272", "#cb181d"),
    "node": ("#c6dbef", "#4292c6"),
}
_LEGEND = {"input": "input", "output": "output", "convolution": "convolution", "pooling": "pooling",
           "aggregation": "aggregation", "skip": "identity / zero", "relaxed": "choice / select",
           "classifier": "classifier", "subgraph": "subgraph", "other": "other op",
           "source": "source (in-degree 0)", "sink": "sink (out-degree 0)", "node": "node"}
_STYLES = {"input": "rarrow,pad={pad}", "output": "round4,pad={pad}", "subgraph": "square,pad={pad}"}


def _family(op: str) -> str:
    """The colour family of an op name (``"other"`` for ops it does not know)."""
    if op in ("input", "output", "subgraph"):
        return op
    if op in ("sum", "mean", "concat", "weighted_sum"):
        return "aggregation"
    if op in ("choice", "select"):
        return "relaxed"
    if op in ("identity", "zero", "none", "skip_connect"):
        return "skip"
    if "pool" in op:
        return "pooling"
    if op in ("head", "linear", "fc", "classifier"):
        return "classifier"
    if "conv" in op or op == "rw_node":
        return "convolution"
    return "other"


def _describe(op: str, params: dict[str, Any]) -> str:
    """A short label of an op and its key params: ``sep_conv 3x3 /2 · 64``, ``rw_node /2 · 78``, ``head · 10``."""
    parts = [op]
    if op == "choice":
        parts.append(f"×{len(params['candidates'])}")
    if isinstance(params.get("kernel"), int):
        parts.append(f"{params['kernel']}x{params['kernel']}")
    for name, mark in (("stride", "/"), ("dilation", "d")):
        if isinstance(params.get(name), int) and params[name] > 1:
            parts.append(f"{mark}{params[name]}")
    for name in ("channels", "features", "num_classes"):
        if isinstance(params.get(name), int):
            parts.append(f"· {params[name]}")
            break
    if isinstance(params.get("key"), str):
        parts.append(f"[{params['key']}]")
    return " ".join(parts)


# -- panels -------------------------------------------------------------------


@dataclass
class _Panel:
    """One graph to lay out: node texts and families, and the nodes whose in-edge slots are shown."""

    title: str
    graph: nx.DiGraph
    text: dict[Hashable, str]
    kind: dict[Hashable, str]
    slotted: set[Hashable] = field(default_factory=set)


def _typed_panel(analysis: Analysis, title: str) -> _Panel:
    G = analysis.graph
    text, kind, slotted = {}, {}, set()
    for label, info in analysis.nodes.items():
        op = info.spec.name
        if op == "subgraph":
            summary = f"subgraph {label} ({info.params['graph'].number_of_nodes()} nodes)"
        else:
            if op == "input":  # the shape it carries here, which in a subgraph comes from outside
                index = f" #{info.params['index']}" if len(analysis.inputs) > 1 else ""
                summary = f"input{index} " + "×".join(str(d) for d in info.out_shape)
            else:
                summary = _describe(op, info.params)
            if str(label) != op:
                summary = f"{label}: {summary}"
        text[label], kind[label] = summary, _family(op)
        if info.spec.ordered and len(info.inputs) > 1:
            slotted.add(label)
    return _Panel(title, G, text, kind, slotted)


def _topology_panel(G: nx.DiGraph) -> _Panel:
    kind = {label: "source" if G.in_degree(label) == 0 else "sink" if G.out_degree(label) == 0 else "node"
            for label in G}
    return _Panel("", G, {label: str(label) for label in G}, kind)


def _nested(analysis: Analysis, found: dict[str, tuple[list[str], Analysis]], path: str = "") -> None:
    """Collect the distinct nested graphs of ``analysis`` (by graph hash), depth first, with the nodes using each."""
    for label, info in analysis.nodes.items():
        if info.sub is None:
            continue
        where = f"{path}{label}"
        users, _ = found.setdefault(graph_hash(info.params["graph"]), ([], info.sub))
        users.append(where)
        _nested(info.sub, found, f"{where}/")


def _provenance(G: nx.DiGraph) -> str:
    for key in ("space", "generator"):
        source = G.graph.get(key)
        if isinstance(source, dict) and isinstance(source.get("name"), str):
            values = dict(source.get("params") or {})
            if key == "generator":
                values["seed"] = source.get("seed")
            shown = ", ".join(f"{k}={v}" for k, v in values.items()
                              if isinstance(v, (int, float, str)) and not isinstance(v, bool))
            return f"{source['name']}({shown})"
    name = G.graph.get("name")
    return name if isinstance(name, str) and name else ""


def _caption(G: nx.DiGraph, lead: str) -> str:
    parts = [part for part in (lead, _provenance(G)) if part]
    return " · ".join([*parts, f"{G.number_of_nodes()} nodes, {G.number_of_edges()} edges"])


def _heading(G: nx.DiGraph, lead: str) -> str:
    """A panel heading: ``lead`` and the size, then the provenance on a line of its own."""
    size = f"{lead} · {G.number_of_nodes()} nodes, {G.number_of_edges()} edges"
    source = _provenance(G)
    return f"{size}\n{source}" if source else size


def _panels(G: Any, expand: bool) -> tuple[list[_Panel], str]:
    """The panels to draw (main graph first) and the default figure title."""
    if not isinstance(G, nx.DiGraph) or G.is_multigraph():
        raise GraphError(f"draw takes a networkx.DiGraph, got {type(G).__name__}")
    if G.number_of_nodes() and not any("op" in data for _, data in G.nodes(data=True)):
        if not nx.is_directed_acyclic_graph(G):
            raise GraphError(f"a topology must be acyclic; cycle through nodes {[u for u, _ in nx.find_cycle(G)]}")
        return [_topology_panel(G)], _caption(G, "topology")
    analysis = analyse(expand_subgraphs(G) if expand else G)
    panels = [_typed_panel(analysis, "")]
    if not expand:
        found: dict[str, tuple[list[str], Analysis]] = {}
        _nested(analysis, found)
        for users, sub in found.values():
            panels.append(_typed_panel(sub, _heading(sub.graph, f"subgraph {', '.join(users)}")))
    return panels, _caption(analysis.graph, "subgraphs expanded" if expand else "")


# -- layout -------------------------------------------------------------------


@dataclass(frozen=True)
class _Bend:
    """Where edge ``u -> v`` crosses layer ``depth`` between its ends: a narrow slot kept free in that row."""

    u: Hashable
    v: Hashable
    depth: int


@dataclass
class _Layout:
    """Node centres and box sizes, edge routes and the panel's size, in inches (y up)."""

    centre: dict[Hashable, tuple[float, float]]
    size: dict[Hashable, tuple[float, float]]
    routes: dict[tuple[Hashable, Hashable], list[tuple[float, float]]]
    """Per edge: its exit from the source, its bend in each layer it crosses, its entry into the target."""
    width: float
    height: float


def _measure(text: str, size: float, bold: bool = False) -> tuple[float, float]:
    """Width and height in inches of one line of ``text`` at font ``size``."""
    font = FontProperties(size=size, weight="bold" if bold else "normal")
    width, height, _ = _RENDERER.get_text_width_height_descent(text, font, ismath=False)
    return width / 72.0, height / 72.0


_RENDERER = FigureCanvasAgg(Figure(dpi=72)).get_renderer()


def _round(panel: _Panel, label: Hashable) -> bool:
    return panel.kind[label] in ("source", "sink", "node")


def _node_sizes(panel: _Panel) -> dict[Hashable, tuple[float, float]]:
    line = _measure("Ag", FONT)[1]
    size = {}
    for label in panel.graph:
        width = _measure(panel.text[label], FONT)[0]
        if _round(panel, label):
            diameter = max(width, line) + 2 * PAD
            size[label] = (diameter, diameter)
        else:
            size[label] = (width + 2 * PAD + (ARROW_HEAD if panel.kind[label] == "input" else 0.0), line + 2 * PAD)
    return size


def _layout(panel: _Panel) -> _Layout:
    """Layers top to bottom (Sugiyama style): edges that skip layers get a bend slot in each layer they cross;
    sweeps order every layer by the barycentre of its neighbours and pull each item towards it."""
    G = panel.graph
    rank = {label: i for i, label in enumerate(stable_order(G))}
    depth = {label: d for d, layer in enumerate(nx.topological_generations(G)) for label in layer}
    size: dict[Hashable, tuple[float, float]] = _node_sizes(panel)
    layers: list[list[Hashable]] = [[] for _ in range(max(depth.values()) + 1)]
    for label in sorted(G, key=rank.__getitem__):
        layers[depth[label]].append(label)
    above: dict[Hashable, list[Hashable]] = {label: [] for label in G}
    below: dict[Hashable, list[Hashable]] = {label: [] for label in G}
    chains = {}
    for u, v in sorted(G.edges, key=lambda edge: (rank[edge[0]], rank[edge[1]])):
        chain = [u, *(_Bend(u, v, d) for d in range(depth[u] + 1, depth[v])), v]
        for bend in chain[1:-1]:
            layers[bend.depth].append(bend)
            size[bend], above[bend], below[bend] = (BEND_WIDTH, 0.0), [], []
        for a, b in zip(chain, chain[1:]):
            below[a].append(b)
            above[b].append(a)
        chains[u, v] = chain

    def gap(a: Hashable, b: Hashable) -> float:
        bends = isinstance(a, _Bend) + isinstance(b, _Bend)
        return (NODE_GAP, NODE_GAP / 2, BEND_GAP)[bends] + (size[a][0] + size[b][0]) / 2

    x: dict[Hashable, float] = {}

    def place(layer: list[Hashable], want: dict[Hashable, float]) -> None:
        """Each item as near ``want`` as the gaps allow: the mean of a left-to-right and a right-to-left pass."""
        forward, backward = [want[layer[0]]], [want[layer[-1]]]
        for a, b in zip(layer, layer[1:]):
            forward.append(max(want[b], forward[-1] + gap(a, b)))
        for a, b in zip(layer[-2::-1], layer[::-1]):
            backward.append(min(want[a], backward[-1] - gap(a, b)))
        for item, low, high in zip(layer, forward, reversed(backward)):
            x[item] = (low + high) / 2

    for layer in layers:
        place(layer, {item: 0.0 for item in layer})

    def pull(item: Hashable, near: list[Hashable]) -> float:
        return sum(x[n] for n in near) / len(near) if near else x[item]

    for sweep in range(12):  # order and place down, up, down, ...; the last sweeps only straighten
        down = sweep % 2 == 0
        for layer in layers[1:] if down else layers[-2::-1]:
            # a bend follows both of its neighbours, so that long edges run straight
            want = {item: pull(item, above[item] + below[item] if isinstance(item, _Bend) or sweep >= 8
                               else above[item] if down else below[item]) for item in layer}
            if sweep < 8:
                layer.sort(key=lambda item: (want[item], x[item]))
            place(layer, want)
    tallest = max(size[label][1] for label in G)
    row = tallest + LAYER_GAP
    low = min(x[item] - size[item][0] / 2 for item in x)
    width = max(x[item] + size[item][0] / 2 for item in x) - low + 2 * MARGIN
    height = (len(layers) - 1) * row + tallest + 2 * MARGIN
    centre = {item: (x[item] - low + MARGIN, height - MARGIN - tallest / 2 - d * row)
              for d, layer in enumerate(layers) for item in layer}
    ends = _ends(panel, G, chains, centre, size)
    routes = {}
    for (u, v), chain in chains.items():
        routes[u, v] = [ends[u, v][0], *(centre[b] for b in chain[1:-1]), ends[u, v][1]]
    return _Layout({label: centre[label] for label in G}, {label: size[label] for label in G}, routes, width, height)


def _ends(panel: _Panel, G: nx.DiGraph, chains: dict[tuple[Hashable, Hashable], list[Hashable]],
          centre: dict[Hashable, tuple[float, float]], size: dict[Hashable, tuple[float, float]]
          ) -> dict[tuple[Hashable, Hashable], list[tuple[float, float]]]:
    """Each edge's exit (bottom of the source) and entry (top of the target), spread in the order of the far ends."""
    ends = {edge: [(0.0, 0.0), (0.0, 0.0)] for edge in chains}
    for label in G:
        (cx, cy), (w, h) = centre[label], size[label]
        usable = w * (0.5 if _round(panel, label) else 0.8) - (ARROW_HEAD if panel.kind[label] == "input" else 0.0)
        for end, edges, step, side in ((0, list(G.out_edges(label)), 1, -1), (1, list(G.in_edges(label)), -2, 1)):
            edges.sort(key=lambda edge: centre[chains[edge][step]][0])
            spacing = min(END_SPACING, usable / max(len(edges), 1))
            for i, edge in enumerate(edges):
                dx = (i - (len(edges) - 1) / 2) * spacing
                dy = math.sqrt(max((w / 2) ** 2 - dx * dx, 0.0)) if _round(panel, label) else h / 2
                ends[edge][end] = (cx + dx - (ARROW_HEAD / 2 if panel.kind[label] == "input" else 0.0), cy + side * dy)
    return ends


# -- figure -------------------------------------------------------------------


def _path(route: list[tuple[float, float]]) -> Path:
    """A smooth curve through ``route`` (Catmull-Rom), leaving and entering vertically."""
    tangents = []
    for i in range(len(route)):
        before, after = route[max(i - 1, 0)], route[min(i + 1, len(route) - 1)]
        if 0 < i < len(route) - 1:
            tangents.append(((after[0] - before[0]) / 2, (after[1] - before[1]) / 2))
        else:
            tangents.append((0.0, after[1] - before[1]))
    vertices, codes = [route[0]], [Path.MOVETO]
    for (p, tp), (q, tq) in zip(zip(route, tangents), zip(route[1:], tangents[1:])):
        vertices += [(p[0] + tp[0] / 3, p[1] + tp[1] / 3), (q[0] - tq[0] / 3, q[1] - tq[1] / 3), q]
        codes += [Path.CURVE4] * 3
    return Path(vertices, codes)


def _cubic(points: list[tuple[float, float]], t: float) -> tuple[float, float]:
    a, b, c, d = points
    return tuple((1 - t) ** 3 * a[k] + 3 * (1 - t) ** 2 * t * b[k] + 3 * (1 - t) * t * t * c[k] + t ** 3 * d[k]
                 for k in (0, 1))


def _draw_panel(fig: Figure, panel: _Panel, layout: _Layout, rect: tuple[float, float, float, float],
                scale: float) -> None:
    ax = fig.add_axes(rect)
    ax.set_xlim(0, layout.width)
    ax.set_ylim(0, layout.height)
    ax.axis("off")
    for label in panel.graph:
        (cx, cy), (w, h) = layout.centre[label], layout.size[label]
        kind = panel.kind[label]
        fill, edge = FAMILIES[kind]
        if _round(panel, label):
            box = Circle((cx, cy), w / 2)
        else:
            w -= ARROW_HEAD if kind == "input" else 0.0
            style = _STYLES.get(kind, "round,pad={pad}").format(pad=PAD)
            box = FancyBboxPatch((cx - w / 2 + PAD - (ARROW_HEAD / 2 if kind == "input" else 0.0), cy - h / 2 + PAD),
                                 w - 2 * PAD, h - 2 * PAD, boxstyle=style)
        box.set(facecolor=fill, edgecolor=edge, zorder=2,
                linewidth=(1.6 if kind in ("input", "output", "subgraph") else 0.8) * scale)
        ax.add_patch(box)
        ax.text(cx - (ARROW_HEAD / 2 if kind == "input" else 0.0), cy, panel.text[label], ha="center", va="center",
                fontsize=FONT * scale, zorder=3, parse_math=False)
    for u, v, data in panel.graph.edges(data=True):
        route = layout.routes[u, v]
        path = _path(route)
        ax.add_patch(FancyArrowPatch(path=path, arrowstyle="-|>", mutation_scale=8 * scale, linewidth=0.7 * scale,
                                     color="#525252", alpha=0.85, zorder=1, clip_on=False))
        if v in panel.slotted and data.get("slot") is not None:
            px, py = _cubic([tuple(p) for p in path.vertices[-4:]], 0.72)
            ax.text(px, py, str(data["slot"]), ha="center", va="center", fontsize=(FONT - 1.5) * scale,
                    color="#08519c", fontweight="bold", zorder=4, parse_math=False,
                    bbox={"boxstyle": "circle,pad=0.15", "facecolor": "white", "edgecolor": "#9ecae1",
                          "linewidth": 0.5 * scale})


def _arrange(sizes: list[tuple[float, float]]) -> tuple[list[tuple[float, float]], float, float]:
    """Panels of ``sizes`` (width, height) in rows, tops aligned, wrapped to fit a landscape box best.

    Returns each panel's top-left corner (inches from the top left) and the total size.
    """
    def rows_for(target: float) -> list[list[int]]:
        rows: list[list[int]] = [[]]
        used = 0.0
        for i, (width, _) in enumerate(sizes):
            if rows[-1] and used + width > target:
                rows.append([])
                used = 0.0
            rows[-1].append(i)
            used += width
        return rows

    def extent(rows: list[list[int]]) -> tuple[float, float]:
        return (max(sum(sizes[i][0] for i in row) for row in rows),
                sum(max(sizes[i][1] for i in row) for row in rows))

    targets = {sum(width for width, _ in sizes[i:j]) for i in range(len(sizes)) for j in range(i + 1, len(sizes) + 1)}
    widest = max(width for width, _ in sizes)
    best = min((rows_for(t) for t in sorted(targets) if t >= widest),
               key=lambda rows: max(extent(rows)[0] / 1.4, extent(rows)[1]))
    corners: list[tuple[float, float]] = [(0.0, 0.0)] * len(sizes)
    top = 0.0
    for row in best:
        left = 0.0
        for i in row:
            corners[i] = (left, top)
            left += sizes[i][0]
        top += max(sizes[i][1] for i in row)
    width, height = extent(best)
    return corners, width, height


def _figure(panels: list[_Panel], title: str, dpi: int) -> Figure:
    layouts = [_layout(panel) for panel in panels]
    headings = [panel.title.split("\n") if panel.title else [] for panel in panels]
    tops = [LINE * len(lines) + (0.1 if lines else 0.0) for lines in headings]
    sizes = [(max(lay.width, max((_measure(line, TITLE_FONT)[0] for line in lines), default=0.0) + MARGIN),
              lay.height + top) for lay, lines, top in zip(layouts, headings, tops)]
    corners, body_width, body_height = _arrange(sizes)
    kinds = [kind for kind in FAMILIES if any(kind in panel.kind.values() for panel in panels)]
    entry = max(_measure(_LEGEND[kind], FONT)[0] for kind in kinds) + 0.5
    width = max(body_width, _measure(title, TITLE_FONT + 2, bold=True)[0] + 2 * MARGIN, 3.0)
    columns = max(1, min(len(kinds), int((width - 2 * MARGIN) // entry)))
    heading = 0.45 if title else 0.1
    header = heading + LINE * math.ceil(len(kinds) / columns) + 0.15
    height = header + body_height
    scale = min(1.0, MAX_INCHES / width, MAX_INCHES / height, MAX_PIXELS / dpi / max(width, height))
    fig = Figure(figsize=(width * scale, height * scale), dpi=dpi, facecolor="white")
    FigureCanvasAgg(fig)
    if title:
        fig.text(0.5, 1 - 0.25 / height, title, ha="center", va="center", fontsize=(TITLE_FONT + 2) * scale,
                 fontweight="bold", parse_math=False)
    handles = [Patch(facecolor=FAMILIES[kind][0], edgecolor=FAMILIES[kind][1], label=_LEGEND[kind]) for kind in kinds]
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 1 - heading / height), ncol=columns,
               frameon=False, fontsize=FONT * scale, handlelength=1.2, columnspacing=1.2, borderaxespad=0.0)
    offset = (width - body_width) / 2
    for panel, lay, lines, top, (panel_width, _), (left, upper) in zip(panels, layouts, headings, tops, sizes,
                                                                         corners):
        x, y = offset + left, header + upper
        if lines:
            fig.text((x + MARGIN / 2) / width, 1 - (y + 0.05) / height, "\n".join(lines), ha="left", va="top",
                     fontsize=TITLE_FONT * scale, linespacing=1.3, parse_math=False)
        rect = ((x + (panel_width - lay.width) / 2) / width, 1 - (y + top + lay.height) / height,
                lay.width / width, lay.height / height)
        _draw_panel(fig, panel, lay, rect, scale)
    return fig


# -- entry point --------------------------------------------------------------


def draw(G: nx.DiGraph, path: str | os.PathLike, *, expand: bool = False, title: str | None = None,
         dpi: int = 100) -> None:
    """Draw ``G`` to the PNG file ``path``.

    ``G`` is a typed DAG (validated first) or a topology DAG: a graph none of
    whose nodes has an ``op`` (e.g. from :mod:`generators`), drawn as numbered
    circles with its sources and sinks marked. Subgraph nodes are boxes, with a
    panel for each distinct nested graph, unless ``expand`` inlines them.
    ``title`` replaces the default (provenance and size; ``""``: none). The
    figure grows with the graph, scaled down past 40 inches (or 16000 pixels) a side.

    Raises
    ------
    GraphError
        If ``G`` is malformed (a typed graph that does not validate, a cyclic
        topology), ``dpi`` is not a positive int, or ``path`` cannot be written.
    """
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(folder):
        raise GraphError(f"cannot write {target!r}: directory {folder!r} does not exist")
    if os.path.isdir(target):
        raise GraphError(f"cannot write {target!r}: it is a directory")
    positive_int("dpi", dpi, error=GraphError)
    if title is not None and not isinstance(title, str):
        raise GraphError(f"title must be a string or None, got title={title!r}")
    if not isinstance(expand, bool):
        raise GraphError(f"expand must be True or False, got expand={expand!r}")
    panels, caption = _panels(G, expand)
    buffer = io.BytesIO()
    _figure(panels, caption if title is None else title, dpi).savefig(buffer, format="png", dpi=dpi)
    try:
        with open(target, "wb") as file:
            file.write(buffer.getvalue())
    except OSError as error:
        raise GraphError(f"cannot write {target!r}: {error}") from None
