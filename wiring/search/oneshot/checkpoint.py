"""Checkpoints of one-shot searches: the state saved after every epoch, and resuming a killed search from it.

A checkpoint is one file written by :func:`torch.save` that loads with
``torch.load(path, weights_only=True)``: it holds tensors and plain data (dicts,
lists, tuples, numbers, strings, booleans, None), never a pickled Python object,
so loading one runs no code. Architectures go in as their ``space.encode(arch)``
strings. Writes are atomic (:func:`write`): the state goes to a temporary file in
the checkpoint's directory, is flushed to disk (fsync) and renamed over the
checkpoint (:func:`os.replace`), so a search killed at any moment leaves the
previous checkpoint or the new one, never a torn file (at worst a stray
``.<name>.*.tmp`` beside it).

Contents (:meth:`Checkpoint.save`): ``format``; ``setup``, the fingerprint of
the search setup (:func:`setup`); ``parts``, the state of the loop's live
objects (the state dicts of the model, of any further module such as ENAS'
controller, and of every optimiser and scheduler; the state of every
:class:`torch.Generator` and :class:`random.Random` the loop draws from, and
torch's global RNG: CPU, plus the model's CUDA device when it has one); ``loop``,
the loop's own counters and histories (plain data and tensors).

Setup fingerprint: the strategy's class name and settings (its public attributes
holding plain data, as :func:`wiring.search.run` records them, less
``progress``, ``device``, ``checkpoint`` and ``checkpoint_every``, which do not
change the result: a checkpoint resumes on another device, with identical
results only on the same kind of device; callables, such as a custom early-stop
rule, are not compared either), the space's class, settings and constraint, and
the data's name, split sizes, input shape and number of classes (not its
contents). A checkpoint written by a different setup is refused with a
:class:`SearchError` naming every setting that differs. A strategy therefore
keeps its run state (counters, measured tables) in private attributes.

A loop adopts it in four lines (this is what DARTS does)::

    ckpt = Checkpoint.attach(self, data, model=model, optimizers=[w_opt, a_opt], schedulers=[schedule],
                             generators={"data": gen})          # inactive when self.checkpoint is None
    loop = ckpt.resume() or {"epoch": 0, "history": []}        # restores model, optimisers, RNGs in place
    for epoch in range(loop["epoch"], self.epochs):
        ...                                                     # append to loop["history"]
        ckpt.save(epoch=epoch + 1, history=loop["history"])     # after the epoch, with what resuming needs

Everything the loop draws after the save must come from the attached
generators, ``random.Random`` objects or torch's global RNG, and the objects
must be built the same way before :meth:`Checkpoint.resume` (it overwrites
their state): then the resumed search is identical to an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from wiring import distributed

from ..runner import settings_of
from ..storage import SQLITE_HEADER, is_search_storage
from ..strategy import SearchError

FORMAT = "wiring.search.oneshot.checkpoint/2"
NOT_SETTINGS = frozenset({"space", "progress", "device", "checkpoint", "checkpoint_every"})
"""Strategy attributes left out of the setup fingerprint: they do not change the search's result."""

PathArg = str | os.PathLike | None


def checkpoint_path(value: PathArg) -> Path | None:
    """``value`` as a :class:`~pathlib.Path` (``None`` stays ``None``); :class:`SearchError` for anything else."""
    if value is None:
        return None
    if isinstance(value, (str, os.PathLike)) and os.fspath(value):
        return Path(os.fsdecode(value))
    raise SearchError(f"checkpoint must be a file path or None, got checkpoint={value!r}")


# -- the setup fingerprint -----------------------------------------------------------------------


