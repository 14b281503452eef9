"""Keep a RegisterIndex in step with a register table (PostgreSQL centrally, SQLite on a station).

The database layer owns the schema; this module only needs a table with, per entry, an id,
the identifier fields and a *version* column holding the register version that last
changed the row, plus a flag for withdrawn rows (kept so deltas can say what went away).
Column names are given by :class:`RegisterColumns`, so the schema stays the database
layer's to choose. Rows are streamed with a server-side cursor in batches.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa

from station.errors import InputError
from station.matcher.arrays import ArrayIndex
from station.matcher.index import RegisterIndex
from station.matcher.normalise import normal_value
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
    batch: int = 50_000,
) -> RegisterIndex:
    """Index every live entry; the index's version is the newest row version seen.

    Packs the columns as rows stream by (bytes and small integer codes, no object per
    entry), so a 5M-entry register builds in a few hundred MB.
    """
    s = settings or MatcherSettings()
    table, cols = columns.selectable()
    c = {col.name: col for col in cols}
    query = (
        sa.select(*cols)
        .select_from(table)
        .where(sa.not_(c[columns.withdrawn]))
        .order_by(c[columns.entry_id])
    )
    builder = IndexBuilder()
    newest = 0
    result = conn.execution_options(stream_results=True, yield_per=batch).execute(query)
    for rows in result.partitions(batch):
        for row in rows:
            eid, ident, kind, status, crime, source, rend, version, _withdrawn = tuple(row)
            if version > newest:
                newest = int(version)
            builder.add(int(eid), ident, kind, status, crime, source, rend)
    return builder.finish(s, newest)


class IndexBuilder:
    """An index built from entries as they stream by (a database cursor, a snapshot being
    written): packed columns, never an object per entry; ranges go to the overlay."""

    def __init__(self) -> None:
        self._packed = _Packer()
        self._ranges: list[RegisterRecord] = []

    def add(
        self,
        eid: int,
        ident: str,
        kind: str,
        status: str,
        crime: str | None,
        source: str | None,
        range_end: str | None,
    ) -> None:
        if range_end:
            self._ranges.append(RegisterRecord(eid, ident, kind, status, crime, source, range_end))
        else:
            self._packed.add(eid, ident, kind, status, crime, source)

    def finish(self, settings: MatcherSettings, version: int) -> RegisterIndex:
        base = self._packed.build(settings.max_edits)
        index = RegisterIndex.from_arrays(base, settings, version=version)
        if self._ranges:
            index.apply_delta(added=self._ranges, version=version)
        return index


class _Packer:
    """Register columns packed as they arrive: identifiers and crime references as bytes with
    lengths, kinds/statuses/sources as codes into small vocabularies."""

    def __init__(self) -> None:
        self.value = bytearray()
        self.vlen = array("q")
        self.crime = bytearray()
        self.clen = array("q")
        self.ids = array("q")
        self.codes: dict[str, array[int]] = {"kind": array("B"), "status": array("B")}
        self.codes["source"] = array("H")
        self.vocab: dict[str, dict[str, int]] = {"kind": {}, "status": {}, "source": {"": 0}}

    def _code(self, column: str, text: str | None) -> None:
        vocab = self.vocab[column]
        key = text or ""
        code = vocab.get(key)
        if code is None:
            code = vocab[key] = len(vocab)
        self.codes[column].append(code)  # OverflowError past 255 kinds / 65535 sources

    def add(
        self, eid: int, ident: str, kind: str, status: str, crime: str | None, source: str | None
    ) -> None:
        value = normal_value(kind, ident)
        if not value:
            raise InputError(f"register entry {eid} has an empty identifier")
        if not value.isascii():
            raise InputError(f"register identifier {value!r} is not ASCII; only Latin is accepted")
        self.value += value.encode("ascii")
        self.vlen.append(len(value))
        text = (crime or "").encode("utf-8")
        self.crime += text
        self.clen.append(len(text))
        self.ids.append(eid)
        self._code("kind", kind)
        self._code("status", status)
        self._code("source", source)

    def build(self, max_edits: int) -> ArrayIndex:
        def offsets(lengths: array[int]) -> np.ndarray:
            out = np.zeros(len(lengths) + 1, dtype=np.int64)
            np.cumsum(np.frombuffer(lengths, dtype=np.int64), out=out[1:])
            return out

        def vocab(column: str) -> list[str]:
            return list(self.vocab[column])

        def codes(column: str, dtype: type) -> np.ndarray:
            return np.frombuffer(self.codes[column], dtype=dtype).copy()

        value = np.frombuffer(bytes(self.value), dtype=np.uint8)
        crime = np.frombuffer(bytes(self.crime), dtype=np.uint8)
        self.value, self.crime = bytearray(), bytearray()
        return ArrayIndex.from_buffers(
            value,
            offsets(self.vlen),
            np.frombuffer(self.ids, dtype=np.int64).copy(),
            codes("kind", np.uint8),
            vocab("kind"),
            codes("status", np.uint8),
            vocab("status"),
            codes("source", np.uint16),
            vocab("source"),
            crime,
            offsets(self.clen),
            max_edits,
        )


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
