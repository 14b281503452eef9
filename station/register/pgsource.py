"""Keep a RegisterIndex in step with a register table (PostgreSQL centrally, SQLite on a station).

The database layer owns the schema; this module only needs a table with, per entry, an id,
the identifier fields and a *version* column holding the register version that last
changed the row, plus a flag for withdrawn rows (kept so deltas can say what went away).
Column names are given by :class:`RegisterColumns`, so the schema stays the database
layer's to choose. Rows are streamed with a server-side cursor in batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import sqlalchemy as sa

from station.matcher.index import RegisterIndex
from station.matcher.records import RegisterRecord
from station.settings import MatcherSettings


@dataclass(frozen=True)
class RegisterColumns:
    """Where each field lives in the register table."""

    table: str = "register_entries"
    schema: str | None = None
    entry_id: str = "id"
    identifier: str = "identifier"
    kind: str = "kind"
    status: str = "status"
    crime_ref: str = "crime_ref"
    source: str = "source"
    range_end: str = "range_end"
    version: str = "register_version"
    withdrawn: str = "withdrawn"

    def selectable(self) -> tuple[sa.TableClause, list[sa.ColumnClause[object]]]:
        fields = [
            self.entry_id,
            self.identifier,
            self.kind,
            self.status,
            self.crime_ref,
            self.source,
            self.range_end,
            self.version,
            self.withdrawn,
        ]
        cols: list[sa.ColumnClause[object]] = [sa.column(f) for f in fields]
        return sa.table(self.table, *cols, schema=self.schema), cols


@dataclass(frozen=True)
class RegisterChange:
    """A row as read: the record, its version, and whether it was withdrawn."""

    record: RegisterRecord
    version: int
    withdrawn: bool


def iter_changes(
    conn: sa.Connection,
    columns: RegisterColumns = RegisterColumns(),
    since_version: int | None = None,
    batch: int = 50_000,
) -> Iterator[RegisterChange]:
    """Rows changed after ``since_version`` (all live rows when None), in id order."""
    table, cols = columns.selectable()
    c = {col.name: col for col in cols}
    query = sa.select(*cols).select_from(table).order_by(c[columns.entry_id])
    if since_version is None:
        query = query.where(sa.not_(c[columns.withdrawn]))
    else:
        query = query.where(c[columns.version] > since_version)
    result = conn.execution_options(stream_results=True, yield_per=batch).execute(query)
    for row in result:
        eid, ident, kind, status, crime, source, rend, version, withdrawn = tuple(row)
        yield RegisterChange(
            RegisterRecord(int(eid), str(ident), str(kind), str(status), crime, source, rend),
            int(version),
            bool(withdrawn),
        )


def build_from_db(
    conn: sa.Connection,
    columns: RegisterColumns = RegisterColumns(),
    settings: MatcherSettings | None = None,
) -> RegisterIndex:
    """Index every live entry; the index's version is the newest row version seen."""
    newest = 0
    records = []
    for change in iter_changes(conn, columns):
        records.append(change.record)
        newest = max(newest, change.version)
    return RegisterIndex.build(records, settings, version=newest)


def sync_from_db(
    index: RegisterIndex,
    conn: sa.Connection,
    columns: RegisterColumns = RegisterColumns(),
) -> int:
    """Apply every change newer than the index's version; returns how many rows changed."""
    changed: list[RegisterRecord] = []
    withdrawn: list[int] = []
    newest = index.version
    for change in iter_changes(conn, columns, since_version=index.version):
        newest = max(newest, change.version)
        if change.withdrawn:
            withdrawn.append(change.record.entry_id)
        else:
            changed.append(change.record)
    if changed or withdrawn:
        index.apply_delta(updated=changed, withdrawn=withdrawn, version=newest)
    return len(changed) + len(withdrawn)
