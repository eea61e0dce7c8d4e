"""Whole RandWire networks (docs/papers.md §1, "Regimes") as one typed DAG with stages as subgraphs.

Layout (input 224×224; "conv" = ReLU-Conv-BN, conv1 = Conv-BN; C = ``channels``,
N = ``nodes``)::

    stage       small                   regular                 cifar (32×32)
    conv1       3×3 conv/2, C/2         3×3 conv/2, C/2         3×3 conv, C/2
    conv2       3×3 conv/2, C           wiring N/2, C           3×3 conv, C
    conv3       wiring N, C             wiring N, 2C            wiring N, C
    conv4       wiring N, 2C            wiring N, 4C            wiring N, 2C
    conv5       wiring N, 4C            wiring N, 8C            wiring N, 4C
    classifier  1×1 conv to 1280, BN, ReLU, global average pool, fully connected

C/2 rounds down (C=109 gives 54). Each wiring stage down-samples by 2 in the
nodes fed by its input. ``cifar`` is this library's small-image variant (not in
the paper): the small regime with conv1 and conv2 at stride 1, so a 32×32 input
reaches the classifier at 4×4.

Per-stage seeds: stage ``conv<k>`` draws its graph with the int seed
``int(sha256(f"{seed}:conv<k>").hexdigest()[:8], 16)``, recorded in the stage
subgraph's ``generator`` provenance, so each stage can be rebuilt alone and the
stages are independent draws.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import networkx as nx

import generators
from generators.checks import positive_int
from wiring import SCHEMA_VERSION, cost

from ..errors import SpaceError
from .stage import DEFAULT_NODE_OP, check_node_op, stage

GENERATORS: dict[str, tuple[Callable[..., nx.DiGraph], dict[str, Any]]] = {
    "er": (generators.erdos_renyi, {"p": 0.2}),
    "ba": (generators.barabasi_albert, {"m": 5}),
    "ws": (generators.watts_strogatz, {"k": 4, "p": 0.75}),
    "ws_flex": (generators.ws_flex, {"k": 4.0, "p": 0.75}),
}
"""Generator short names, with the paper's settings as default parameters."""
_ALIASES = {"erdos_renyi": "er", "barabasi_albert": "ba", "watts_strogatz": "ws"}

CLASSIFIER_CHANNELS = 1280


def stage_seed(seed: int, stage_name: str) -> int:
    """The int seed of one stage's graph, derived from the network ``seed``."""
    return int(hashlib.sha256(f"{seed}:{stage_name}".encode()).hexdigest()[:8], 16)


def topology(generator: str, nodes: int, params: Mapping[str, Any] | None, seed: int | None) -> nx.DiGraph:
    """A stage topology from a generator short name (``er``, ``ba``, ``ws``, ``ws_flex``)."""
    if not isinstance(generator, str):
        raise SpaceError(f"generator must be one of {sorted(GENERATORS)}, got {generator!r}")
    name = _ALIASES.get(generator, generator)
    if name not in GENERATORS:
        raise SpaceError(f"unknown generator {generator!r}; choose one of {sorted(GENERATORS)}")
    function, defaults = GENERATORS[name]
    try:
        return function(nodes, **{**defaults, **(params or {})}, seed=seed)
    except (generators.GeneratorError, TypeError) as error:
        raise SpaceError(f"generator {name!r}: {error}") from None


