"""The error type of the generators package."""


class GeneratorError(ValueError):
    """An invalid argument to a graph generator or to :func:`orient`.

    The message names the offending parameter (or node) and its value.
    """
