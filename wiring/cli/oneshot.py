"""``wiring search`` with a one-shot strategy: train a space's supernet once, derive one architecture.

The strategy classes live in :mod:`wiring.search.oneshot` and are imported on
first use. Which spaces each strategy supports is derived: a space is listed
when its data are images (``data_kind``, the CLI trains on digits) and it offers
everything the strategy's ``needs`` name (:func:`wiring.search.oneshot.missing`,
checked on the space's SMALL instance). The help reads both from
:mod:`wiring.cli.catalog` (no torch); a test checks them against the classes and
spaces (:func:`offered`).
"""

from __future__ import annotations

import argparse
import importlib
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import networkx as nx
import torch

from ..cost import cost
from ..search import SearchError
from ..search.oneshot.base import NEEDS, missing
from ..search.oneshot.checkpoint import refuse_storage
from ..search.evaluators import fit_input, training_fraction
from ..serialise import save
from ..train import train
from .args import assignments, load_data
from .catalog import IMAGE_SPACES, STRATEGIES, OneShot
from .params import parameters, strategy_params
from .report import announce


def _small(name: str) -> Any:
    module = importlib.import_module(f"spaces.{name}")
    return module.space(**module.SMALL)


def offered(space: str) -> frozenset[str]:
    """What the SMALL instance of ``space`` offers of :data:`~wiring.search.oneshot.NEEDS` (what
    :data:`~wiring.cli.catalog.OFFERS` records for the help)."""
    small = _small(space)
    return frozenset(need for need in NEEDS if not missing((need,), small))


def why_not(entry: OneShot, space: str) -> str:
    """Why ``space`` is not supported by ``entry`` (what it lacks)."""
    if space not in IMAGE_SPACES:
        return f"{space} searches {_small(space).data_kind} data, the CLI trains on images"
    cls = _class(entry.module, entry.name)
    return f"{space} lacks {'; '.join(missing(cls.needs, _small(space)))}"


FLAGS = {"space": "--space", "seed": "--seed", "epochs": "--epochs", "progress": "--quiet", "checkpoint": "--storage"}
"""Constructor arguments the CLI sets from its own flags, never from ``--param``."""


def search(args: argparse.Namespace, build_space: Callable[..., Any]) -> int:
    """Run ``args.strategy`` (a key of :data:`STRATEGIES`) on the space ``build_space(args)``; print the result."""
    cls, params = _prepare(args)
    raw = load_data(args)
    space = build_space(args, raw.num_classes)
    supernet = space.supernet()
    data = _data(args, _input_shape(supernet), raw)
    strategy = _construct(cls, space, args, params)
    print(f"{args.strategy} ({cls.__name__}) on {args.space}: {data.name}, {len(data.y_train)} training examples "
          f"fitted to {data.input_shape}, {args.epochs} epoch(s)", flush=True)
    if args.storage is not None:
        print(f"checkpoint {args.storage}: {'resuming' if args.storage.exists() else 'new'}", flush=True)
    result = strategy.search(data)
    G = space.to_graph(result.arch)
    _report(space, result, G, data.input_shape)
    model = _retrain(G, args, params.get("device", "cpu")) if args.retrain_epochs else None
    if args.save is not None:
        save(args.save, G, model)
        print(f"wrote {args.save}")
    if args.plot is not None:
        plot_alphas(result.alpha_history, _candidates(supernet), args.plot,
                    sigmoid=getattr(cls, "mode", "") == "sigmoid", title=f"{args.strategy} on {args.space}")
        print(f"wrote {args.plot}")
    if args.storage is not None:
        announce(args.storage, space)
    return 0


