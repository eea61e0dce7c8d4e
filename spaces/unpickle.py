"""A pickle reader that runs no code: plain containers, numbers and strings, nothing else.

``pickle.load`` calls whatever callable a file names (``os.system`` included),
so a benchmark file from the internet must not go through it. :func:`load`
admits no global but these, each replaced by a function of ours or a builtin
container that runs nothing a file chooses:

- ``collections.OrderedDict``, ``builtins.set`` and ``builtins.frozenset``;
- ``_codecs.encode`` (protocols 0–2 write ``bytes`` as ``encode(text,
  "latin1")``), ``latin1`` only, and ``builtins.bytes`` with no argument
  (their ``b""``);
- numpy's scalars (``numpy.core.multiarray.scalar`` / ``numpy._core...`` with
  ``numpy.dtype``): decoded by :func:`scalar` from their bytes into a Python
  ``float``, ``int`` or ``bool``; numeric dtypes only, numpy is never called.

Persistent ids (how ``torch.save`` refers to tensor storages) are refused too.
Anything else, and any damaged pickle, is a :class:`SpaceError` naming the
file and what is wrong. :data:`TORCH_GLOBALS` are the same numpy stand-ins for
``torch.load(weights_only=True)`` (``torch.serialization.safe_globals``).
"""

from __future__ import annotations

import bz2
import pickle
import struct
from collections import OrderedDict
from collections.abc import Callable
from typing import IO, Any

from .errors import SpaceError

FORMATS: dict[str, str] = {"f2": "e", "f4": "f", "f8": "d", "i1": "b", "i2": "h", "i4": "i", "i8": "q",
                           "u1": "B", "u2": "H", "u4": "I", "u8": "Q", "b1": "?"}
"""numpy dtype code -> :mod:`struct` format of one value (standard sizes)."""

ORDERS = {"<": "<", ">": ">", "|": "<", "=": "="}
"""numpy byte-order character -> :mod:`struct` prefix ('|': one byte, any order)."""


class DType:
    """Stand-in for ``numpy.dtype(code, align, copy)``: the code and byte order of a numeric scalar, nothing else."""

    __slots__ = ("code", "order")

    def __init__(self, code: Any, align: Any = False, copy: Any = True) -> None:
        if not isinstance(code, str) or code not in FORMATS:
            raise pickle.UnpicklingError(f"refused numpy dtype {code!r}: numeric dtypes only ({', '.join(FORMATS)})")
        self.code, self.order = code, "="

    def __setstate__(self, state: Any) -> None:
        """numpy's dtype state ``(version, byte order, ...)``: only the byte order is kept."""
        if not isinstance(state, tuple) or len(state) < 2 or state[1] not in ORDERS:
            raise pickle.UnpicklingError(f"refused numpy dtype state {state!r}")
        self.order = ORDERS[state[1]]


def scalar(dtype: Any, data: Any = None) -> int | float | bool:
    """Stand-in for ``numpy.core.multiarray.scalar(dtype, data)``: the Python number of ``data``'s bytes."""
    if type(dtype) is not DType or not hasattr(dtype, "code"):
        raise pickle.UnpicklingError(f"refused numpy scalar of {dtype!r}: not a numeric dtype")
    if not isinstance(data, bytes):
        raise pickle.UnpicklingError(f"refused numpy scalar data {data!r}: expected bytes")
    fmt = ORDERS.get(dtype.order, "=") + FORMATS[dtype.code]
    if len(data) != struct.calcsize(fmt):
        raise pickle.UnpicklingError(f"refused numpy {dtype.code} scalar of {len(data)} bytes")
    return struct.unpack(fmt, data)[0]


def empty_bytes() -> bytes:
    """Stand-in for ``bytes()``, how protocols 0–2 write ``b""``; ``bytes(n)`` (n zeros) is refused."""
    return b""


def encode(text: Any, encoding: Any = "latin1") -> bytes:
    """Stand-in for ``_codecs.encode`` as protocol 2 uses it: ``text.encode("latin1")``."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"refused _codecs.encode of {type(text).__name__} as {encoding!r}")
    return text.encode("latin1")


GLOBALS: dict[tuple[str, str], Callable[..., Any]] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("_codecs", "encode"): encode,
    ("builtins", "bytes"): empty_bytes,
    ("numpy", "dtype"): DType,
    ("numpy.core.multiarray", "scalar"): scalar,
    ("numpy._core.multiarray", "scalar"): scalar,
}
GLOBALS.update({("__builtin__", name): GLOBALS[("builtins", name)] for name in ("set", "frozenset", "bytes")})
"""Every global a file may name, and what stands for it (``__builtin__``: protocols 0–2's name of builtins)."""

TORCH_GLOBALS: list[tuple[Callable[..., Any], str]] = [
    (DType, "numpy.dtype"), (scalar, "numpy.core.multiarray.scalar"), (scalar, "numpy._core.multiarray.scalar")]
"""The numpy stand-ins in the form of ``torch.serialization.safe_globals``."""


class Unpickler(pickle.Unpickler):
    """``pickle.Unpickler`` admitting only :data:`GLOBALS` and no persistent id."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refused global {module}.{name} (only plain data is read)") from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("refused a persistent id (a tensor storage: a torch file, not a pickle)")


def read(stream: IO[bytes], source: str) -> Any:
    """The next object pickled in ``stream``; :class:`SpaceError` naming ``source`` if it is not plain data."""
    try:
        return Unpickler(stream).load()
    except Exception as error:  # any damage: truncated, bad opcode, refused global, wrong argument
        raise SpaceError(f"{source}: not a plain-data pickle: {type(error).__name__}: {error}") from None


def load(path: str, *, compressed: bool = False) -> Any:
    """The (first) object pickled in the file ``path`` (``compressed``: a bz2 file, as NATS-Bench's ``.pbz2``)."""
    try:
        with (bz2.open(path, "rb") if compressed else open(path, "rb")) as stream:
            return read(stream, path)
    except OSError as error:
        raise SpaceError(f"{path}: cannot read: {error}") from None
