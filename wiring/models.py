"""Named models: published architectures by name, in the style of timm (GitHub issue 13).

::

    import wiring.models

    wiring.models.list("*nas*")                       # sorted names matching an fnmatch pattern
    net = wiring.models.create("darts_v2")            # a compiled module (wiring.compile), the paper's size
    G = wiring.models.graph("darts_v2", channels=8)   # the typed DAG, with the model's options
    entry = wiring.models.get("darts_v2")             # encoding, cost, graph_hash, citation, published sizes

Design
------
The registry is machinery of the core: it knows no concrete space, and the
core never imports :mod:`spaces` (docs: the layering of the library). An entry
is a :class:`ModelEntry`: a name, a *builder* (a callable whose keyword-only
arguments, with defaults, are the model's options and whose defaults are the
paper's configuration; it returns a typed DAG) and what is known about the
model: its citation, the sizes its paper prints (:class:`Published`), exact
counts of a reference implementation where one exists (:class:`Reference`)
and, per quantity, why the library's count differs from the printed figure
when it does (``deviations``). What follows from the graph is computed from
it, once, on first use: the encoding (the space's provenance in
``G.graph["space"]``), :attr:`ModelEntry.cost` (:func:`wiring.cost`, at the
graph's declared input size) and :attr:`ModelEntry.graph_hash`
(:func:`wiring.graph_hash`). Nothing is pinned twice, so an entry cannot go
stale against the space that builds it.

Entries that need a space are registered from the ``spaces`` side
(``spaces/models.py``), and the core discovers them through the package
entry-point group ``nas_wiring.models`` (``pyproject.toml``)::

    [project.entry-points."nas_wiring.models"]
    spaces = "spaces.models:register_models"

On the first lookup (any function of this module), the group's entry points
are read with :func:`importlib.metadata.entry_points` (once per process), and
each is loaded and called with :func:`register`. A third-party distribution
adds its own models the same way.
Entry points are read from the installed distribution's metadata: after
editing ``pyproject.toml``, reinstall (``pip install -e .``). A plugin that
fails to load raises :class:`ModelError` naming it (no model silently goes
missing) and is tried again on the next lookup.

Registering a different entry under a taken name is refused; registering the
same entry again is a no-op (the ops registry's rule). Unknown names and
options raise :class:`ModelError` naming them and their close matches.
"""

from __future__ import annotations

import builtins
import difflib
import fnmatch
import inspect
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from importlib.metadata import entry_points
from types import MappingProxyType
from typing import Any, NamedTuple

import networkx as nx

from .errors import WiringError

__all__ = ["ENTRY_POINT_GROUP", "QUANTITIES", "Figure", "ModelEntry", "ModelError", "Published", "Reference", "create",
           "get", "graph", "list", "register", "table", "unregister"]

ENTRY_POINT_GROUP = "nas_wiring.models"
"""The entry-point group whose objects are called with :func:`register` on the first lookup."""

QUANTITIES = ("params", "macs")
"""The sizes an entry states: parameters and multiply-adds (one sample at the graph's input size)."""

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]*$")
_FIGURE = re.compile(r"^\s*(\d+(?:\.(\d+))?)\s*([KMG]?)\s*(?:±\s*(\d+(?:\.\d+)?)\s*([KMG]?))?\s*$")
_SCALE = {"": 1, "K": 10 ** 3, "M": 10 ** 6, "G": 10 ** 9}


class ModelError(WiringError):
    """An unknown model or option, a refused registration, or a model plugin that failed to load."""


class Figure(NamedTuple):
    """A size as a paper prints it: ``value`` and the ``tolerance`` the print implies."""

    text: str
    value: float
    tolerance: float

    @classmethod
    def parse(cls, text: str, where: str) -> Figure:
        """``"3.3M"`` (± half a unit of its last digit: 0.05M) or ``"5.6M ± 0.1M"`` (± the stated spread)."""
        match = _FIGURE.match(text) if isinstance(text, str) else None
        if match is None:
            raise ModelError(f"{where}: a published figure reads like '3.3M', '574M' or '5.6M ± 0.1M', got {text!r}")
        number, decimals, unit, spread, spread_unit = match.groups()
        scale = _SCALE[unit]
        if spread is not None:
            tolerance = float(spread) * _SCALE[spread_unit or unit]
        else:
            tolerance = 0.5 * 10.0 ** -len(decimals or "") * scale
        return cls(text.strip(), float(number) * scale, tolerance)

    def admits(self, count: int) -> bool:
        """Whether ``count`` agrees with the printed figure."""
        return abs(count - self.value) <= self.tolerance * (1 + 1e-9)


