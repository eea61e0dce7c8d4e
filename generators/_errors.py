"""The error types of the generators package, and the root of every error this library raises."""


class WiringError(ValueError):
    """The root of every error this library raises.

    Each package raises a subclass of its own (:class:`GeneratorError`,
    ``ops.OpError``, ``wiring.GraphError``, ``spaces.SpaceError``, and the
    search's, data's and training's ``SearchError``, ``DataError`` and
    ``TrainError``), so ``except WiringError`` catches every library error and
    nothing else. It derives from ``ValueError``: an error of this library is a
    bad value given to it (an argument, a graph, a file).
    """


class GeneratorError(WiringError):
    """An invalid argument to a graph generator or to :func:`orient`.

    The message names the offending parameter (or node) and its value.
    """