def _network(regime: str, *, channels: int, nodes: int, generator: str, generator_params: Mapping[str, Any] | None,
             seed: int | None, num_classes: int, graphs: Sequence[nx.DiGraph] | None, image_size: int,
             in_channels: int, node_op: str = DEFAULT_NODE_OP) -> nx.DiGraph:
    for name, value in (("channels", channels), ("nodes", nodes), ("num_classes", num_classes),
                        ("image_size", image_size), ("in_channels", in_channels)):
        positive_int(name, value, error=SpaceError)
    if channels < 2:
        raise SpaceError(f"channels must be at least 2 (conv1 has channels // 2), got channels={channels}")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise SpaceError(f"seed must be an int or None, got seed={seed!r}")
    if generator_params is not None and not isinstance(generator_params, Mapping):
        raise SpaceError(f"generator_params must be a dict, got {generator_params!r}")
    check_node_op(node_op)
    wired = _WIRED[regime]
    if graphs is not None and len(graphs) != len(wired):
        raise SpaceError(f"graphs must hold {len(wired)} stage topologies for the {regime} regime "
                         f"({', '.join(wired)}), got {len(graphs)}")
    G = nx.DiGraph(schema=SCHEMA_VERSION, space={
        "name": f"randwire.{regime}",
        "params": {"channels": channels, "nodes": nodes, "generator": generator,
                   "generator_params": dict(generator_params or {}), "seed": seed, "num_classes": num_classes,
                   "image_size": image_size, "in_channels": in_channels, "graphs": graphs is not None},
    })
    if node_op != DEFAULT_NODE_OP:  # the default's provenance stays as it was before node_op existed
        G.graph["space"]["params"]["node_op"] = node_op
    G.add_node("input", op="input", params={"channels": in_channels, "size": [image_size, image_size]})
    stride = 1 if regime == "cifar" else 2
    previous, size, c_in = "input", image_size, in_channels
    for name, (multiple, node_fraction) in _STAGES[regime].items():
        c_out = channels // 2 if name == "conv1" else channels * multiple
        if node_fraction is None:
            op = "conv_bn" if name == "conv1" else "relu_conv_bn"
            G.add_node(name, op=op, params={"channels": c_out, "kernel": 3, "stride": stride})
            size = (size - 1) // stride + 1
        else:
            k = wired.index(name)
            graph = graphs[k] if graphs is not None else topology(
                generator, max(1, int(nodes * node_fraction)), generator_params,
                None if seed is None else stage_seed(seed, name))
            G.add_node(name, op="subgraph", params={"graph": stage(graph, c_in, c_out, stride=2, size=[size, size],
                                                                        node_op=node_op)})
            size = (size - 1) // 2 + 1
        G.add_edge(previous, name)
        previous, c_in = name, c_out
    G.add_node("classifier", op="conv_bn", params={"channels": CLASSIFIER_CHANNELS, "kernel": 1, "relu": True})
    G.add_node("fc", op="head", params={"num_classes": num_classes})
    G.add_node("output", op="output")
    nx.add_path(G, [previous, "classifier", "fc", "output"])
    return G


# stage -> (channel multiple of C, fraction of N for wiring stages or None for a plain conv)
_STAGES: dict[str, dict[str, tuple[int, float | None]]] = {
    "small": {"conv1": (0, None), "conv2": (1, None), "conv3": (1, 1.0), "conv4": (2, 1.0), "conv5": (4, 1.0)},
    "regular": {"conv1": (0, None), "conv2": (1, 0.5), "conv3": (2, 1.0), "conv4": (4, 1.0), "conv5": (8, 1.0)},
}
_STAGES["cifar"] = _STAGES["small"]
_WIRED = {regime: [name for name, (_, fraction) in stages.items() if fraction is not None]
          for regime, stages in _STAGES.items()}


def small(*, channels: int = 78, nodes: int = 32, generator: str = "ws",
          generator_params: Mapping[str, Any] | None = None, seed: int | None = 0, num_classes: int = 1000,
          graphs: Sequence[nx.DiGraph] | None = None, image_size: int = 224, in_channels: int = 3,
          node_op: str = DEFAULT_NODE_OP) -> nx.DiGraph:
    """The small-regime RandWire network (N=32, C=78 in the paper) as one typed DAG.

    ``generator`` is ``"ws"`` (WS(4, 0.75)), ``"er"`` (ER(0.2)), ``"ba"`` (BA(5))
    or ``"ws_flex"``; ``generator_params`` overrides those defaults; ``graphs``
    gives the three wiring stages' topologies directly (conv3, conv4, conv5).
    ``image_size`` and ``in_channels`` describe the input images (224, 3).
    ``node_op`` is the node operation of every wiring stage: ``"sep"`` (the
    paper's 3×3 separable conv), or the paper's alternatives ``"conv"``,
    ``"maxpool"``, ``"avgpool"`` (:mod:`spaces.randwire.stage`); give those the
    C of :func:`matched_channels` to compare at equal multiply-adds.
    """
    return _network("small", channels=channels, nodes=nodes, generator=generator, generator_params=generator_params,
                    seed=seed, num_classes=num_classes, graphs=graphs, image_size=image_size,
                    in_channels=in_channels, node_op=node_op)


