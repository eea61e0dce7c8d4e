"""The error type of the `spaces` package."""


class SpaceError(ValueError):
    """A bad space option, architecture or encoding; messages name the value."""