def _prepare(args: argparse.Namespace) -> tuple[type, dict[str, Any]]:
    """Check the command line before anything is built or trained; the strategy class and its ``--param`` values."""
    entry = STRATEGIES[args.strategy]
    if args.space not in entry.spaces:
        raise SearchError(f"strategy {args.strategy!r} supports the spaces {', '.join(entry.spaces)}; "
                          f"got --space {args.space} ({why_not(entry, args.space)})")
    if args.plot is not None and not entry.alphas:
        raise SearchError(f"--plot draws α per epoch: strategy {args.strategy!r} has no α (it records none)")
    for flag, path in (("--save", args.save), ("--plot", args.plot), ("--storage", args.storage)):
        _check_writable(flag, path)
    if args.storage is not None:
        refuse_storage(args.storage)  # a black-box search's storage: say so now, not after building the supernet
    cls = strategy_class(args.strategy)
    return cls, strategy_params(cls, args.strategy, assignments(args.param, "--param"), FLAGS)


# -- the strategy ---------------------------------------------------------------


def strategy_class(name: str) -> type:
    """The class of one-shot strategy ``name``, imported now (:class:`SearchError` if this install lacks it)."""
    return _class(STRATEGIES[name].module, STRATEGIES[name].name)


def _class(module_name: str, name: str) -> type:
    path = f"wiring.search.oneshot.{module_name}"
    try:
        module = importlib.import_module(path)
    except ModuleNotFoundError as error:
        if error.name != path:
            raise
        module = None
    if not hasattr(module, name):
        raise SearchError(f"one-shot strategy {name} is not available: {path} has no {name}")
    return getattr(module, name)


def _construct(cls: type, space: Any, args: argparse.Namespace, params: dict[str, Any]) -> Any:
    """The strategy: ``--seed``, ``--epochs``, ``--quiet`` and ``--storage`` (as ``checkpoint``), then ``params``.

    A strategy with weight-only warm-up epochs (ProxylessNAS: 40 before 120 in the reference) gets
    ``--epochs // 3`` of them, the reference's ratio, so ``--epochs`` stays the number of search epochs and a short
    run stays short; ``--param warmup_epochs=N`` sets it."""
    options = {"seed": args.seed, "epochs": args.epochs, **params}
    if "warmup_epochs" in parameters(cls) and "warmup_epochs" not in params:
        options["warmup_epochs"] = args.epochs // 3
    if "progress" in parameters(cls):
        options["progress"] = not args.quiet
    if args.storage is not None:
        options["checkpoint"] = args.storage
    return cls(space, **options)


# -- data and the derived network ----------------------------------------------


def _input_shape(G: nx.DiGraph) -> tuple[int, ...]:
    """The shape ``(channels, height, width)`` the supernet's single input declares."""
    inputs = [attrs.get("params", {}) for _, attrs in G.nodes(data=True) if attrs.get("op") == "input"]
    if len(inputs) != 1 or "channels" not in inputs[0] or "size" not in inputs[0]:
        raise SearchError("the supernet must have one image input declaring channels and size")
    return (inputs[0]["channels"], *inputs[0]["size"])


def _data(args: argparse.Namespace, shape: tuple[int, ...], raw: Any = None) -> Any:
    """The dataset (``raw``, or read from the flags), its training split subsampled to ``--data-fraction`` as the
    black-box evaluator does, fitted to ``shape``."""
    data = training_fraction(raw if raw is not None else load_data(args), args.data_fraction, args.seed)
    return fit_input(data, shape)


def _report(space: Any, result: Any, G: nx.DiGraph, shape: tuple[int, ...]) -> None:
    size = cost(G, shape)
    print(f"stopped: {result.reason} ({result.epochs_run} epoch(s) run)")
    print(f"architecture: {space.encode(result.arch)}")
    print(f"  params {size.params:,}   multiply-adds {size.macs:,}")
    if "best_score" in result.details:
        print(f"  validation accuracy with the supernet's weights {100 * result.details['best_score']:.2f}%")


def _retrain(G: nx.DiGraph, args: argparse.Namespace, device: str) -> torch.nn.Module:
    """Train ``G`` from scratch for ``--retrain-epochs`` (Adam, lr 0.01, as black-box candidates); print accuracy."""
    data = _data(args, _input_shape(G))
    result = train(G, data, epochs=args.retrain_epochs, seed=args.seed, optimizer="adam", lr=0.01, device=device,
                   progress=not args.quiet)
    print(f"retrained from scratch, {result.epochs_run} epoch(s): val accuracy {100 * result.val_accuracy:.2f}% "
          f"(epoch {result.best_epoch})   test accuracy {100 * result.test_accuracy:.2f}%")
    return result.model.to(torch.device("cpu"))


