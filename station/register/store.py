"""A register import applied set-based: straight into the register, or staged and diffed.

On PostgreSQL, a source's first import (nothing to update or withdraw) is COPYed into the
register by the write transaction as the workers parse the file, each block in key order;
readers go on reading the register as it was, and the key index refuses a repeated
identifier. Any other import, and a first import with a bad or repeated row, is staged:
the file streams through :class:`RegisterReader` into a temporary staging table outside the
write transaction, so memory stays flat however long the file. On SQLite the parse workers
write their rows to scratch files of their own, which the import attaches and sorts into
a staging table keyed (kind, identifier, line); on PostgreSQL the rows arrive by ``COPY``.
Problems only the whole file shows (an identifier repeated far apart) are found in the
staging table; a bad file raises before anything is written. The write transaction then
withdraws, updates and inserts with three statements that walk the staging table in key
order (a source's first import and a file without withdrawals skip the joins they do not
need), so a re-import that changes nothing writes nothing but its version row and audit
entry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, closing
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from sqlalchemy import Connection, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from station.db.engine import Database
from station.db.models import Owner, RegisterEntry, RegisterImport
from station.records import audit
from station.register.importer import (
    ENTRY_COPY_COLUMNS,
    STAGE_FIELDS,
    EntryCopy,
    OwnerRow,
    RegisterReader,
    RegisterRow,
    RowChunk,
    copy_text,
    stage_columns,
    stage_row,
)

STAGE = "register_stage"
#: entry fields a row sets; an "add" sets them all, an "update" only those it gives
DIFF_COLUMNS = (
    "status", "category", "brand", "model", "crime_ref", "force", "reported_on",
    "owner_applied_number", "range_end", "owner_ref", "kit_type",
)  # fmt: skip


def import_register(db: Database, reader: RegisterReader, actor: str) -> dict[str, Any]:
    """Check and apply one register file in one write transaction (all rows or none)."""
    with ThreadPoolExecutor(1) as hashing:
        # the file's digest is read beside the parse (hashlib lets go of the GIL)
        digest = hashing.submit(file_sha256, reader.path)
        if db.dialect == "postgresql":
            done = _import_straight(db, reader, actor, digest)
            if done is not None:
                return done
            reader.restart()
        return _import_staged(db, reader, actor, digest)


def _import_straight(
    db: Database, reader: RegisterReader, actor: str, digest: Future[str]
) -> dict[str, Any] | None:
    """PostgreSQL, a source's first import: COPY the rows into the register as the workers
    parse them, so the server stores one block while the next is parsed.

    The write transaction is open while the file is read: readers go on reading the register
    as it was (only the import's new rows are locked), and nothing is visible until the
    commit, which is durable like any other. The key index refuses a repeated identifier.
    None (and nothing stored) when the file needs the staged import: the source holds entries
    already, a row is bad or repeated, or the file withdraws something; that import then
    reads the file again and names every problem.
    """
    try:
        with (
            db.engine.connect() as conn,
            Session(bind=conn.execution_options(write=True)) as s,
            s.begin(),
        ):
            if _holds(s.connection(), reader.source):
                raise _NotStraight
            imp = _new_import(s, reader, actor)
            columns = ", ".join(ENTRY_COPY_COLUMNS)
            now = dt.datetime.now(dt.UTC).isoformat()
            target = EntryCopy(reader.source, imp.id, now)
            raw = s.connection().connection.driver_connection
            assert raw is not None
            with (
                closing(reader.chunks(entries=target)) as chunks,
                raw.cursor() as cur,
                cur.copy(f"COPY {RegisterEntry.__tablename__} ({columns}) FROM STDIN") as copy,
            ):
                for chunk in chunks:
                    if reader.has_problems or chunk.withdrawals:
                        raise _NotStraight
                    copy.write(chunk.copy)
            counts = {"added": reader.rows, "updated": 0, "withdrawn": 0}
            return _record(s, reader, imp, counts, digest.result(), actor)
    except _NotStraight:
        return None
    except Exception as exc:  # the driver's own error (COPY runs on it), or SQLAlchemy's
        if _repeated_key(exc):
            return None
        raise


class _NotStraight(Exception):
    """The file needs the staged import (see :func:`_import_straight`)."""


def _repeated_key(exc: BaseException) -> bool:
    """A unique violation: in a source's first import, an identifier the file repeats."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    return getattr(orig, "sqlstate", None) == "23505"


def _holds(conn: Connection, source: str) -> bool:
    """Whether the register holds entries of ``source`` (the key index answers)."""
    return bool(
        conn.execute(
            text(f"SELECT EXISTS (SELECT 1 FROM {RegisterEntry.__tablename__} WHERE source = :s)"),
            {"s": source},
        ).scalar()
    )


def _import_staged(
    db: Database, reader: RegisterReader, actor: str, digest: Future[str]
) -> dict[str, Any]:
    """Stage every row, check the whole file, then apply it as one set-based diff."""
    pg = db.dialect == "postgresql"
    with db.engine.connect() as conn, ExitStack() as scratch:
        attached: list[str] = []
        try:
            with conn.begin():
                _create_stage(conn, pg)
            # SQLite: the workers stage their rows in files of their own, attached below
            stage_dir = None if pg else Path(scratch.enter_context(TemporaryDirectory()))
            with conn.begin():
                for chunk in reader.chunks(copy_text=pg, stage_dir=stage_dir):
                    _load(conn, chunk, pg)
            if not reader.too_many:
                if stage_dir is not None:
                    attached = _attach(conn, sorted(stage_dir.glob("stage-*.db")))
                with conn.begin():
                    _roomy_sorts(conn, pg)
                    _index_stage(conn, pg, attached)
                    for line, why in _repeats(conn, reader.max_problems):
                        reader.note_problem(line, why)
                attached = _detach(conn, attached)
            reader.raise_if_bad()
            with Session(bind=conn.execution_options(write=True)) as s, s.begin():
                imp = _new_import(s, reader, actor)
                _roomy_sorts(s.connection(), pg)
                counts = _apply(s.connection(), reader.source, imp.id, pg)
                return _record(s, reader, imp, counts, digest.result(), actor)
        finally:
            if conn.in_transaction():
                conn.rollback()
            _detach(conn, attached)
            with conn.begin():
                for table in (STAGE, f"{STAGE}_raw", f"{STAGE}_todo"):
                    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")


def _new_import(s: Session, reader: RegisterReader, actor: str) -> RegisterImport:
    """The import's row, flushed: its id is the new register version."""
    imp = RegisterImport(
        source=reader.source, filename=reader.path.name, sha256="", imported_by=actor
    )
    s.add(imp)
    s.flush()
    return imp


def _record(
    s: Session,
    reader: RegisterReader,
    imp: RegisterImport,
    counts: dict[str, int],
    digest: str,
    actor: str,
) -> dict[str, Any]:
    """The owners, the import's counts and its audit entry, in the import's transaction; the
    summary the caller gets."""
    owners = reader.owners()
    _apply_owners(s, owners)
    imp.sha256 = digest
    imp.added, imp.updated, imp.withdrawn = counts["added"], counts["updated"], counts["withdrawn"]
    detail = {
        "file": reader.path.name,
        "sha256": digest,
        "source": reader.source,
        **counts,
        "owners": len(owners),
    }
    audit.append(s, actor, "alteration", "register", str(imp.id), detail)
    return {
        "version": imp.id,
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
        _index_stage(conn, pg, [])
        return _apply(conn, source, version, pg)
    finally:
        for table in (STAGE, f"{STAGE}_raw", f"{STAGE}_todo"):
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")


def file_sha256(path: Path) -> str:
    """SHA-256 of a file read a megabyte at a time (register files, feed objects)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# -- staging ---------------------------------------------------------------------------------


def _create_stage(conn: Connection, pg: bool) -> None:
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {STAGE}")
    if pg:
        conn.exec_driver_sql(f"CREATE TEMP TABLE {STAGE} ({stage_columns(pg)})")
        return
    # the staging tables live in SQLite's temp file; give its sorts room
    conn.exec_driver_sql("PRAGMA temp.cache_size=-65536")
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {STAGE}_raw")
    conn.exec_driver_sql(f"CREATE TEMP TABLE {STAGE}_raw ({stage_columns(pg)})")


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
        raw.executemany(f"INSERT INTO {STAGE}_raw VALUES ({marks})", chunk.rows)


def _roomy_sorts(conn: Connection, pg: bool) -> None:
    """PostgreSQL: memory for this transaction's sorts and hashes over the whole stage
    (the defaults, 4 MB and 64 MB, send a million-row stage through temporary files)."""
    if pg:
        conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
        conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")


def _attach(conn: Connection, files: list[Path]) -> list[str]:
    """Attach the workers' stage files (outside any transaction, as SQLite requires)."""
    raw = conn.connection.driver_connection
    assert raw is not None
    names: list[str] = []
    for n, path in enumerate(files):
        names.append(f"{STAGE}_w{n}")
        raw.execute(f"ATTACH DATABASE ? AS {names[-1]}", (str(path),))
    return names


def _detach(conn: Connection, names: list[str]) -> list[str]:
    raw = conn.connection.driver_connection
    assert raw is not None
    for name in names:
        raw.execute(f"DETACH DATABASE {name}")
    return []


def _index_stage(conn: Connection, pg: bool, attached: list[str]) -> None:
    if pg:
        # no index: PostgreSQL hashes the whole stage for the repeats and the diff's joins
        conn.exec_driver_sql(f"ANALYZE {STAGE}")  # temporary tables are never auto-analysed
        return
    # SQLite joins by nested loops: with the staged rows stored in key order, the diff walks
    # them and the register's key index side by side instead of jumping around a file bigger
    # than the page cache. One sort fills a table keyed that way: no index to build after
    parts = [f"SELECT * FROM {STAGE}_raw", *(f"SELECT * FROM {a}.stage" for a in attached)]
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE {STAGE} ({stage_columns(pg)}, PRIMARY KEY (kind, identifier, line)) "
        "WITHOUT ROWID"
    )
    conn.exec_driver_sql(
        f"INSERT INTO {STAGE} SELECT * FROM ({' UNION ALL '.join(parts)}) "
        "ORDER BY kind, identifier, line"
    )
    conn.exec_driver_sql(f"DROP TABLE {STAGE}_raw")


def _repeats(conn: Connection, limit: int) -> list[tuple[int, str]]:
    """Every line whose (kind, identifier) an earlier line already gave."""
    rows = conn.exec_driver_sql(
        f"SELECT st.kind, st.identifier, st.line FROM {STAGE} AS st JOIN ("
        f"SELECT kind, identifier FROM {STAGE} GROUP BY kind, identifier "
        f"HAVING count(*) > 1 ORDER BY min(line) LIMIT {int(limit)}"
        ") AS g ON g.kind = st.kind AND g.identifier = st.identifier "
        "ORDER BY st.kind, st.identifier, st.line"
    ).all()
    problems: list[tuple[int, str]] = []
    first: dict[tuple[str, str], int] = {}
    for kind, identifier, line in rows:
        if (kind, identifier) in first:
            why = f"{identifier} appears again (first on line {first[kind, identifier]})"
            problems.append((line, why))
        else:
            first[kind, identifier] = line
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
    entries = RegisterEntry.__tablename__
    # a source with no entries yet (a first import) has nothing to withdraw or update, and
    # a file without withdrawals nothing to withdraw: each skipped join is a pass over both
    held = conn.execute(
        text(f"SELECT EXISTS (SELECT 1 FROM {entries} WHERE source = :source)"),
        params,
    ).scalar()
    withdrawals = (
        held
        and conn.exec_driver_sql(
            f"SELECT EXISTS (SELECT 1 FROM {STAGE} WHERE action = 'withdraw')"
        ).scalar()
    )
    withdrawn = 0
    if withdrawals:
        withdrawn = conn.execute(
            text(
                f"UPDATE {RegisterEntry.__tablename__} AS e "
                "SET withdrawn = :yes, version = :version, updated_at = :now "
                f"FROM {STAGE} AS st WHERE st.action = 'withdraw' AND {same_key} "
                "AND e.withdrawn = :no"
            ),
            params,
        ).rowcount
    names = ", ".join(DIFF_COLUMNS)
    picked = ", ".join(f"st.{c}" for c in DIFF_COLUMNS)
    updated = 0
    todo = STAGE
    if held:
        # one join finds the rows to write: new keys (no entry id) and changed entries; an
        # unchanged re-import finds none, so what follows has nothing to do
        changed = " OR ".join(
            f"((st.{c} IS NOT NULL OR st.action = 'add') AND e.{c} {differs} st.{c})"
            for c in DIFF_COLUMNS
        )
        todo = f"{STAGE}_todo"
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {todo}")
        conn.exec_driver_sql(f"CREATE TEMP TABLE {todo} ({stage_columns(pg)}, entry_id INTEGER)")
        conn.execute(
            text(
                f"INSERT INTO {todo} SELECT st.*, e.id "
                f"FROM {STAGE} AS st LEFT JOIN {entries} AS e ON {same_key} "
                "WHERE st.action <> 'withdraw' "
                f"AND (e.id IS NULL OR e.withdrawn = :yes OR {changed})"
            ),
            params,
        )
        sets = ", ".join(
            f"{c} = CASE WHEN st.action = 'add' THEN st.{c} ELSE coalesce(st.{c}, e.{c}) END"
            for c in DIFF_COLUMNS
        )
        updated = conn.execute(
            text(
                f"UPDATE {entries} AS e "
                f"SET {sets}, withdrawn = :no, version = :version, updated_at = :now "
                f"FROM {todo} AS st WHERE e.id = st.entry_id"
            ),
            params,
        ).rowcount
    # key order turns random b-tree inserts into appends on the key index. SQLite's stage is
    # stored in (kind, identifier) order already; PostgreSQL sorts, and identifier first is
    # what its sort is quick at (a first key of a few values, the kind, defeats its
    # abbreviated keys: 3-4 s for a million rows instead of 0.5): the key index then takes
    # one ascending run per kind, as good as appends
    order = "st.identifier, st.kind" if pg else "st.kind, st.identifier"
    added = conn.execute(
        text(
            f"INSERT INTO {entries} "
            f"(source, kind, identifier, withdrawn, version, updated_at, {names}) "
            f"SELECT CAST(:source AS VARCHAR(100)), st.kind, st.identifier, :no, :version, "
            f":now, {picked} FROM {todo} AS st WHERE st.action <> 'withdraw' "
            + ("AND st.entry_id IS NULL " if held else "")
            + f"ORDER BY {order}"
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
