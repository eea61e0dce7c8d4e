"""Compiled supernets: their decisions, their α, and the helpers that set paths, temperature and RNG.

A supernet's ``choice`` / ``select`` nodes carry ``decision`` (the name of the decision of the
space they implement; default ``"<key>[<row>]"``), ``key`` and ``index`` (the α matrix and the
row they read). Several nodes may implement one decision (the cells of a DARTS supernet share
α per cell type): they are its *sites*. The compiler records on every relaxed module its
``decision``, ``key``, ``row`` and ``choices`` (candidate names: a ``choice`` candidate's
``name``, else its op; a ``select`` input's node label), and puts all α of the model in one
:class:`Alphas` module, ``model.alphas``. The generated ``forward`` first calls
``self.alphas(key)`` once per α key: the relaxation mode's :class:`~ops.relax.Draw` of the whole
matrix (softmax weights, one Gumbel sample, one single path, one binary gate per row), which
every site then reads its row of. So each forward relaxes every α row exactly once.

This module is the one place that knows where α lives: strategies and spaces read decisions and
α through :func:`decisions`, :func:`alphas` and :func:`alpha`, and steer sampling through
:func:`set_paths`, :func:`set_generator`, :func:`set_tau`, :func:`set_drop_rate`, :func:`set_estimator` and
:func:`rescale`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ops.modules import Relaxed
from ops.relax import ESTIMATORS, Draw, RelaxState, get_mode, rescale as rescale_row

from .errors import GraphError

ALPHAS = "alphas"
"""Name of the :class:`Alphas` module of a compiled supernet (state_dict keys ``alphas.<key>``)."""


class Alphas(nn.Module):
    """Every α matrix of a compiled supernet (one parameter per key) and its relaxation state.

    ``alphas(key)`` relaxes matrix ``key`` once for a forward pass (the mode's draw) and keeps the
    draw as ``states[key].last``."""

    def __init__(self, params: Mapping[str, nn.Parameter], mode: str) -> None:
        super().__init__()
        for key, p in params.items():
            self.register_parameter(key, p)
        self.relax = get_mode(mode)
        self.states = {key: RelaxState() for key in params}

    @property
    def mode(self) -> str:
        return self.relax.name

    def forward(self, key: str) -> Draw:
        state = self.states[key]
        state.last = self.relax.draw(getattr(self, key), state)
        return state.last

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


@dataclass(frozen=True)
class Site:
    """A relaxed module of a model: its path, its decision and the α key and row it reads."""

    path: str
    module: Relaxed
    decision: str | None
    key: str | None
    row: int | None


@dataclass(frozen=True)
class Decision:
    """One decision of a compiled supernet: its α (``key``, ``row``), candidates by name, and sites."""

    name: str
    key: str
    row: int
    choices: tuple[str, ...]
    sites: tuple[str, ...]


def sites(model: nn.Module) -> list[Site]:
    """Every relaxed module of ``model`` (nested subgraphs included, each once), by path."""
    found: dict[int, Site] = {}
    for path, module in model.named_modules():
        if isinstance(module, Relaxed) and id(module) not in found:
            found[id(module)] = Site(path, module, module.decision, module.key, module.row)
    return sorted(found.values(), key=lambda s: s.path)


def decisions(model: nn.Module) -> list[Decision]:
    """The decisions of a compiled supernet, ordered by α key and row (keys in first-site order)."""
    grouped: dict[str, list[Site]] = {}
    for site in sites(model):
        if site.decision is None or site.key is None:
            raise GraphError(f"relaxed module {site.path!r} was not compiled by wiring.compile: it names no decision")
        grouped.setdefault(site.decision, []).append(site)
    order = {key: i for i, key in enumerate(alphas(model))}
    found = [Decision(name, group[0].key, group[0].row, tuple(group[0].module.choices), tuple(s.path for s in group))
             for name, group in grouped.items()]
    return sorted(found, key=lambda d: (order.get(d.key, len(order)), d.row))


def decision(model: nn.Module, name: str) -> Decision:
    """The decision named ``name``; :class:`GraphError` listing the known names."""
    found = {d.name: d for d in decisions(model)}
    if name not in found:
        known = ", ".join(list(found)[:12]) + (", …" if len(found) > 12 else "")
        raise GraphError(f"the supernet has no decision {name!r}; its decisions: {known or 'none'}")
    return found[name]


def alphas(model: nn.Module) -> dict[str, nn.Parameter]:
    """α by key (empty for a model without relaxed nodes)."""
    found = getattr(model, ALPHAS, None)
    return dict(found.named_parameters()) if isinstance(found, Alphas) else {}


def alpha(model: nn.Module, key: str) -> nn.Parameter:
    """α matrix ``key``; :class:`GraphError` listing the keys when it is missing."""
    found = alphas(model)
    if key not in found:
        raise GraphError(f"the supernet has no α {key!r}; its keys: {', '.join(found) or 'none'}")
    return found[key]


def learnable(model: nn.Module, key: str) -> list[bool]:
    """Per column of α ``key``, whether its candidate holds parameters at every ``choice`` site reading
    ``key`` (DARTS+ ranks these only: convolutions, not pools, ``none`` or the identity skip); every column
    of a key read by ``select`` nodes only (inputs, not ops)."""
    found = [s.module for s in sites(model) if s.key == key]
    if not found:
        raise GraphError(f"no relaxed module reads α {key!r}")
    choices = [m for m in found if hasattr(m, "candidates")]
    if not choices:
        return [True] * len(found[0].choices)
    return [all(next(m.candidates[i].parameters(), None) is not None for m in choices)
            for i in range(len(choices[0].candidates))]


def is_alpha(name: str) -> bool:
    """Whether parameter name ``name`` (from ``named_parameters``) is an α."""
    parts = name.split(".")
    return len(parts) == 2 and parts[0] == ALPHAS


def states(model: nn.Module) -> Iterator[tuple[str, RelaxState]]:
    """``(key, relaxation state)`` for every α key of ``model``."""
    found = getattr(model, ALPHAS, None)
    if isinstance(found, Alphas):
        yield from found.states.items()


def last_index(model: nn.Module) -> dict[str, int]:
    """Per decision, the candidate the last forward ran (sampling modes; empty before any forward)."""
    drawn = {key: state.last for key, state in states(model)}
    return {d.name: drawn[d.key].index[d.row] for d in decisions(model)
            if drawn.get(d.key) is not None and drawn[d.key].index is not None}


Chooser = Mapping[Any, "int | None"] | Callable[[Decision], "int | None"]


def set_paths(model: nn.Module, chooser: Chooser, *, sites_too: Mapping[str, int | None] | None = None) -> dict[str, int | None]:
    """Set the ``single_path`` candidate of every decision of ``model``.

    ``chooser`` maps a decision name (or ``(α key, row)``) to a candidate index, or is a callable
    ``Decision -> int | None``; a decision it does not name gets ``None`` (drawn uniformly per
    forward, once for all its sites). ``sites_too`` overrides single modules by path (e.g.
    ``{"n5.n2": 0}``; ``None`` clears an override). Returns decision name -> index."""
    chosen: dict[str, int | None] = {}
    state = dict(states(model))
    for d in decisions(model):
        k = chooser(d) if callable(chooser) else chooser.get(d.name, chooser.get((d.key, d.row)))
        if k is not None and (isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < len(d.choices)):
            raise GraphError(f"set_paths: decision {d.name!r} takes an index in 0..{len(d.choices) - 1}, got {k!r}")
        state[d.key].active[d.row] = k
        chosen[d.name] = k
    if sites_too:
        by_path = {s.path: s.module for s in sites(model)}
        for path, k in sites_too.items():
            if path not in by_path:
                raise GraphError(f"set_paths: no relaxed module at {path!r}")
            by_path[path].active = k
    return chosen


def set_generator(model: nn.Module, generator: torch.Generator | int | None) -> torch.Generator | None:
    """Draw every sample of ``model``'s relaxation from one generator (an int seeds a new CPU one)."""
    if isinstance(generator, int) and not isinstance(generator, bool):
        generator = torch.Generator().manual_seed(generator)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise GraphError(f"set_generator: expected a torch.Generator, an int seed or None, got {generator!r}")
    for _, state in states(model):
        state.generator = generator
    return generator


def set_tau(model: nn.Module, tau: float) -> None:
    """Set the Gumbel temperature of ``model``'s relaxation."""
    if isinstance(tau, bool) or not isinstance(tau, (int, float)) or not float(tau) > 0:
        raise GraphError(f"set_tau: tau must be a number > 0, got {tau!r}")
    for _, state in states(model):
        state.tau = float(tau)


def set_drop_rate(model: nn.Module, rate: float) -> None:
    """Set the ``path_dropout`` mode's rate r (each of k candidates dropped with probability r^(1/k))."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
        raise GraphError(f"set_drop_rate: rate must be a number in [0, 1], got {rate!r}")
    for _, state in states(model):
        state.drop_rate = float(rate)


def set_estimator(model: nn.Module, estimator: str) -> None:
    """Set the ``binary`` mode's α-gradient estimator (``"full_v2"`` or ``"two"``, see :mod:`ops.relax`)."""
    if estimator not in ESTIMATORS:
        raise GraphError(f"set_estimator: estimator must be one of {', '.join(ESTIMATORS)}, got {estimator!r}")
    for _, state in states(model):
        state.estimator = estimator


def rescale(model: nn.Module) -> None:
    """ProxylessNAS' rescaling after an α step of a ``binary`` forward (``"two"`` estimator), once per
    α row (see :func:`ops.relax.rescale`, which this calls per α key)."""
    params = alphas(model)
    for key, state in states(model):
        rescale_row(state, params[key].data)


def choice_names(node_op: str, params: Mapping[str, Any], inputs: list[Hashable]) -> tuple[str, ...]:
    """Candidate names of a relaxed node: a ``choice`` candidate's ``name`` or op, a ``select`` input's label."""
    if node_op == "choice":
        return tuple(str(c.get("name", c["op"])) for c in params["candidates"])
    return tuple(str(label) for label in inputs)
