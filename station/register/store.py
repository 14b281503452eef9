"""A register import applied set-based: stage every validated row, then one ordered diff.

The file streams through :class:`RegisterReader` into a temporary staging table (SQLite
``executemany``, PostgreSQL ``COPY``) outside the write transaction, so memory stays flat
however long the file. Problems only the whole file shows (an identifier repeated far apart)
are found in the staging table; a bad file raises before anything is written. The write
transaction then withdraws, updates and inserts with three statements that walk the
staging table in key order, so a re-import that changes nothing writes nothing but its
version row and audit entry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select, text
from sqlalchemy.orm import Session

from station.db.engine import Database
from station.db.models import Owner, RegisterEntry, RegisterImport
from station.records import audit
from station.register.importer import (
    STAGE_FIELDS,
    OwnerRow,
    RegisterReader,
    RegisterRow,
    RowChunk,
    copy_text,
    stage_row,
)

STAGE = "register_stage"
#: entry fields a row sets; an "add" sets them all, an "update" only those it gives
DIFF_COLUMNS = (
    "status", "category", "brand", "model", "crime_ref", "force", "reported_on",
    "owner_applied_number", "range_end", "owner_ref", "kit_type",
)  # fmt: skip


def import_register(db: Database, reader: RegisterReader, actor: str) -> dict[str, Any]:
    """Stage, check and apply one register file in one write transaction (all rows or none)."""
    digest = file_sha256(reader.path)
    pg = db.dialect == "postgresql"
    with db.engine.connect() as conn:
        try:
            with conn.begin():
                _create_stage(conn, pg)
            with conn.begin():
                for chunk in reader.chunks(copy_text=pg):
                    _load(conn, chunk, pg)
                if not reader.too_many:
                    _index_stage(conn, pg)
                    for line, why in _repeats(conn, reader.max_problems):
                        reader.note_problem(line, why)
            reader.raise_if_bad()
            owners = reader.owners()
            with Session(bind=conn.execution_options(write=True)) as s, s.begin():
                imp = RegisterImport(
                    source=reader.source,
                    filename=reader.path.name,
                    sha256=digest,
                    imported_by=actor,
                )
                s.add(imp)
                s.flush()
                counts = _apply(s.connection(), reader.source, imp.id, pg)
                _apply_owners(s, owners)
                imp.added, imp.updated, imp.withdrawn = (
                    counts["added"],
                    counts["updated"],
                    counts["withdrawn"],
                )
                detail = {
                    "file": reader.path.name,
                    "sha256": digest,
                    "source": reader.source,
                    **counts,
                    "owners": len(owners),
                }
                audit.append(s, actor, "alteration", "register", str(imp.id), detail)
                version = imp.id
        finally:
            if conn.in_transaction():
                conn.rollback()
            with conn.begin():
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {STAGE}")
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {STAGE}_raw")
    return {
        "version": version,
        "source": reader.source,
        "file": str(reader.path),
        "rows": reader.rows,
        "owners": len(owners),
        **counts,
    }


def apply_rows(
    s: Session, rows: Iterable[RegisterRow], source: str, version: int
) -> dict[str, int]:
    """Apply already validated rows of one source inside the caller's write transaction (as
    a register version published centrally arrives); counts added, updated, withdrawn."""
    conn = s.connection()
    pg = conn.dialect.name == "postgresql"
    staged = [stage_row(r) for r in rows]
    _create_stage(conn, pg)
    try:
        _load(
            conn,
            RowChunk([] if pg else staged, copy_text(staged) if pg else b"", len(staged), [], []),
            pg,
        )
        _index_stage(conn, pg)
        return _apply(conn, source, version, pg)
    finally:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {STAGE}")


def file_sha256(path: Path) -> str:
    """SHA-256 of a file read a megabyte at a time (register files, feed objects)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# -- staging ---------------------------------------------------------------------------------


def _create_stage(conn: Connection, pg: bool) -> None:
    types = {"line": "INTEGER", "reported_on": "DATE" if pg else "TEXT"}
    cols = ", ".join(f"{name} {types.get(name, 'TEXT')}" for name in STAGE_FIELDS)
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {STAGE}")
    if not pg:
        # the staging table lives in SQLite's temp file; give its sorts room
        conn.exec_driver_sql("PRAGMA temp.cache_size=-65536")
    conn.exec_driver_sql(f"CREATE TEMP TABLE {STAGE} ({cols})")


def _load(conn: Connection, chunk: RowChunk, pg: bool) -> None:
    raw = conn.connection.driver_connection
    assert raw is not None
    if pg:
        if chunk.copy:
            with raw.cursor() as cur, cur.copy(f"COPY {STAGE} FROM STDIN") as copy:
                copy.write(chunk.copy)
        return
    if chunk.rows:
        marks = ", ".join("?" for _ in STAGE_FIELDS)
        raw.executemany(f"INSERT INTO {STAGE} VALUES ({marks})", chunk.rows)