@dataclass(frozen=True)
class Published:
    """The sizes a paper (or the authors' release notes) prints, e.g. ``Published("3.3M", None, "Table 1")``.

    ``params`` and ``macs`` are the printed texts (``"3.3M"``, ``"574M"``, or
    ``"5.6M ± 0.1M"`` for a mean and spread) or None where nothing is printed;
    ``source`` says where they are printed.
    """

    params: str | None = None
    macs: str | None = None
    source: str = ""

    def figure(self, quantity: str) -> Figure | None:
        text = getattr(self, quantity)
        return None if text is None else Figure.parse(text, f"published {quantity}")


@dataclass(frozen=True)
class Reference:
    """Exact counts of a reference implementation (``source``: which one), for the entry to equal."""

    params: int | None = None
    macs: int | None = None
    source: str = ""


@dataclass(frozen=True, eq=True)
class ModelEntry:
    """One named model. See the module docstring; :func:`register` checks and builds entries."""

    name: str
    build: Callable[..., nx.DiGraph] = field(repr=False)
    citation: str
    dataset: str = ""
    description: str = ""
    published: Published = Published()
    reference: Reference | None = None
    deviations: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __hash__(self) -> int:
        return hash((self.name, self.build))

    # -- options ---------------------------------------------------------------------------

    @property
    def options(self) -> dict[str, Any]:
        """The builder's options and their defaults (the paper's configuration)."""
        return {p.name: p.default for p in inspect.signature(self.build).parameters.values()
                if p.kind is inspect.Parameter.KEYWORD_ONLY}

    def check_options(self, options: Mapping[str, Any]) -> None:
        """:class:`ModelError` naming any option the builder does not take, with close matches."""
        known = self.options
        for option in options:
            if option not in known:
                close = difflib.get_close_matches(option, known, n=3)
                hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
                offered = ", ".join(f"{k}={v!r}" for k, v in known.items()) or "none"
                raise ModelError(f"model {self.name!r} takes no option {option!r}{hint}; its options: {offered}")

    # -- the graph and what follows from it ------------------------------------------------

    def graph(self, **options: Any) -> nx.DiGraph:
        """The typed DAG of this model with ``options`` (defaults: the paper's configuration)."""
        self.check_options(options)
        G = self.build(**options)
        if not isinstance(G, nx.DiGraph):
            raise ModelError(f"model {self.name!r}: its builder returned {type(G).__name__}, not a typed DAG "
                             f"(networkx.DiGraph)")
        G.graph["model"] = {"name": self.name, "options": dict(options)}
        return G

    @cached_property
    def default_graph(self) -> nx.DiGraph:
        """The graph at the default options, built once (do not modify it: :meth:`graph` builds a fresh one)."""
        return self.graph()

    @cached_property
    def cost(self) -> Any:
        """``wiring.cost`` of the default graph: parameters and multiply-adds at the paper's input size."""
        from .cost import cost

        return cost(self.default_graph)

    @property
    def params(self) -> int:
        return self.cost.params

    @property
    def macs(self) -> int:
        return self.cost.macs

    @cached_property
    def graph_hash(self) -> str:
        """``wiring.graph_hash`` of the default graph."""
        from .serialise import graph_hash

        return graph_hash(self.default_graph)

    @cached_property
    def input_size(self) -> tuple:
        """The declared input shape, without batch (a tuple of shapes for a graph of several inputs)."""
        from .analysis import analyse

        analysis = analyse(self.default_graph)
        shapes = tuple(tuple(analysis.nodes[label].out_shape) for label in analysis.inputs)
        return shapes[0] if len(shapes) == 1 else shapes

    @cached_property
    def encoding(self) -> str | None:
        """The space's encoding of the architecture (its provenance in the graph), or None."""
        space = self.default_graph.graph.get("space")
        return space.get("encoding") if isinstance(space, Mapping) else None

    def agreement(self, quantity: str) -> str:
        """How the counted ``quantity`` stands against the published figure: ``agrees``, ``differs``, ``unpublished``."""
        figure = self.published.figure(quantity)
        if figure is None:
            return "unpublished"
        return "agrees" if figure.admits(getattr(self.cost, quantity)) else "differs"


# -- the registry ----------------------------------------------------------------------------

_REGISTRY: dict[str, ModelEntry] = {}
_FOUND: builtins.list[Any] | None = None
"""The group's entry points, read once per process on the first lookup (reading them costs milliseconds)."""
_LOADED: set[str] = set()
"""Entry points loaded (or being loaded) in this process, by ``name = value``."""
_LOCK = threading.RLock()


