"""The trial runner's embedded SQLite storage.

One file holds one search: a ``meta`` table (the search setup's fingerprint,
format version) and a ``trials`` table, one row per asked trial. Only the
driver process opens it; workers never touch it. Every state change of a trial
is committed at once (WAL journal, ``synchronous=NORMAL``), so a killed driver
loses nothing that had finished; a power cut may lose the last commits.

An exclusive ``flock`` on the database file itself keeps two running searches
off one storage, whatever path or symlink names it; the operating system drops
it when its process dies, even by SIGKILL.

Every trial row carries the SHA-256 of its other fields (``digest``), written in
the same commit as the fields: a row changed outside the library (an edited
score, a flipped byte) is refused on reading, never used. A storage written
before digests existed gets them the first time a search opens it for writing.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .strategy import SearchError

try:  # Unix; elsewhere the lock is skipped.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

FORMAT_VERSION = "1"
SQLITE_HEADER = b"SQLite format 3\x00"
"""The first bytes of every SQLite database file."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS trials (
    number          INTEGER PRIMARY KEY,
    encoding        TEXT NOT NULL,
    graph_hash      TEXT,
    hyperparameters TEXT,
    status          TEXT NOT NULL,
    score           REAL,
    metrics         TEXT,
    error           TEXT,
    asked           REAL NOT NULL,
    started         REAL,
    finished        REAL,
    duration        REAL,
    ask_seq         INTEGER NOT NULL UNIQUE,
    tell_seq        INTEGER UNIQUE,
    digest          TEXT
);
"""

COLUMNS = ("number", "encoding", "graph_hash", "hyperparameters", "status", "score", "metrics", "error", "asked",
            "started", "finished", "duration", "ask_seq", "tell_seq")
"""The trial fields in stored order: what :func:`row_digest` hashes."""


@dataclass(frozen=True)
class Row:
    """One stored trial, as read back (JSON columns decoded)."""

    number: int
    encoding: str
    graph_hash: str | None
    hyperparameters: Any
    status: str
    score: float | None
    metrics: dict[str, Any]
    error: str | None
    asked: float
    started: float | None
    finished: float | None
    duration: float | None
    ask_seq: int
    tell_seq: int | None



def _read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection to the database at ``path``: it never writes the file, so it never checkpoints the
    WAL into it on closing, as a read-write connection does when it is the last to close. A WAL database whose
    shared-memory file this process can neither open nor create (a read-only folder) is read as it is: nothing
    can be writing it through that file."""
    uri = path.resolve().as_uri()
    db = None
    try:
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None)
        db.execute("SELECT name FROM sqlite_master LIMIT 1")
        return db
    except sqlite3.OperationalError:
        if db is not None:
            db.close()
        try:
            return sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, isolation_level=None)
        except sqlite3.Error as error:
            raise SearchError(f"{str(path)!r} is not a readable search storage (SQLite says: {error})") from None
    except sqlite3.Error as error:  # a damaged file
        if db is not None:
            db.close()
        raise SearchError(f"{str(path)!r} is not a search storage (SQLite says: {error})") from None

