"""The audit log is hash-chained: any edit, deletion or truncation is found and named."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from station.db.engine import Database
from station.records import audit


def _fill(db: Database, n: int) -> None:
    for i in range(n):
        with db.writer() as s:
            audit.append(s, f"officer{i}", "collection", "check", f"c{i}", {"n": i})


def test_chain_verifies_when_untouched(db: Database) -> None:
    _fill(db, 5)
    with db.session() as s:
        report = audit.verify(s)
    assert report.ok
    assert report.entries == 5


def test_edited_row_is_named(db: Database) -> None:
    _fill(db, 6)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE id = 4"))
    with db.session() as s:
        report = audit.verify(s)
    assert not report.ok
    assert report.first_broken_id == 4
    assert "changed" in report.reason


def test_deleted_row_is_named(db: Database) -> None:
    _fill(db, 6)
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE id = 3"))
    with db.session() as s:
        report = audit.verify(s)
    assert not report.ok
    assert report.first_broken_id == 4


def test_truncated_tail_is_detected(db: Database) -> None:
    _fill(db, 4)
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE id = 4"))
    with db.session() as s:
        report = audit.verify(s)
    assert not report.ok
    assert report.first_broken_id == 4


def test_rolled_back_change_leaves_no_entry(db: Database) -> None:
    _fill(db, 2)
    with pytest.raises(RuntimeError), db.writer() as s:
        audit.append(s, "x", "alteration", "check", "c9")
        raise RuntimeError("the change failed")
    with db.session() as s:
        report = audit.verify(s)
    assert report.ok and report.entries == 2


def test_concurrent_writers_keep_one_chain(db: Database) -> None:
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            for i in range(10):
                with db.writer() as s:
                    audit.append(s, f"w{k}", "consultation", "check", f"{k}-{i}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db.session() as s:
        report = audit.verify(s)
    assert report.ok
    assert report.entries == 40
