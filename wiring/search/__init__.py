"""Black-box search: strategies behind one ask/tell interface, and the durable trial runner."""

from .strategy import RandomSearch, SearchError, Strategy

__all__ = ["RandomSearch", "SearchError", "Strategy"]