class Storage:
    """A search's SQLite file (``path``), or an in-memory database (``path=None``)."""

    def __init__(self, path: str | os.PathLike[str] | None, *, readonly: bool = False) -> None:
        if path is not None and (not isinstance(path, (str, os.PathLike)) or str(path) == ""):
            raise SearchError(f"storage must be a file path or None (in memory), got {path!r}")
        self.path = None if path is None else Path(path)
        self._lock = None
        existing = self.path is not None and self._check_file()
        if self.path is None:
            self.db = sqlite3.connect(":memory:", isolation_level=None)
        elif readonly:
            if not existing:
                raise SearchError(f"no search storage at {str(self.path)!r}")
            # No lock: reading while a search writes is safe in WAL mode.
            self.db = _read_only(self.path)
        else:
            if self.path.parent and not self.path.parent.exists():
                raise SearchError(f"storage folder {str(self.path.parent)!r} does not exist")
            self._acquire_lock()
            try:
                self.db = sqlite3.connect(self.path, isolation_level=None)
            except sqlite3.Error as error:
                self._release_lock()
                raise SearchError(f"cannot open search storage {str(self.path)!r}: {error}") from error
        try:
            if existing:
                tables = {name for (name,) in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                if not {"meta", "trials"} <= tables:
                    raise SearchError(f"{str(self.path)!r} is an SQLite database but not a search storage (it has "
                                      f"no 'meta' and 'trials' tables); give run() another path")
            if not readonly:
                if self.path is not None:
                    self.db.execute("PRAGMA journal_mode=WAL")
                    self.db.execute("PRAGMA synchronous=NORMAL")
                self.db.executescript(_SCHEMA)
                self._add_digests()
            self._verified = "digest" in self._trial_columns()
        except (sqlite3.Error, UnicodeDecodeError, SearchError) as error:
            self.close()
            if isinstance(error, SearchError):
                raise
            raise SearchError(f"{str(self.path)!r} is not a search storage (SQLite says: {error})") from error

    def _check_file(self) -> bool:
        """Whether a storage file exists at ``path``; :class:`SearchError` if something else is there."""
        if self.path.is_dir():
            raise SearchError(f"storage {str(self.path)!r} is a directory, not a search storage file")
        if not self.path.exists():
            return False
        if not self.path.is_file():
            raise SearchError(f"storage {str(self.path)!r} is not a regular file")
        if self.path.stat().st_size == 0:
            raise SearchError(f"storage {str(self.path)!r} is an empty file, not a search storage: delete it to start "
                              f"a new search there")
        with open(self.path, "rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
        if header != SQLITE_HEADER:
            from .oneshot.checkpoint import is_checkpoint  # deferred: only a refused file needs it (and torch)

            if is_checkpoint(self.path):
                raise SearchError(f"{str(self.path)!r} is a one-shot search checkpoint (written by a one-shot "
                                  f"strategy, e.g. wiring search --strategy darts --storage), not a black-box search "
                                  f"storage: keep it for that one-shot search and give this black-box search another "
                                  f"storage path")
            raise SearchError(f"{str(self.path)!r} is not a search storage (not an SQLite database)")
        return True

    def _trial_columns(self) -> list[str]:
        return [row[1] for row in self.db.execute("PRAGMA table_info(trials)")]

    def _add_digests(self) -> None:
        """Give a storage written before row digests its ``digest`` column, sealing the rows it holds."""
        if "digest" in self._trial_columns():
            return
        with self._transaction():
            self.db.execute("ALTER TABLE trials ADD COLUMN digest TEXT")
            self._seal(number for (number,) in self.db.execute("SELECT number FROM trials").fetchall())

    def _seal(self, numbers: Iterable[int]) -> None:
        """Write the digest of each row in ``numbers`` (inside the caller's transaction)."""
        for number in list(numbers):
            values = self.db.execute(f"SELECT {', '.join(COLUMNS)} FROM trials WHERE number=?", (number,)).fetchone()
            if values is not None:
                self.db.execute("UPDATE trials SET digest=? WHERE number=?", (row_digest(values), number))

    # -- locking -------------------------------------------------------------

    def _acquire_lock(self) -> None:
        """An exclusive lock on the database file itself (``flock``, which SQLite's own ``fcntl`` locks do not
        touch), so two drivers never write one storage, whatever path or symlink names it."""
        if fcntl is None:  # pragma: no cover
            return
        try:
            handle = open(self.path, "ab")
        except OSError as error:
            raise SearchError(f"cannot open search storage {str(self.path)!r}: {error.strerror or error}") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise SearchError(f"storage {str(self.path)!r} is in use by another running search (its file "
                              f"{str(self.path.resolve())!r} is locked)") from None
        self._lock = handle

    def _release_lock(self) -> None:
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    def close(self) -> None:
        """Close the database (checkpointing its WAL) and release the lock."""
        db, self.db = getattr(self, "db", None), None
        if db is not None:
            db.close()
        self._release_lock()

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- meta ----------------------------------------------------------------

    def meta(self) -> dict[str, str]:
        with self._reading("read its setup"):
            return dict(self.db.execute("SELECT key, value FROM meta"))

    def set_meta(self, values: Mapping[str, str]) -> None:
        with self._transaction():
            self.db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", list(values.items()))

    # -- trials --------------------------------------------------------------

    def rows(self) -> list[Row]:
        """Every stored trial, by number."""
        digest = ", digest" if self._verified else ", NULL"
        with self._reading("read its trials"):
            stored_rows = self.db.execute(f"SELECT {', '.join(COLUMNS)}{digest} FROM trials ORDER BY number").fetchall()
        rows = []
        for *values, stored in stored_rows:
            record = self._checked(dict(zip(COLUMNS, values)))
            if self._verified and stored != row_digest(values):
                raise SearchError(f"storage {str(self.path)!r} is damaged: trial {record['number']!r}: its fields do "
                                  f"not match their SHA-256 (the file was changed outside the library)")
            rows.append(Row(**record))
        return rows

    def _checked(self, record: dict[str, Any]) -> dict[str, Any]:
        """``record`` with its JSON columns decoded; :class:`SearchError` naming the file, trial and field of a
        value no search writes (an edited or damaged storage)."""
        where = f"storage {str(self.path)!r} is damaged: trial {record['number']!r}"
        for name in ("hyperparameters", "metrics"):
            try:
                record[name] = _loads(record[name])
            except (TypeError, ValueError):
                raise SearchError(f"{where}: {name} is not JSON ({record[name]!r:.60})") from None
        record["metrics"] = record["metrics"] or {}
        kinds = {"number": int, "encoding": str, "status": str, "ask_seq": int, "metrics": dict}
        kinds.update(dict.fromkeys(("score", "asked", "started", "finished", "duration"), (int, float)))
        for name, kind in kinds.items():
            value = record[name]
            optional = name in ("score", "started", "finished", "duration")
            if (value is None and optional) or (isinstance(value, kind) and not isinstance(value, bool)):
                continue
            expected = "a number" if kind == (int, float) else f"a {kind.__name__}"
            raise SearchError(f"{where}: {name} is {value!r:.60}, not {expected}")
        if record["status"] == "complete" and record["score"] is None:
            raise SearchError(f"{where}: a complete trial without a score")
        if record["tell_seq"] is not None and not isinstance(record["tell_seq"], int):
            raise SearchError(f"{where}: tell_seq is {record['tell_seq']!r}, not an int")
        return record

    def count(self) -> int:
        with self._reading("count its trials"):
            return self.db.execute("SELECT COUNT(*) FROM trials").fetchone()[0]

    def insert(self, *, number: int, encoding: str, graph_hash: str | None, hyperparameters: Any, asked: float,
               ask_seq: int) -> None:
        """Record an asked trial (status ``running``)."""
        with self._transaction():
            self.db.execute(
                "INSERT INTO trials (number, encoding, graph_hash, hyperparameters, status, asked, ask_seq) "
                "VALUES (?, ?, ?, ?, 'running', ?, ?)",
                (number, encoding, graph_hash, _dumps(hyperparameters), asked, ask_seq))
            self._seal([number])

    def restart(self, number: int) -> None:
        """Mark an interrupted trial as running again (its old partial record is dropped)."""
        with self._transaction():
            self.db.execute("UPDATE trials SET status='running', score=NULL, metrics=NULL, error=NULL, started=NULL, "
                            "finished=NULL, duration=NULL WHERE number=?", (number,))
            self._seal([number])

    def finish(self, number: int, *, status: str, score: float | None, metrics: Mapping[str, Any] | None,
               error: str | None, started: float | None, finished: float | None, duration: float | None,
               tell_seq: int | None = None) -> None:
        """Record a trial's outcome (and, when given, the sequence number of its tell) in one commit."""
        with self._transaction():
            self.db.execute(
                "UPDATE trials SET status=?, score=?, metrics=?, error=?, started=?, finished=?, duration=?, "
                "tell_seq=? WHERE number=?",
                (status, score, _dumps(metrics or {}), error, started, finished, duration, tell_seq, number))
            self._seal([number])

    def told(self, tells: Iterable[tuple[int, int]]) -> None:
        """Record ``(number, tell_seq)`` pairs in one commit."""
        tells = list(tells)
        with self._transaction():
            self.db.executemany("UPDATE trials SET tell_seq=? WHERE number=?", [(s, n) for n, s in tells])
            self._seal(n for n, _ in tells)

    def stop(self, numbers: Iterable[int]) -> None:
        """Mark unfinished trials as ``stopped`` (the search was interrupted)."""
        numbers = list(numbers)
        with self._transaction():
            self.db.executemany("UPDATE trials SET status='stopped' WHERE number=? AND status='running'",
                                [(n,) for n in numbers])
            self._seal(numbers)

    @contextmanager
    def _reading(self, doing: str) -> Iterator[None]:
        """SQLite's errors as :class:`SearchError` naming the file (a damaged page, a full disk...)."""
        try:
            yield
        except sqlite3.Error as error:
            raise SearchError(f"storage {str(self.path)!r}: cannot {doing} (SQLite says: {error})") from error
        except UnicodeDecodeError as error:  # a damaged byte in a text field
            raise SearchError(f"storage {str(self.path)!r} is damaged: cannot {doing}, a text field is not UTF-8 "
                              f"({error})") from error

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One commit; rolled back on any error, SQLite's raised as :class:`SearchError` naming the file."""
        with self._reading("write to it"):
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")


def is_search_storage(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a regular file holding a search storage (an SQLite database with the ``meta`` and
    ``trials`` tables), read without writing or locking it; ``False`` for anything else, a missing file included."""
    try:
        with open(path, "rb") as handle:
            if handle.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
                return False
        db = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
        try:
            tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            db.close()
    except (OSError, sqlite3.Error):
        return False
    return {"meta", "trials"} <= tables


def row_digest(values: Iterable[Any]) -> str:
    """SHA-256 of a trial row's stored fields, in :data:`COLUMNS` order (what ``digest`` holds)."""
    return hashlib.sha256(json.dumps(list(values)).encode()).hexdigest()


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, default=repr)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)