def _check_writable(flag: str, path: Path | None) -> None:
    """Fail before searching, not after, when ``path`` cannot be written."""
    if path is None:
        return
    if path.is_dir():
        raise SearchError(f"{flag} {str(path)!r}: it is a directory")
    if not path.parent.is_dir():
        raise SearchError(f"{flag} {str(path)!r}: directory {str(path.parent)!r} does not exist")


# -- α plot --------------------------------------------------------------------


def _candidates(G: nx.DiGraph) -> dict[str, list[str]]:
    """α key -> labels of its candidates, from the supernet's ``choice`` nodes (nested subgraphs too)."""
    found: dict[str, list[str]] = {}
    for _, attrs in G.nodes(data=True):
        params = attrs.get("params", {})
        if attrs["op"] == "subgraph":
            for key, labels in _candidates(params["graph"]).items():
                found.setdefault(key, labels)
        elif "key" in params and params.get("candidates"):
            found.setdefault(params["key"], _labels([c if isinstance(c, dict) else {"op": str(c)}
                                                     for c in params["candidates"]]))
    return found


def _labels(candidates: list[dict[str, Any]]) -> list[str]:
    """Op names; where a name repeats, with the params that tell its candidates apart, e.g.
    ``relu_conv_bn(kernel=1)``."""
    labels = []
    for c in candidates:
        same = [d.get("params", {}) for d in candidates if d["op"] == c["op"]]
        params = c.get("params", {})
        differ = ", ".join(f"{k}={v}" for k, v in sorted(params.items()) if any(p.get(k) != v for p in same))
        labels.append(f"{c['op']}({differ})" if differ else c["op"])
    return labels


def plot_alphas(history: list[dict[str, torch.Tensor]], names: dict[str, list[str]], path: Path, *,
                sigmoid: bool = False, title: str = "") -> None:
    """One panel per α key: each candidate's weight (softmax over candidates, or sigmoid), mean over the key's
    rows (edges, cells), against the epoch. ``names`` labels the candidates (numbered where it has none)."""
    from matplotlib.figure import Figure  # deferred: matplotlib costs a second, and only --plot needs it
    from matplotlib.ticker import MaxNLocator

    keys = list(history[0]) if history else []
    if not keys:
        raise SearchError("--plot: the search recorded no α")
    cols = min(len(keys), 4)
    rows = math.ceil(len(keys) / cols)
    fig = Figure(figsize=(max(4.5 * cols, 6), 3.2 * rows + 0.4), dpi=100)
    epochs = range(1, len(history) + 1)
    for i, key in enumerate(keys):
        ax = fig.add_subplot(rows, cols, i + 1)
        weights = torch.stack([_weights(h[key], sigmoid) for h in history])  # (epochs, candidates)
        labels = names.get(key, [])
        if len(labels) != weights.shape[1]:
            labels = [f"candidate {j}" for j in range(weights.shape[1])]
        for j in range(weights.shape[1]):
            ax.plot(epochs, weights[:, j].numpy(), marker="o", markersize=3, label=labels[j])
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.set_xlim(0.5, len(history) + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.set_ylabel("sigmoid(α)" if sigmoid else "softmax(α)", fontsize=8)
        ax.ticklabel_format(axis="y", useOffset=False)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=6, loc="best")
    if title:
        fig.suptitle(f"{title}: α per candidate, mean over rows")
    fig.tight_layout()
    fig.savefig(path)


def _weights(alpha: torch.Tensor, sigmoid: bool) -> torch.Tensor:
    alpha = alpha.detach().float().reshape(-1, alpha.shape[-1])
    return (torch.sigmoid(alpha) if sigmoid else torch.softmax(alpha, dim=-1)).mean(dim=0)