def setup(strategy: Any, data: Any) -> dict[str, str]:
    """The setup fingerprint of ``strategy`` searching ``data``: setting name -> JSON value (module docstring)."""
    space = strategy.space
    name = getattr(space, "name", None)
    constraint = getattr(space, "constraint", None)
    values: dict[str, Any] = {"strategy": type(strategy).__qualname__}
    values.update(_flat(settings_of(strategy, set(NOT_SETTINGS))))
    values["space"] = type(space).__qualname__ + (f" ({name})" if isinstance(name, str) else "")
    values.update(_flat(settings_of(space, {"constraint", "name"}), "space."))
    values["space.constraint"] = None if constraint is None else str(constraint)
    values.update({"data.name": getattr(data, "name", None), "data.train": len(data.y_train),
                   "data.val": len(data.y_val) if hasattr(data, "y_val") else None,
                   "data.input_shape": list(data.input_shape), "data.num_classes": getattr(data, "num_classes", None)})
    return {key: json.dumps(value, sort_keys=True) for key, value in values.items()}


def _flat(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def decoded_setup(recorded: Mapping[str, Any]) -> dict[str, Any]:
    """A recorded :func:`setup` with its JSON values decoded (a value that is not JSON is kept as it is)."""
    def decode(text: Any) -> Any:
        try:
            return json.loads(text) if isinstance(text, str) else text
        except ValueError:
            return text
    return {key: decode(value) for key, value in recorded.items()}


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"options.channels": 8}`` -> ``{"options": {"channels": 8}}``: what :func:`setup` flattened."""
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        *outer, last = key.split(".")
        target = nested
        for part in outer:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                break
        else:
            target[last] = value
    return nested


def differences(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    """``"<setting> was <old>, now <new>"`` for every setting that differs between two fingerprints."""
    keys = list(new) + [key for key in old if key not in new]
    return [f"{key} was {_short(old.get(key, 'unset'))}, now {_short(new.get(key, 'unset'))}"
            for key in keys if old.get(key) != new.get(key)]


def _short(text: str, width: int = 80) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


# -- the file ------------------------------------------------------------------------------------


def write(path: str | os.PathLike, state: Mapping[str, Any]) -> None:
    """Save ``state`` to ``path`` atomically (temporary file in the same directory, fsync, :func:`os.replace`),
    inside an envelope holding its SHA-256, which :func:`read_payload` verifies."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(dict(state), buffer)
    payload = buffer.getvalue()
    envelope = {"format": FORMAT, "sha256": hashlib.sha256(payload).hexdigest(), "payload": payload}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(envelope, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    if os.name == "posix":  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _load(source: Any, path: str | os.PathLike) -> Any:
    try:
        return torch.load(source, map_location="cpu", weights_only=True)
    except Exception as error:  # torch and pickle raise many types for a damaged file; none is shown raw
        raise SearchError(f"checkpoint {os.fspath(path)!r} cannot be read: corrupt, truncated or not a "
                          f"checkpoint ({type(error).__name__}); delete it to start the search afresh") from None


def is_checkpoint(path: str | os.PathLike) -> bool:
    """Whether ``path`` looks like a file :func:`write` wrote (a :func:`torch.save` archive whose envelope names
    :data:`FORMAT`'s family), judged from its first bytes without unpickling anything; not a check of its
    contents (:func:`read_payload` is)."""
    family = FORMAT.rpartition("/")[0].encode()
    try:
        with zipfile.ZipFile(path) as archive:
            pickles = [name for name in archive.namelist() if name.endswith("/data.pkl")]
            if len(pickles) != 1:
                return False
            with archive.open(pickles[0]) as pickled:
                return family in pickled.read(4096)  # the envelope's first item: its format
    except (OSError, zipfile.BadZipFile, ValueError, RuntimeError):
        return False


def refuse_storage(path: str | os.PathLike) -> None:
    """:class:`SearchError` if ``path`` is a black-box search storage (:mod:`wiring.search.storage`) or another
    SQLite database, which a one-shot search must neither read as a checkpoint nor overwrite (nor advise deleting);
    said in one line with what to do."""
    try:
        with open(path, "rb") as handle:
            sqlite = handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return  # reading it will say why
    if sqlite and is_search_storage(path):
        raise SearchError(f"{os.fspath(path)!r} is a black-box search storage (the SQLite file of "
                          f"wiring.search.run, e.g. wiring search --strategy regularizedevolution --storage), not a "
                          f"one-shot checkpoint: keep it for that black-box search and give this one-shot search "
                          f"another checkpoint path")
    if sqlite:
        raise SearchError(f"{os.fspath(path)!r} is an SQLite database, not a one-shot checkpoint: give this one-shot "
                          f"search another checkpoint path")


def read_payload(path: str | os.PathLike) -> dict[str, Any]:
    """What :func:`write` saved, loaded on the CPU with ``weights_only=True`` once its SHA-256 is verified;
    :class:`SearchError` naming ``path`` for a damaged, edited or foreign file (saying what a black-box search
    storage is)."""
    refuse_storage(path)
    envelope = _load(path, path)
    if not isinstance(envelope, dict) or envelope.get("format") != FORMAT or set(envelope) != {
            "format", "sha256", "payload"} or not isinstance(envelope["payload"], bytes):
        raise SearchError(f"{os.fspath(path)!r} is not a one-shot search checkpoint (format {FORMAT!r})")
    if hashlib.sha256(envelope["payload"]).hexdigest() != envelope["sha256"]:
        raise SearchError(f"checkpoint {os.fspath(path)!r} fails its checksum: the file was changed or damaged "
                          f"after it was written; delete it to start the search afresh")
    state = _load(io.BytesIO(envelope["payload"]), path)
    if not isinstance(state, dict):
        raise SearchError(f"{os.fspath(path)!r} is not a one-shot search checkpoint (format {FORMAT!r})")
    return state


def read(path: str | os.PathLike) -> dict[str, Any]:
    """A checkpoint's state (:func:`read_payload`), checked to hold a setup, the parts and a loop state whose
    ``epoch``, if any, is an int >= 0; a missing loop field later raises :class:`SearchError` naming it."""
    state = read_payload(path)
    if not {"setup", "parts", "loop"} <= set(state) or not isinstance(state["loop"], dict) \
            or not isinstance(state["setup"], dict) or not isinstance(state["parts"], dict):
        raise SearchError(f"{os.fspath(path)!r} is not a one-shot search checkpoint (format {FORMAT!r})")
    epoch = state["loop"].get("epoch", 0)
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise SearchError(f"checkpoint {os.fspath(path)!r}: its epoch is {epoch!r}, not an int >= 0")
    state["loop"] = LoopState(os.fspath(path), state["loop"])
    return state


class LoopState(dict):
    """A loaded loop state: a field the search needs but the file lacks raises :class:`SearchError` naming it."""

    def __init__(self, path: str, values: Mapping[str, Any]) -> None:
        super().__init__(values)
        self.path = path

    def __missing__(self, key: str) -> Any:
        raise SearchError(f"checkpoint {self.path!r} does not fit this search: its loop state has no {key!r}")


# -- a loop's checkpoint -------------------------------------------------------------------------


class Checkpoint:
    """The checkpoint of one search loop: which file, which setup, which live objects to save and restore.

    ``model`` (its state dict), ``modules`` (further modules by name, e.g. a
    controller), ``optimizers`` and ``schedulers`` (their state dicts),
    ``generators`` (:class:`torch.Generator` by name) and ``randoms``
    (:class:`random.Random` by name) are saved by :meth:`save` and restored in
    place by :meth:`resume`, with torch's global RNG. With ``path=None`` the
    checkpoint is inactive: :meth:`resume` returns ``None``, :meth:`save` does
    nothing.
    """

    def __init__(self, path: PathArg, setup: Mapping[str, str], *, model: nn.Module,
                 modules: Mapping[str, nn.Module] | None = None,
                 optimizers: Sequence[Any] = (), schedulers: Sequence[Any] = (),
                 generators: Mapping[str, torch.Generator] | None = None,
                 randoms: Mapping[str, random.Random] | None = None) -> None:
        self.path, self.setup = checkpoint_path(path), dict(setup)
        self.model, self.modules = model, dict(modules or {})
        self.optimizers, self.schedulers = list(optimizers), list(schedulers)
        self.generators, self.randoms = dict(generators or {}), dict(randoms or {})

    @classmethod
    def attach(cls, strategy: Any, data: Any, **parts: Any) -> Checkpoint:
        """The checkpoint at ``strategy.checkpoint`` (inactive when ``None``) for ``strategy`` searching ``data``;
        ``parts`` as the constructor's keywords."""
        path = checkpoint_path(strategy.checkpoint)
        return cls(path, setup(strategy, data) if path is not None else {}, **parts)

    def resume(self) -> dict[str, Any] | None:
        """Restore the live objects from the file and return the loop state saved with them; ``None`` when
        inactive or the file does not exist yet. :class:`SearchError` for another setup or a damaged file."""
        if self.path is None or not self.path.exists():
            return None
        state = read(self.path)
        changed = differences(state["setup"], self.setup)
        if changed:
            raise SearchError(f"checkpoint {str(self.path)!r} was written by a different search setup: "
                              f"{'; '.join(changed)}. Use another checkpoint path or delete it to start afresh")
        try:
            self._restore(state["parts"])
        except (KeyError, RuntimeError, TypeError, ValueError, AttributeError, IndexError) as error:
            raise SearchError(f"checkpoint {str(self.path)!r} does not fit this search: {error}") from None
        return state["loop"]

    def save(self, **loop: Any) -> None:
        """Write the live objects' state and ``loop`` (plain data and tensors only) to the file, atomically."""
        if self.path is None:
            return
        if distributed.rank() == 0:  # under torchrun one file, by rank 0; the others wait until it is written
            write(self.path, {"format": FORMAT, "setup": self.setup, "parts": self._capture(), "loop": loop})
        distributed.barrier()

    # -- the live objects ------------------------------------------------------------------------

    def _cuda(self) -> torch.device | None:
        return next((p.device for p in self.model.parameters() if p.device.type == "cuda"), None)

    def _capture(self) -> dict[str, Any]:
        parts = {"model": self.model.state_dict(),
                 "modules": {name: m.state_dict() for name, m in self.modules.items()},
                 "optimizers": [o.state_dict() for o in self.optimizers],
                 "schedulers": [s.state_dict() for s in self.schedulers],
                 "generators": {name: g.get_state() for name, g in self.generators.items()},
                 "randoms": {name: r.getstate() for name, r in self.randoms.items()},
                 "torch_rng": torch.get_rng_state()}
        cuda = self._cuda()
        if cuda is not None:
            parts["cuda_rng"] = torch.cuda.get_rng_state(cuda)
        return parts

    def _restore(self, parts: Mapping[str, Any]) -> None:
        for kind, live in (("optimizers", self.optimizers), ("schedulers", self.schedulers),
                           ("generators", self.generators), ("randoms", self.randoms)):
            if len(parts[kind]) != len(live):
                raise ValueError(f"it holds {len(parts[kind])} {kind}, this search has {len(live)}")
        modules = parts["modules"]
        if set(modules) != set(self.modules):
            raise ValueError(f"it holds modules {sorted(modules)}, this search has {sorted(self.modules)}")
        self.model.load_state_dict(parts["model"])
        for name, m in self.modules.items():
            m.load_state_dict(modules[name])
        for obj, state in zip(self.optimizers + self.schedulers, parts["optimizers"] + parts["schedulers"]):
            obj.load_state_dict(state)
        for name, g in self.generators.items():
            g.set_state(parts["generators"][name])
        for name, r in self.randoms.items():
            r.setstate(parts["randoms"][name])
        torch.set_rng_state(parts["torch_rng"])
        cuda = self._cuda()
        if cuda is not None and "cuda_rng" in parts:
            torch.cuda.set_rng_state(parts["cuda_rng"], cuda)


__all__ = ["Checkpoint", "FORMAT", "LoopState", "checkpoint_path", "differences", "is_checkpoint", "read",
           "read_payload", "refuse_storage", "setup", "write"]