def _load_plugins() -> None:
    """Load every entry point of :data:`ENTRY_POINT_GROUP` not loaded yet and call it with :func:`register`."""
    global _FOUND
    with _LOCK:  # re-entrant: a plugin's own register() calls come back here and find it loading
        if _FOUND is not None and len(_LOADED) == len(_FOUND):
            return
        if _FOUND is None:
            _FOUND = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: (e.name, e.value))
        for ep in _FOUND:
            key = f"{ep.name} = {ep.value}"
            if key in _LOADED:
                continue
            _LOADED.add(key)  # first: a plugin's own register() calls must not load it again
            try:
                hook = ep.load()
                if not callable(hook):
                    raise ModelError(f"{ep.value} is not callable")
                hook(register)
            except Exception as error:
                _LOADED.discard(key)
                raise ModelError(f"model plugin {ep.name!r} ({ep.value}, entry-point group {ENTRY_POINT_GROUP!r}) "
                                 f"failed to load: {type(error).__name__}: {error}") from error


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ModelError(f"a model name is a non-empty lower-case string of letters, digits, '_', '.' and '-' "
                         f"(no spaces or pattern characters), got {name!r}")
    return name


def register(name: str, build: Callable[..., nx.DiGraph] | None = None, /, *, citation: str, dataset: str = "",
             description: str = "", published: Published | Mapping[str, Any] | None = None,
             reference: Reference | Mapping[str, Any] | None = None,
             deviations: Mapping[str, str] | None = None) -> Any:
    """Register the model ``name`` built by ``build``; without ``build``, a decorator that registers its function.

    Parameters
    ----------
    name : str
        Lower case, e.g. ``"darts_v2"``.
    build : callable
        Keyword-only options with defaults (the paper's configuration), returning a typed DAG.
    citation : str
        The paper, as ``docs/papers.md`` cites it.
    dataset, description : str
        What the defaults build (``"CIFAR-10"``) and a one-line description.
    published : Published or mapping
        The sizes the paper prints (``Published(params="3.3M", source="Table 1")``).
    reference : Reference or mapping
        Exact counts of a reference implementation the entry must equal.
    deviations : mapping
        ``{"params": "why the count differs from the printed figure"}``, for each quantity that does.

    Returns the :class:`ModelEntry` (or, as a decorator, the function). A
    different entry under a taken name raises :class:`ModelError`; the same
    entry again is a no-op.
    """
    if build is None:
        def decorator(function: Callable[..., nx.DiGraph]) -> Callable[..., nx.DiGraph]:
            register(name, function, citation=citation, dataset=dataset, description=description,
                     published=published, reference=reference, deviations=deviations)
            return function
        return decorator
    entry = _entry(name, build, citation=citation, dataset=dataset, description=description, published=published,
                   reference=reference, deviations=deviations)
    _load_plugins()
    with _LOCK:
        taken = _REGISTRY.get(entry.name)
        if taken is not None and taken != entry:
            raise ModelError(f"model name {entry.name!r} is taken by a different model ({taken.citation}); "
                             f"choose another name or unregister({entry.name!r}) first")
        _REGISTRY[entry.name] = entry if taken is None else taken
        return _REGISTRY[entry.name]


def _entry(name: Any, build: Any, *, citation: Any, dataset: Any, description: Any, published: Any, reference: Any,
           deviations: Any) -> ModelEntry:
    """A checked :class:`ModelEntry`; :class:`ModelError` names the culprit."""
    name = _check_name(name)
    where = f"model {name!r}"
    if not callable(build):
        raise ModelError(f"{where}: build must be a callable returning a typed DAG, got {build!r}")
    try:
        parameters = inspect.signature(build).parameters.values()
    except (TypeError, ValueError):
        raise ModelError(f"{where}: cannot read the options of its builder {build!r}") from None
    for p in parameters:
        if p.kind is not inspect.Parameter.KEYWORD_ONLY or p.default is inspect.Parameter.empty:
            raise ModelError(f"{where}: every builder argument is a keyword-only option with a default (the "
                             f"paper's value), got {p.name!r} in {build.__qualname__}{inspect.signature(build)}")
    for label, text in (("citation", citation), ("dataset", dataset), ("description", description)):
        if not isinstance(text, str) or (label == "citation" and not text.strip()):
            raise ModelError(f"{where}: {label} must be a{' non-empty' if label == 'citation' else ''} string, "
                             f"got {text!r}")
    published = _record(Published, published, where, "published")
    for quantity in QUANTITIES:
        published.figure(quantity)  # parses, or names the bad text
    reference = None if reference is None else _record(Reference, reference, where, "reference")
    if reference is not None:
        for quantity in QUANTITIES:
            count = getattr(reference, quantity)
            if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 0):
                raise ModelError(f"{where}: reference {quantity} is an exact count (int >= 0), got {count!r}")
    deviations = dict(deviations or {})
    for quantity, why in deviations.items():
        if quantity not in QUANTITIES or not isinstance(why, str) or not why.strip():
            raise ModelError(f"{where}: deviations maps {' or '.join(map(repr, QUANTITIES))} to the reason a count "
                             f"differs from its published figure, got {quantity!r}: {why!r}")
        if published.figure(quantity) is None:
            raise ModelError(f"{where}: a deviation for {quantity!r} needs a published {quantity} figure")
    return ModelEntry(name, build, citation, dataset, description, published, reference,
                      MappingProxyType(deviations))


