"""The data layer's error type."""

from __future__ import annotations

from ..errors import WiringError


class DataError(WiringError):
    """A bad dataset name, argument or file, or inconsistent dataset tensors; names the value or file.

    A sibling of :class:`GraphError` (not a kind of it): both derive from :class:`WiringError`.
    """
