"""Grid search: every architecture of a finite space (or every point of a hyperparameter grid) once."""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import Any

from .strategy import SearchError, Strategy


class GridSearch(Strategy):
    """Asks every member of ``space.enumerate()`` once, in order (``shuffle=True``: in a seeded random order).

    Costs O(v^p) for p parameters of v values each (docs/papers.md §11). Asking past the
    end raises :class:`SearchError`.
    """

    def __init__(self, space: Any, *, seed: int | None = None, shuffle: bool = False) -> None:
        super().__init__(space, seed=seed)
        if not callable(getattr(space, "enumerate", None)):
            raise SearchError(f"GridSearch needs a finite space with enumerate(), got {space!r}")
        self.shuffle = shuffle
        self._members: Iterator[Hashable] | None = None

    def _ask(self) -> Hashable:
        if self._members is None:
            members = self.space.enumerate()
            if self.shuffle:
                members = list(members)
                self.rng.shuffle(members)
            self._members = iter(members)
        try:
            return next(self._members)
        except StopIteration:
            raise SearchError("GridSearch has asked every member of the space") from None