def _record(cls: type, value: Any, where: str, label: str) -> Any:
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    if isinstance(value, Mapping):
        try:
            return cls(**value)
        except TypeError:
            fields = ", ".join(cls.__dataclass_fields__)
            raise ModelError(f"{where}: {label} takes {fields}, got {dict(value)!r}") from None
    raise ModelError(f"{where}: {label} must be a {cls.__name__} or a mapping, got {value!r}")


def unregister(name: str) -> ModelEntry:
    """Remove the model ``name`` (e.g. one a test registered) and return its entry."""
    with _LOCK:
        entry = get(name)
        del _REGISTRY[entry.name]
        return entry


def get(name: str) -> ModelEntry:
    """The entry of the model ``name``; :class:`ModelError` names an unknown one and its close matches."""
    _load_plugins()
    entry = _REGISTRY.get(name) if isinstance(name, str) else None
    if entry is not None:
        return entry
    names = sorted(_REGISTRY)
    if not names:
        raise ModelError(f"unknown model {name!r}: no model is registered (no plugin in the entry-point group "
                         f"{ENTRY_POINT_GROUP!r}; is the distribution installed, e.g. pip install -e .?)")
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5) if isinstance(name, str) else []
    if close:
        raise ModelError(f"unknown model {name!r}; did you mean {', '.join(map(repr, close))}? "
                         f"(wiring.models.list() names all {len(names)})")
    raise ModelError(f"unknown model {name!r}; known models: {', '.join(names)}")


def graph(name: str, **options: Any) -> nx.DiGraph:
    """The typed DAG of the model ``name`` (a fresh graph; ``options``: see ``get(name).options``)."""
    return get(name).graph(**options)


def create(name: str, *, seed: int | None = None, mode: str | None = None, **options: Any) -> Any:
    """The model ``name`` compiled by :func:`wiring.compile` (``seed``, ``mode``: its arguments).

    ``options`` are the model's own (``get(name).options``: e.g. ``num_classes``,
    ``channels``); defaults build the paper's network. Weights are freshly
    initialised: the registry holds architectures, not trained weights.
    """
    from .compiler import compile

    return compile(graph(name, **options), seed=seed, mode=mode)


def list(pattern: str = "*") -> builtins.list[str]:  # noqa: A001 - timm's list_models, named as the issue asks
    """The sorted names of the registered models matching the fnmatch ``pattern`` (case-insensitive)."""
    if not isinstance(pattern, str):
        raise ModelError(f"pattern must be a string (fnmatch, e.g. '*nas*'), got {pattern!r}")
    _load_plugins()
    return sorted(n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern.lower()))


# -- documentation -----------------------------------------------------------------------------


def _millions(count: int) -> str:
    return f"{count / 1e9:.2f}G" if count >= 10 ** 9 else f"{count / 1e6:.2f}M"


def _shape(shape: tuple) -> str:
    if shape and isinstance(shape[0], tuple):
        return ", ".join(_shape(s) for s in shape)
    return "×".join(map(str, shape))


def table(names: Iterable[str] | None = None) -> str:
    """The Markdown table of ``names`` (default: every model) that ``docs/models.md`` shows.

    Columns: name, what it is, parameters and multiply-adds as counted here
    (:func:`wiring.cost`), input size, the published figures (``=`` agrees
    with the count to the printed precision, ``≠`` differs: see the entry's
    ``deviations``), the citation and the first 12 hex digits of the graph hash.
    """
    rows = ["| name | model | params | MACs | input | published params / MACs | citation | graph_hash |",
            "| --- | --- | ---: | ---: | --- | --- | --- | --- |"]
    for name in (list() if names is None else names):
        entry = get(name)
        marks = {"agrees": " (=)", "differs": " (≠)", "unpublished": ""}
        published = " / ".join(
            (getattr(entry.published, q) or "–") + marks[entry.agreement(q)] for q in QUANTITIES)
        rows.append(f"| `{entry.name}` | {entry.description} | {_millions(entry.params)} | "
                    f"{_millions(entry.macs)} | {_shape(entry.input_size)} | {published} | {entry.citation} | "
                    f"`{entry.graph_hash[:12]}` |")
    return "\n".join(rows) + "\n"
