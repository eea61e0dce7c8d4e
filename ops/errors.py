"""The error type of the `ops` package."""


class OpError(ValueError):
    """An unknown op, a bad op parameter, or inputs an op cannot take.

    Messages name the op, the parameter and the offending value.
    """
