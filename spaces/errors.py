"""The error type of the `spaces` package."""

from generators import WiringError

__all__ = ["SpaceError", "WiringError"]


class SpaceError(WiringError):
    """A bad space option, architecture or encoding; messages name the value."""
