"""Alembic driven from code: `station db upgrade` and the server start call ``upgrade``.

Every command opens the database through ``upgrade``; a database already at the newest
schema is recognised without importing Alembic (a second of start-up on a Pi), by comparing
its alembic_version row with the heads named in the migration files.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.exc import SQLAlchemyError

from station.db.engine import Database

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
_HEADER = re.compile(r"^(revision|down_revision)\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.M)


@cache
def head_revisions() -> frozenset[str]:
    """Revisions no other migration builds on, read from the migration files' headers."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        fields = {k: ast.literal_eval(v) for k, v in _HEADER.findall(path.read_text("utf-8"))}
        if "revision" not in fields:
            continue
        revisions.add(fields["revision"])
        down = fields.get("down_revision")
        parents.update([down] if isinstance(down, str) else list(down or ()))
    return frozenset(revisions - parents)


def is_current(db: Database) -> bool:
    """Whether the database's schema is already at the newest migration."""
    try:
        with db.engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except SQLAlchemyError:  # no alembic_version table yet: a new database
        return False
    return bool(rows) and set(rows) == head_revisions()


def alembic_config(db: Database) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    cfg.attributes["engine"] = db.engine
    return cfg


def upgrade(db: Database, revision: str = "head") -> None:
    """Apply migrations up to ``revision``; safe (and cheap) to call on every start."""
    if revision == "head" and is_current(db):
        return
    from alembic import command

    command.upgrade(alembic_config(db), revision)


def current_revision(db: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return MigrationContext.configure(conn).get_current_revision()
