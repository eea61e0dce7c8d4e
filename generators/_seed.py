"""Normalisation of the ``seed`` argument shared by every generator."""

import numbers
import random

from generators._errors import GeneratorError


def resolve_seed(seed: int | random.Random | None) -> tuple[random.Random, int | None]:
    """Return the random source a generator draws from, and the seed to record.

    Parameters
    ----------
    seed : int, random.Random or None
        An int (any integral number but ``bool``) seeds a fresh
        ``random.Random(seed)``, exactly as networkx does, and is recorded.
        A ``random.Random`` instance is used (and advanced) as is; ``None``
        gives a fresh, OS-seeded ``random.Random()``. Neither can be recorded,
        so both record ``None``. The global ``random`` state is never used.

    Returns
    -------
    (random.Random, int or None)
        The generator to draw from and the provenance seed.

    Raises
    ------
    GeneratorError
        If `seed` is of any other type.
    """
    if seed is None:
        return random.Random(), None
    if isinstance(seed, random.Random):
        return seed, None
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return random.Random(int(seed)), int(seed)
    raise GeneratorError(f"seed must be an int, a random.Random or None, got seed={seed!r}")
