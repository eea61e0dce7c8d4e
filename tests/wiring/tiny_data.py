"""Small slices of the embedded digits, fitted to a space's input, for one-shot search tests."""

from __future__ import annotations

from dataclasses import replace

from wiring.data import Dataset, load_dataset
from wiring.search.evaluators import fit_input


def digits(channels: int, size: int, train: int = 128, val: int | None = None) -> Dataset:
    """The first ``train`` training (and ``val`` validation, default all) examples of digits, as channels×size×size."""
    d = load_dataset("digits", seed=0)
    d = replace(d, x_train=d.x_train[:train], y_train=d.y_train[:train], x_val=d.x_val[:val], y_val=d.y_val[:val])
    return fit_input(d, (channels, size, size))
