"""Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from station.db.engine import Database
from station.db.migrate import current_revision, upgrade
from station.db.models import Base


def test_migrations_match_models(db: Database) -> None:
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations differ: {diff}"


def test_upgrade_is_idempotent(db: Database) -> None:
    rev = current_revision(db)
    upgrade(db)
    assert current_revision(db) == rev
    assert "audit_log" in inspect(db.engine).get_table_names()


def test_db_upgrade_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    proc = subprocess.run(
        [sys.executable, "-m", "station", "db", "upgrade", "--db", url],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "STATION_DATA_DIR": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr
    assert "database at revision" in proc.stdout
    db = Database(url)
    try:
        assert current_revision(db) is not None
        with db.engine.connect() as conn:
            mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        assert mode == "wal"
    finally:
        db.dispose()


def test_batch_items_keep_one_row_per_position_after_the_upgrade(db_url: str) -> None:
    """A database from before positions were unique migrates: a position stored twice keeps
    its first row, every other row stays, and a second copy is refused from then on."""
    import pytest
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    db = Database(db_url)
    try:
        upgrade(db, "0004")
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO batches (id, kind, filename, sha256, size_bytes, state, total, "
                    "done, hits, officer, purpose, station_id, register_version, created_at, "
                    "inputs) VALUES ('b1', 'serials', 'a.csv', '', 1, 'complete', 3, 3, 0, "
                    "'pc', 'property_office', 's1', 1, CURRENT_TIMESTAMP, '[]')"
                )
            )
            for seq, label in [(0, "A"), (1, "B"), (1, "B-again"), (2, "C")]:
                conn.execute(
                    text(
                        "INSERT INTO batch_items (batch_id, seq, line, label, verdict, result) "
                        "VALUES ('b1', :seq, :line, :label, 'no_match', '{}')"
                    ),
                    {"seq": seq, "line": seq + 2, "label": label},
                )
        upgrade(db)
        with db.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT seq, label FROM batch_items WHERE batch_id = 'b1' ORDER BY seq")
            ).all()
        assert [tuple(r) for r in rows] == [(0, "A"), (1, "B"), (2, "C")]
        with pytest.raises(IntegrityError), db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO batch_items (batch_id, seq, line, label, verdict, result) "
                    "VALUES ('b1', 2, 4, 'C-again', 'no_match', '{}')"
                )
            )
    finally:
        db.dispose()


def test_register_keys_compare_bytes_and_the_identifier_index_goes(db_url: str) -> None:
    """The upgrade keeps every entry; on PostgreSQL the key columns then use the "C"
    collation (the import's sort and key index depend on it), and no index is left on the
    identifier alone."""
    from sqlalchemy import text

    db = Database(db_url)
    try:
        upgrade(db, "0005")
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO register_entries (identifier, kind, status, source, withdrawn, "
                    "version, updated_at) VALUES ('AB12CD34', 'serial', 'stolen', 'pnc', "
                    ":no, 1, CURRENT_TIMESTAMP)"
                ),
                {"no": False},
            )
        upgrade(db)
        indexes = {i["name"] for i in inspect(db.engine).get_indexes("register_entries")}
        assert "ix_register_entries_identifier" not in indexes
        with db.engine.connect() as conn:
            assert conn.execute(
                text("SELECT identifier, kind, source FROM register_entries")
            ).all() == [("AB12CD34", "serial", "pnc")]
            if db.dialect == "postgresql":
                collations = conn.execute(
                    text(
                        "SELECT column_name, collation_name FROM information_schema.columns "
                        "WHERE table_name = 'register_entries' AND collation_name IS NOT NULL"
                    )
                ).all()
                assert dict(collations) == {"identifier": "C", "kind": "C", "source": "C"}
    finally:
        db.dispose()