def regular(*, channels: int = 109, nodes: int = 32, generator: str = "ws",
            generator_params: Mapping[str, Any] | None = None, seed: int | None = 0, num_classes: int = 1000,
            graphs: Sequence[nx.DiGraph] | None = None, image_size: int = 224, in_channels: int = 3,
            node_op: str = DEFAULT_NODE_OP) -> nx.DiGraph:
    """The regular-regime RandWire network (C=109 or 154 in the paper); four wiring stages, conv2 with N/2 nodes."""
    return _network("regular", channels=channels, nodes=nodes, generator=generator,
                    generator_params=generator_params, seed=seed, num_classes=num_classes, graphs=graphs,
                    image_size=image_size, in_channels=in_channels, node_op=node_op)


def cifar(*, channels: int = 78, nodes: int = 32, generator: str = "ws",
          generator_params: Mapping[str, Any] | None = None, seed: int | None = 0, num_classes: int = 10,
          graphs: Sequence[nx.DiGraph] | None = None, image_size: int = 32, in_channels: int = 3,
          node_op: str = DEFAULT_NODE_OP) -> nx.DiGraph:
    """The small regime for small images: conv1 and conv2 at stride 1 (this library's variant)."""
    return _network("cifar", channels=channels, nodes=nodes, generator=generator, generator_params=generator_params,
                    seed=seed, num_classes=num_classes, graphs=graphs, image_size=image_size,
                    in_channels=in_channels, node_op=node_op)


REGIMES: dict[str, Callable[..., nx.DiGraph]] = {"small": small, "regular": regular, "cifar": cifar}
"""The network builders by regime name."""


def matched_channels(regime: str, node_op: str, *, channels: int | None = None, **options: Any) -> int:
    """The C at which ``node_op`` networks have the multiply-adds of the separable network at ``channels``.

    The paper compares node operations at equal complexity, adjusting C for
    each (§4, Fig. 6). This builds the ``regime`` network (``"small"``,
    ``"regular"`` or ``"cifar"``) with the default ``"sep"`` node op at
    ``channels`` (default: the regime's, 78 or 109) and ``options`` (any
    keyword of :func:`small` but ``node_op``: ``nodes``, ``generator``,
    ``seed``, ``image_size``, …), counts its multiply-adds with
    :func:`wiring.cost` at the network's declared input, and returns the C ≥ 2
    whose ``node_op`` network (same options, hence the same graphs) comes
    closest (the smaller C on a tie). ``"sep"`` gives ``channels`` back.
    Multiply-adds grow with C, so a bisection needs a dozen networks.
    """
    if regime not in REGIMES:
        raise SpaceError(f"regime must be one of {list(REGIMES)}, got regime={regime!r}")
    check_node_op(node_op)
    build = REGIMES[regime]
    if channels is None:
        channels = inspect.signature(build).parameters["channels"].default
    reference = build(channels=channels, **options)
    if node_op == DEFAULT_NODE_OP:
        return channels
    target = cost(reference).macs

    def macs(c: int) -> int:
        return cost(build(channels=c, node_op=node_op, **options)).macs

    low, high = 2, max(channels, 2)  # invariant once found: macs(low) < target <= macs(high), or low == 2
    while macs(high) < target:
        low, high = high, 2 * high
    if macs(low) >= target:
        return low
    while high - low > 1:
        middle = (low + high) // 2
        if macs(middle) < target:
            low = middle
        else:
            high = middle
    return low if target - macs(low) <= macs(high) - target else high
