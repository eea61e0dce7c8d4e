"""Damaged trial storages (issue 11): one clear SearchError naming the file, never a silently different result."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wiring.search import RandomSearch, SearchError
from wiring.search.runner import load_result, run

from test_fuzz_ops import bounded
from test_runner import Toy, objective

FUZZ = settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def search(db: Path, budget: int = 4):
    return run(RandomSearch(Toy(), seed=0), objective, budget=budget, storage=db, progress=False)


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, bytes, list]:
    db = tmp_path_factory.mktemp("storage") / "s.db"
    trials = search(db).trials
    return db, db.read_bytes(), trials


def test_a_field_edited_outside_the_library_is_refused_by_the_row_digest(finished, tmp_path):
    good, _, trials = finished
    db = tmp_path / "s.db"
    shutil.copy(good, db)
    with sqlite3.connect(db) as connection:  # a plausible value: only the digest can tell
        connection.execute("UPDATE trials SET score = score + 1 WHERE number = 2")
    connection.close()
    for read in (lambda: load_result(db), lambda: search(db, budget=6)):
        with pytest.raises(SearchError, match=r"s.db' is damaged: trial 2: its fields do not match their SHA-256"):
            read()


def test_a_storage_written_before_digests_is_sealed_when_a_search_opens_it(finished, tmp_path):
    good, _, trials = finished
    db = tmp_path / "old.db"
    shutil.copy(good, db)
    with sqlite3.connect(db) as connection:
        connection.execute("ALTER TABLE trials DROP COLUMN digest")
    connection.close()
    assert load_result(db).trials == trials  # read as it is
    assert search(db, budget=6).trials[:4] == trials  # resumed, and sealed on the way
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT COUNT(*) FROM trials WHERE digest IS NULL").fetchone() == (0,)
        connection.execute("UPDATE trials SET score = score + 1 WHERE number = 0")
    connection.close()
    with pytest.raises(SearchError, match="trial 0: its fields do not match"):
        load_result(db)


@FUZZ
@given(data=st.data())
def test_a_storage_with_a_flipped_byte_or_cut_short_is_refused_naming_it_or_gives_the_same_trials(
        finished, tmp_path, data):
    _, content, trials = finished
    if data.draw(st.booleans()):
        damaged = bytearray(content)
        damaged[data.draw(st.integers(0, len(content) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    else:
        damaged = content[:data.draw(st.integers(1, len(content) - 1))]
    db = tmp_path / "damaged.db"
    db.write_bytes(bytes(damaged))
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    with bounded():
        for read in (lambda: load_result(db).trials, lambda: search(db).trials):
            try:
                got = read()
            except SearchError as error:
                assert "damaged.db" in str(error)
                continue
            assert got == trials
