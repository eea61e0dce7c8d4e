"""Every limit the library puts on what it reads or builds, in one place.

Each is a module attribute read at call time, so a user who needs more sets it
once, e.g. ``wiring.limits.MAX_MACS = 10**13`` before ``wiring.validate(G)``.
They exist so that a hostile or mistaken input is refused with a
:class:`~wiring.errors.GraphError` before anything is allocated, instead of
exhausting memory or failing deep inside torch.
"""

from __future__ import annotations

MAX_NESTING = 64
"""Deepest nesting of ``subgraph`` nodes that ``validate``, ``cost`` and ``compile`` accept."""

MAX_MACS = 10**12
"""Most multiply-adds per sample a graph may cost (a ResNet-50 costs 4·10⁹)."""

MAX_TENSOR_BYTES = 4 * 2**30
"""Largest activation a graph may ask for: one node's output (or a graph input) for one sample, as float32."""

MAX_WEIGHT_BYTES = 16 * 2**30
"""Most memory all of a graph's weights (α included) may take as float32: 4·2³⁰ parameters."""

MAX_JSON_CHARS = 64 * 2**20
"""Longest JSON text ``from_json`` (and ``wiring info``) reads: 64 Mi characters."""

MAX_JSON_DEPTH = 8
"""Deepest nesting of subgraphs ``from_json`` accepts."""

MAX_NODES = 1_000_000
"""Most nodes, over all nesting levels, ``from_json`` accepts."""
