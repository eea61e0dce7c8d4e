"""The error type of the `wiring` package."""


class GraphError(ValueError):
    """A malformed typed DAG, a bad argument to a graph function, or a corrupt file.

    Messages name the offending node, edge, parameter and value.
    """
