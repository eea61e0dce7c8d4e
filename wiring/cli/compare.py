"""The main job: a miniature of the RandWire paper's generator comparison (docs/papers.md §1).

For ER(0.2), BA(5) and WS(4, 0.75), several random graphs each: build a
``spaces.randwire.cifar`` network sized for the dataset, compile, train and
evaluate it; print a table, save the results as JSON, a plot of accuracy per
generator and a drawing of one stage graph per generator.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from tqdm import tqdm

from spaces import randwire

from ..cost import cost
from ..data import Dataset
from ..draw import draw
from ..train import train

PAPER_NAMES = {"er": "ER(0.2)", "ba": "BA(5)", "ws": "WS(4, 0.75)", "ws_flex": "WS-flex(4, 0.75)"}


@dataclass(frozen=True)
class Run:
    """One trained network."""

    generator: str
    graph_seed: int
    params: int
    macs: int
    val_accuracy: float
    test_accuracy: float
    train_seconds: float
    epochs_run: int


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


def compare(data: Dataset, settings: Settings, out: Path, *, progress: bool = True) -> list[Run]:
    """Train ``settings.graphs`` networks per generator on ``data``; write results, plot and drawings to ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    channels, size = data.input_shape[0], data.input_shape[1]
    runs: list[Run] = []
    jobs = [(g, settings.seed + i) for g in settings.generators for i in range(settings.graphs)]
    bar = tqdm(jobs, desc="compare", unit="net", disable=not progress)
    for generator, graph_seed in bar:
        bar.set_postfix_str(f"{generator} seed {graph_seed}")
        G = randwire.cifar(channels=settings.channels, nodes=settings.nodes, generator=generator, seed=graph_seed,
                           num_classes=data.num_classes, in_channels=channels, image_size=size)
        if graph_seed == settings.seed:
            draw(G.nodes["conv4"]["params"]["graph"], out / f"graph_{generator}.png",
                 title=f"{PAPER_NAMES.get(generator, generator)}: stage conv4 of graph seed {graph_seed}")
        size_cost = cost(G, data.input_shape)
        start = time.perf_counter()
        result = train(G, data, epochs=settings.epochs, batch_size=settings.batch_size, lr=settings.lr,
                       optimizer=settings.optimizer, device=settings.device, seed=settings.seed, progress=False)
        runs.append(Run(generator, graph_seed, size_cost.params, size_cost.macs, result.val_accuracy,
                        result.test_accuracy, time.perf_counter() - start, result.epochs_run))
    (out / "results.json").write_text(json.dumps(
        {"dataset": repr(data), "settings": asdict(settings), "runs": [asdict(r) for r in runs]}, indent=2))
    plot(runs, settings.generators, out / "accuracy.png", repr(data))
    return runs


def table(runs: list[Run], generators: tuple[str, ...]) -> str:
    """The comparison table: one row per generator, accuracy as mean ± std over graphs."""
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


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def _std(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def _pm(values: list[float]) -> str:
    return f"{_mean(values):.1f} ± {_std(values):.1f}"
