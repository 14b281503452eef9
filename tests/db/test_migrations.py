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
