"""Type checks for generator parameters; each returns the normalised value.

Range checks that involve several parameters (``0 < k < n``) live with the
generator that needs them, so that their message states the whole condition.
"""

import math
import numbers

from generators._errors import GeneratorError


def integer(name: str, value: object) -> int:
    """Return `value` as an int; reject bools, floats and anything else."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    raise GeneratorError(f"{name} must be an int, got {name}={value!r}")


def real(name: str, value: object) -> float:
    """Return `value` as a finite float; reject bools, NaN, infinities."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if math.isfinite(number):
            return number
    raise GeneratorError(f"{name} must be a finite real number, got {name}={value!r}")


def probability(name: str, value: object) -> float:
    """Return `value` as a float in [0, 1]."""
    p = real(name, value)
    if not 0.0 <= p <= 1.0:
        raise GeneratorError(f"{name} must satisfy 0 <= {name} <= 1, got {name}={value!r}")
    return p


def node_count(n: object) -> int:
    """Return the number of nodes `n` as an int >= 1."""
    n = integer("n", n)
    if n < 1:
        raise GeneratorError(f"n must satisfy n >= 1, got n={n}")
    return n