def _index_stage(conn: Connection, pg: bool) -> None:
    if pg:
        conn.exec_driver_sql(f"CREATE INDEX {STAGE}_key ON {STAGE} (kind, identifier, line)")
        conn.exec_driver_sql(f"ANALYZE {STAGE}")  # temporary tables are never auto-analysed
        return
    # SQLite joins by nested loops: with the staged rows stored in key order, the diff walks
    # them and the register's key index side by side instead of jumping around a file bigger
    # than the page cache
    conn.exec_driver_sql(f"ALTER TABLE {STAGE} RENAME TO {STAGE}_raw")
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE {STAGE} AS SELECT * FROM {STAGE}_raw ORDER BY kind, identifier, line"
    )
    conn.exec_driver_sql(f"DROP TABLE {STAGE}_raw")
    conn.exec_driver_sql(f"CREATE INDEX {STAGE}_key ON {STAGE} (kind, identifier, line)")


def _repeats(conn: Connection, limit: int) -> list[tuple[int, str]]:
    """Every line whose (kind, identifier) an earlier line already gave."""
    groups = conn.exec_driver_sql(
        f"SELECT kind, identifier FROM {STAGE} GROUP BY kind, identifier "
        f"HAVING count(*) > 1 ORDER BY min(line) LIMIT {int(limit)}"
    ).all()
    marker = "%s" if conn.dialect.paramstyle != "qmark" else "?"
    problems: list[tuple[int, str]] = []
    for kind, identifier in groups:
        lines = conn.exec_driver_sql(
            f"SELECT line FROM {STAGE} WHERE kind = {marker} AND identifier = {marker} "
            "ORDER BY line",
            (kind, identifier),
        ).scalars()
        first, *again = lines
        problems += [(ln, f"{identifier} appears again (first on line {first})") for ln in again]
    return problems


# -- the diff --------------------------------------------------------------------------------


def _apply(conn: Connection, source: str, version: int, pg: bool) -> dict[str, int]:
    """Withdraw, update and insert from the staging table; counts of each."""
    table = RegisterEntry.__table__
    dialect = conn.dialect
    now = dt.datetime.now(dt.UTC)

    def bound(column: str, value: Any) -> Any:
        process = table.c[column].type.bind_processor(dialect)
        return process(value) if process is not None else value

    params = {
        "source": source,
        "version": version,
        "now": bound("updated_at", now),
        "yes": bound("withdrawn", True),
        "no": bound("withdrawn", False),
    }
    differs = "IS DISTINCT FROM" if pg else "IS NOT"
    same_key = "e.source = :source AND e.kind = st.kind AND e.identifier = st.identifier"
    withdrawn = conn.execute(
        text(
            f"UPDATE {RegisterEntry.__tablename__} AS e "
            "SET withdrawn = :yes, version = :version, updated_at = :now "
            f"FROM {STAGE} AS st WHERE st.action = 'withdraw' AND {same_key} "
            "AND e.withdrawn = :no"
        ),
        params,
    ).rowcount
    sets = ", ".join(
        f"{c} = CASE WHEN st.action = 'add' THEN st.{c} ELSE coalesce(st.{c}, e.{c}) END"
        for c in DIFF_COLUMNS
    )
    changed = " OR ".join(
        f"((st.{c} IS NOT NULL OR st.action = 'add') AND e.{c} {differs} st.{c})"
        for c in DIFF_COLUMNS
    )
    updated = conn.execute(
        text(
            f"UPDATE {RegisterEntry.__tablename__} AS e "
            f"SET {sets}, withdrawn = :no, version = :version, updated_at = :now "
            f"FROM {STAGE} AS st WHERE st.action <> 'withdraw' AND {same_key} "
            f"AND (e.withdrawn = :yes OR {changed})"
        ),
        params,
    ).rowcount
    names = ", ".join(DIFF_COLUMNS)
    picked = ", ".join(f"st.{c}" for c in DIFF_COLUMNS)
    # key order turns random b-tree inserts into appends on the identifier indexes
    added = conn.execute(
        text(
            f"INSERT INTO {RegisterEntry.__tablename__} "
            f"(source, kind, identifier, withdrawn, version, updated_at, {names}) "
            f"SELECT CAST(:source AS VARCHAR(100)), st.kind, st.identifier, :no, :version, :now, {picked} "
            f"FROM {STAGE} AS st WHERE st.action <> 'withdraw' AND NOT EXISTS ("
            f"SELECT 1 FROM {RegisterEntry.__tablename__} AS e WHERE {same_key}) "
            "ORDER BY st.kind, st.identifier"
        ),
        params,
    ).rowcount
    return {"added": added, "updated": updated, "withdrawn": withdrawn}


def _apply_owners(s: Session, owners: list[OwnerRow]) -> None:
    for o in owners:
        row = s.execute(select(Owner).where(Owner.owner_ref == o.owner_ref)).scalar()
        if row is None:
            row = Owner(owner_ref=o.owner_ref)
            s.add(row)
        for field in ("name", "address", "postcode", "phone", "email"):
            value = getattr(o, field)
            if value is not None:
                setattr(row, field, value)
