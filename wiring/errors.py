"""The error type of the `wiring` package."""

from generators import WiringError

__all__ = ["GraphError", "WiringError"]


class GraphError(WiringError):
    """A malformed typed DAG, a bad argument to a graph function, or a corrupt file.

    Messages name the offending node, edge, parameter and value.
    """
