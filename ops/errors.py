"""The error type of the `ops` package."""

from generators import WiringError

__all__ = ["OpError", "WiringError"]


class OpError(WiringError):
    """An unknown op, a bad op parameter, or inputs an op cannot take.

    Messages name the op, the parameter and the offending value.
    """
