"""Register files (CSV, JSON Lines, XLSX) parsed and validated in full before anything is stored.

A file is all-or-nothing: every row is checked first, and any bad row makes
:func:`parse_register_file` raise RegisterImportError listing every problem with its line
number, so the caller stores nothing. The column mapping is documented in
docs/register-format.md.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import sqlite3
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from operator import itemgetter
from pathlib import Path
from typing import Any, BinaryIO, Literal

from station.db.bulk import copy_text
from station.errors import InputError, RegisterImportError
from station.identifiers import Classified, classify, luhn_ok
from station.matcher.normalise import normal_value
from station.matcher.ranges import parse_range

Action = Literal["add", "update", "withdraw"]
ProgressFn = Callable[[int, int], None]

KINDS = ("imei", "serial", "mark_code", "barcode", "postcode_mark")
STATUSES = ("stolen", "lost", "registered-owner", "recovered")
ACTIONS: tuple[Action, ...] = ("add", "update", "withdraw")
REQUIRED_COLUMNS = (
    "identifier",
    "kind",
    "status",
    "category",
    "brand",
    "model",
    "crime_ref",
    "force",
    "reported_on",
)
ENTRY_FIELDS = (
    *REQUIRED_COLUMNS,
    "owner_applied_number",
    "range_end",
    "owner_ref",
    "kit_type",
    "action",
)
OWNER_FIELDS = ("owner_name", "owner_address", "owner_postcode", "owner_phone", "owner_email")
#: column names other registers use, mapped onto ours (a mapping argument overrides these)
DEFAULT_ALIASES: dict[str, str] = {
    "serial": "identifier",
    "serial_number": "identifier",
    "serial_no": "identifier",
    "imei": "identifier",
    "mark": "identifier",
    "mark_code": "identifier",
    "type": "kind",
    "make": "brand",
    "crime_reference": "crime_ref",
    "crime_no": "crime_ref",
    "police_force": "force",
    "reported": "reported_on",
    "date_reported": "reported_on",
    "oan": "owner_applied_number",
    "last_serial": "range_end",
}
MAX_FIELD_LENGTH = 500
#: fields kept in shorter columns: longer text is a bad row, not a database error
FIELD_LIMITS = {
    "category": 100,
    "brand": 100,
    "model": 100,
    "crime_ref": 64,
    "force": 100,
    "owner_applied_number": 64,
    "owner_ref": 64,
    "kit_type": 64,
    "owner_name": 200,
    "owner_postcode": 16,
    "owner_phone": 40,
    "owner_email": 200,
}
_PROGRESS_EVERY = 5000


@dataclass(frozen=True, slots=True)
class OwnerRow:
    """Owner personal data, kept apart from the entry and linked by ``owner_ref``."""

    owner_ref: str
    name: str | None = None
    address: str | None = None
    postcode: str | None = None
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class RegisterRow:
    """One validated register row (DESIGN.md 3.4), identifier already in normal form."""

    line: int
    action: Action
    identifier: str
    kind: str
    status: str | None = None
    category: str | None = None
    brand: str | None = None
    model: str | None = None
    crime_ref: str | None = None
    force: str | None = None
    reported_on: dt.date | None = None
    owner_applied_number: str | None = None
    range_end: str | None = None
    owner_ref: str | None = None
    kit_type: str | None = None
    #: the identifier's own check holds (IMEI Luhn, mark-code check character)
    valid: bool = True


@dataclass
class ParsedRegister:
    """A whole file, validated."""

    path: Path
    source: str
    format: str
    rows: list[RegisterRow] = field(default_factory=list)
    owners: list[OwnerRow] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Rows per action, for the import summary."""
        out: dict[str, int] = dict.fromkeys(ACTIONS, 0)
        for r in self.rows:
            out[r.action] += 1
        return out


class _RowProblem(Exception):
    """One reason a row is bad."""


def parse_register_file(
    path: str | Path,
    source: str | None = None,
    mapping: Mapping[str, str] | None = None,
    progress: ProgressFn | None = None,
    max_problems: int = 1000,
) -> ParsedRegister:
    """Read and validate a register file; RegisterImportError lists every bad line.

    ``mapping`` maps the file's column names onto the fields above (overriding the default
    aliases). ``progress(done, total)`` is called now and then, in bytes for CSV/JSON Lines and
    in rows for XLSX. Holds the whole file in memory: imports stream through
    :class:`RegisterReader` instead.
    """
    reader = RegisterReader(path, source, mapping, progress, max_problems=max_problems)
    parsed = ParsedRegister(reader.path, reader.source, reader.format)
    seen: dict[tuple[str, str], int] = {}
    for line, raw in reader.raw_rows():
        try:
            row = _validate(line, raw)
            key = (row.kind, row.identifier)
            if key in seen:
                raise _RowProblem(f"{row.identifier} appears again (first on line {seen[key]})")
            seen[key] = line
            reader.note_owner(line, _owner(raw, row))
            parsed.rows.append(row)
        except _RowProblem as exc:
            reader.note_problem(line, str(exc))
            if reader.too_many:
                break
    reader.raise_if_bad()
    parsed.owners = reader.owners()
    return parsed


# -- streaming: blocks of the file parsed and validated in worker processes ------------------

#: validated row as staged for the database (see station/register/store.py)
STAGE_FIELDS = (
    "line", "action", "kind", "identifier", "status", "category", "brand", "model",
    "crime_ref", "force", "reported_on", "owner_applied_number", "range_end", "owner_ref",
    "kit_type",
)  # fmt: skip
StageRow = tuple[Any, ...]
#: bytes of the file handed to a worker at once (about 15,000 rows of a typical register)
BLOCK_BYTES = 1 << 20
#: files smaller than this are parsed in the calling process (workers cost more to start)
PARALLEL_BYTES = 8 << 20
#: a record longer than this is not a register row: stop looking for its end
_MAX_CARRY = 64 << 20


@dataclass(frozen=True, slots=True)
class EntryCopy:
    """What every row of an import written straight into the register shares (see
    station/register/store.py): its source, the register version, the time."""

    source: str
    version: int
    updated_at: str


#: the register's columns, in the order :func:`entry_copy_text` writes them
ENTRY_COPY_COLUMNS = (
    *STAGE_FIELDS[2:], "source", "withdrawn", "version", "updated_at",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Block:
    """One piece of the file for a worker: whole records, and where they start."""

    fmt: str
    data: bytes
    first_line: int
    fields: tuple[str | None, ...]
    width: int
    columns: tuple[tuple[str, str], ...]
    copy_text: bool
    #: SQLite: the folder where workers stage their rows themselves (see stage_file)
    stage_dir: str | None = None
    #: PostgreSQL, a source's first import: rows as the register's COPY text
    entries: EntryCopy | None = None


@dataclass(slots=True)
class RowChunk:
    """A block's outcome: staged rows (tuples, or PostgreSQL COPY text), problems, owners."""

    rows: list[StageRow]
    copy: bytes
    count: int
    problems: list[tuple[int, str]]
    owners: list[tuple[int, OwnerRow]]
    #: a problem that stops reading (not UTF-8, broken quoting): message, line, why
    fatal: tuple[str, int, str] | None = None
    #: rows whose action is "withdraw" (left out of the register's COPY text)
    withdrawals: int = 0


class _Fatal(Exception):
    """Reading cannot go on: (message, line, why)."""


class RegisterReader:
    """A register file read as validated chunks, in worker processes when it is large.

    Problems and owners are collected across chunks in file order; problems that only the
    whole file shows (a key repeated far apart) are added by the caller with
    :meth:`note_problem` before :meth:`raise_if_bad`.
    """

    def __init__(
        self,
        path: str | Path,
        source: str | None = None,
        mapping: Mapping[str, str] | None = None,
        progress: ProgressFn | None = None,
        workers: int | None = None,
        max_problems: int = 1000,
    ) -> None:
        p = Path(path)
        if not p.is_file():
            raise RegisterImportError(f"register file {p} does not exist")
        suffix = p.suffix.lower()
        self.columns = {**DEFAULT_ALIASES, **{_key(k): v for k, v in (mapping or {}).items()}}
        for target in self.columns.values():
            if target not in ENTRY_FIELDS and target not in OWNER_FIELDS:
                raise RegisterImportError(f"column mapping names unknown field {target!r}")
        formats = {".csv": "csv", ".txt": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
        if suffix == ".xlsx":
            self.format = "xlsx"
        elif suffix in formats:
            self.format = formats[suffix]
        else:
            raise RegisterImportError(
                f"{p.name}: unsupported register format {suffix or '(none)'}; "
                "use .csv, .jsonl or .xlsx"
            )
        self.path = p
        self.source = source or p.stem
        self.progress = progress
        self.workers = workers if workers is not None else min(4, os.cpu_count() or 1)
        self.max_problems = max_problems
        self.rows = 0
        self._problems: list[tuple[int, str]] = []
        self._owners: dict[str, OwnerRow] = {}

    # -- problems and owners, in file order ---------------------------------------------------

    @property
    def too_many(self) -> bool:
        return len(self._problems) >= self.max_problems

    @property
    def has_problems(self) -> bool:
        return bool(self._problems)

    def restart(self) -> None:
        """Forget what a reading found, to read the file again from its start."""
        self.rows = 0
        self._problems = []
        self._owners = {}

    def note_problem(self, line: int, why: str) -> None:
        if not self.too_many:
            self._problems.append((line, why))

    def note_owner(self, line: int, owner: OwnerRow | None) -> None:
        """Keep an owner; a second row giving different details for it is a bad row."""
        if owner is None:
            return
        if self._owners.get(owner.owner_ref, owner) != owner:
            raise _RowProblem(f"owner {owner.owner_ref} is given different details")
        self._owners[owner.owner_ref] = owner

    def owners(self) -> list[OwnerRow]:
        return list(self._owners.values())

    def raise_if_bad(self) -> None:
        """RegisterImportError listing the problems (by line), if there are any."""
        if not self._problems:
            return
        problems = sorted(self._problems)[: self.max_problems]
        shown = "; ".join(f"line {ln}: {why}" for ln, why in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise RegisterImportError(
            f"{self.path.name}: {len(problems)} bad row(s), nothing imported: {shown}{more}",
            problems,
        )

    # -- reading ---------------------------------------------------------------------------

    def raw_rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        """Every record as (line, {field: text}), read in this process."""
        if self.format == "xlsx":
            yield from _xlsx_rows(self.path, self.columns, self.progress)
            return
        for block in self._blocks(copy_text=False, stage_dir=None, entries=None):
            try:
                yield from _block_rows(block)
            except _Fatal as exc:
                self._fatal(*exc.args)

    def chunks(
        self,
        copy_text: bool = False,
        stage_dir: Path | None = None,
        entries: EntryCopy | None = None,
    ) -> Generator[RowChunk]:
        """Validated chunks in file order, parsed across cores when the file is large.

        With ``stage_dir``, the rows of a CSV or JSON Lines file are not returned but written
        to SQLite files there by whichever process parsed them (see :func:`stage_file`).
        With ``entries``, a chunk's rows come as the register's own COPY text
        (:func:`entry_copy_text`).
        Stops early once ``max_problems`` problems are known; the caller then calls
        :meth:`raise_if_bad`.
        """
        if self.format == "xlsx":
            results: Iterator[RowChunk] = _xlsx_chunks(self, copy_text, entries)
        elif self.workers > 1 and self.path.stat().st_size >= PARALLEL_BYTES:
            results = _in_workers(self._blocks(copy_text, stage_dir, entries), self.workers)
        else:
            results = map(_parse_block, self._blocks(copy_text, stage_dir, entries))
        for chunk in results:
            if chunk.fatal is not None:
                self._fatal(*chunk.fatal)
            for line, why in chunk.problems:
                self.note_problem(line, why)
            for line, owner in chunk.owners:
                try:
                    self.note_owner(line, owner)
                except _RowProblem as exc:
                    self.note_problem(line, str(exc))
            self.rows += chunk.count
            yield chunk
            if self.too_many:
                return

    def _fatal(self, message: str, line: int, why: str) -> None:
        raise RegisterImportError(f"{self.path.name}: {message}", [(line, why)])

    def _blocks(
        self, copy_text: bool, stage_dir: Path | None, entries: EntryCopy | None
    ) -> Iterator[_Block]:
        total = self.path.stat().st_size
        done = 0
        size = max(64 << 10, min(BLOCK_BYTES, total // 16))  # a small file still shows progress
        with self.path.open("rb") as fh:
            head = fh.read(size)
            if head.startswith(b"\xef\xbb\xbf"):
                head, done = head[3:], 3
            fields: tuple[str | None, ...] = ()
            width = 0
            line = 1
            if self.format == "csv":
                header, head, line, used = _csv_header(head, fh, self.path.name)
                fields = tuple(_header(header, self.columns, self.path.name))
                width = len(header)
                done += used
            columns = tuple(self.columns.items())
            carry = head
            while True:
                data = fh.read(size)
                buf = carry + data if data else carry
                cut = _boundary(buf, self.format == "csv") if data else len(buf)
                if cut <= 0 and data and len(buf) < _MAX_CARRY:
                    carry = buf  # no record ends in what was read yet
                    continue
                cut = cut or len(buf)
                block, carry = buf[:cut], buf[cut:]
                if block:
                    yield _Block(
                        self.format,
                        block,
                        line,
                        fields,
                        width,
                        columns,
                        copy_text,
                        None if stage_dir is None else str(stage_dir),
                        entries,
                    )
                    line += block.count(b"\n")
                    done += len(block)
                    if self.progress is not None:
                        self.progress(min(done, total), total)
                if not data:
                    break
        if self.progress is not None:
            self.progress(total, total)


def _csv_header(head: bytes, fh: BinaryIO, name: str) -> tuple[list[str], bytes, int, int]:
    """The header record, the bytes after it, the line number after it, its length."""
    while True:
        end = _first_boundary(head)
        more = b"" if end >= 0 else fh.read(BLOCK_BYTES)
        if end >= 0 or not more:
            break
        head += more
    first, rest = (head[: end + 1], head[end + 1 :]) if end >= 0 else (head, b"")
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RegisterImportError(f"{name}: not UTF-8 text ({exc.reason})") from exc
    try:
        header = next(csv.reader(io.StringIO(text, newline="")))
    except StopIteration:
        raise RegisterImportError(f"{name}: the file is empty", [(1, "empty")]) from None
    except csv.Error as exc:
        raise RegisterImportError(f"{name}: line 1: {exc}", [(1, str(exc))]) from exc
    return header, rest, 1 + first.count(b"\n"), len(first)


def _first_boundary(buf: bytes) -> int:
    """Index of the first newline outside quotes, or -1."""
    pos = buf.find(b"\n")
    while pos >= 0 and buf.count(b'"', 0, pos) % 2:
        pos = buf.find(b"\n", pos + 1)
    return pos


def _boundary(buf: bytes, quoted: bool) -> int:
    """Length of the longest prefix of ``buf`` made of whole records (0 if none).

    A newline ends a CSV record when an even number of quote characters precede it (quotes
    inside quoted fields are doubled), so a block never splits a multi-line field.
    """
    end = buf.rfind(b"\n")
    if quoted and end >= 0:
        quotes = buf.count(b'"', 0, end)
        while end >= 0 and quotes % 2:
            prev = buf.rfind(b"\n", 0, end)
            quotes -= buf.count(b'"', prev + 1, end)
            end = prev
    return end + 1


def _in_workers(blocks: Iterator[_Block], workers: int) -> Iterator[RowChunk]:
    """Blocks parsed by a pool, results in file order, at most two blocks per worker in
    flight (so memory stays flat however long the file is)."""
    import multiprocessing
    from collections import deque
    from concurrent.futures import Future, ProcessPoolExecutor

    # workers start from a clean interpreter: forking a server whose threads hold locks is not
    # safe
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        pending: deque[Future[RowChunk]] = deque()
        try:
            for block in blocks:
                pending.append(pool.submit(_parse_block, block))
                if len(pending) >= 2 * workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def _parse_block(block: _Block) -> RowChunk:
    """Validate one block (in a worker process): rows staged, problems by line."""
    today = dt.date.today()
    # a file without owner columns (most registers) skips the owner look at every row
    has_owners = block.fmt != "csv" or any(f in OWNER_FIELDS for f in block.fields)
    owners: list[tuple[int, OwnerRow]] = []
    plain = None if has_owners else _plain_block(block, today)
    if plain is not None:
        rows, problems = plain
    else:
        rows, problems = [], []
        try:
            _general_block(block, today, has_owners, rows, problems, owners)
        except _Fatal as exc:
            return RowChunk([], b"", len(rows), problems, owners, exc.args)
    if block.stage_dir is not None:
        stage_file(Path(block.stage_dir) / f"stage-{os.getpid()}.db", rows)
        return RowChunk([], b"", len(rows), problems, owners)
    if block.entries is not None:
        return _entry_chunk(rows, problems, owners, block.entries)
    if block.copy_text:
        return RowChunk([], copy_text(rows), len(rows), problems, owners)
    return RowChunk(rows, b"", len(rows), problems, owners)


def stage_columns(pg: bool) -> str:
    """The staging table's columns (SQL); on PostgreSQL the key columns compare bytes, as the
    register's do (a join between two collations is refused, and a locale's sort is slow)."""
    types = {"line": "INTEGER", "reported_on": "DATE" if pg else "TEXT"}
    if pg:
        types.update(kind='TEXT COLLATE "C"', identifier='TEXT COLLATE "C"')
    return ", ".join(f"{name} {types.get(name, 'TEXT')}" for name in STAGE_FIELDS)


def stage_file(path: Path, rows: list[StageRow]) -> None:
    """Append staged rows to the ``stage`` table of a scratch SQLite file (created if need be).

    A worker stages its own blocks so, on SQLite, the rows never travel back to the
    importing process: it attaches the files and sorts them into its staging table. One file
    per process, so no two writers meet; a scratch file needs no journal.
    """
    if not rows:
        return
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        con.execute(f"CREATE TABLE IF NOT EXISTS stage ({stage_columns(False)})")
        marks = ", ".join("?" for _ in STAGE_FIELDS)
        con.execute("BEGIN")
        con.executemany(f"INSERT INTO stage VALUES ({marks})", rows)
        con.execute("COMMIT")
    finally:
        con.close()


def _general_block(
    block: _Block,
    today: dt.date,
    has_owners: bool,
    rows: list[StageRow],
    problems: list[tuple[int, str]],
    owners: list[tuple[int, OwnerRow]],
) -> None:
    """Every record of a block through :func:`_validate`, into the lists given; _Fatal when
    reading cannot go on."""
    for line, raw in _block_rows(block):
        try:
            row = _validate(line, raw, today)
            owner = _owner(raw, row) if has_owners else None
        except _RowProblem as exc:
            problems.append((line, str(exc)))
            continue
        if owner is not None:
            owners.append((line, owner))
        rows.append(stage_row(row))


#: entry fields a plain row copies as they are (empty text is None)
_PASSED = (
    "category", "brand", "model", "crime_ref", "force", "owner_applied_number", "owner_ref",
    "kit_type",
)  # fmt: skip
#: the shortest limit of a field a plain block may hold (owner columns are never plain)
_PLAIN_LIMIT = min(FIELD_LIMITS.get(f, MAX_FIELD_LENGTH) for f in ENTRY_FIELDS)


def _plain_block(
    block: _Block, today: dt.date
) -> tuple[list[StageRow], list[tuple[int, str]]] | None:
    """A CSV block without quotes, odd spaces or control characters, validated in bulk.

    Most rows of a register are plain: an "add" or "update" of a serial or an IMEI in normal
    form, a known status, a past date, every field within its limit. Those are staged
    here with the same result :func:`_validate` gives them, at a fraction of its cost; any
    other row goes through :func:`_validate` itself, so problems read the same. None when
    the block needs the general reader.
    """
    data = block.data
    if block.fmt != "csv" or b'"' in data or b"\r" in data:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    # fields with spaces at either end, tabs or other control characters: the general path
    if (
        " ," in text
        or ", " in text
        or "\n " in text
        or " \n" in text
        or text[:1] == " "
        or text[-1:] == " "
        or not "".join(lines).isprintable()
    ):
        return None
    fields = block.fields
    width = block.width
    pos = {f: i for i, f in enumerate(fields) if f is not None}
    missing = width  # index of the empty value appended to every row
    p_ident = pos["identifier"]
    p_kind = pos.get("kind", missing)
    p_status = pos.get("status", missing)
    p_action = pos.get("action", missing)
    p_date = pos.get("reported_on", missing)
    p_range = pos.get("range_end", missing)
    passed = [pos.get(f, missing) for f in _PASSED]
    c, b, m, cr, fo, oan, orf, kt = passed
    statuses = frozenset(STATUSES)
    dates: dict[str, str | None] = {"": None}
    rows: list[StageRow] = []
    problems: list[tuple[int, str]] = []
    line = block.first_line - 1
    for text_line in lines:
        line += 1
        if not text_line.strip(","):
            continue  # a blank record, as the general reader skips it
        values = text_line.split(",")
        if len(values) == width and max(map(len, values)) <= _PLAIN_LIMIT:
            values.append("")
            ident = values[p_ident]
            kind = values[p_kind].lower()
            action = values[p_action].lower() or "add"
            status = values[p_status].lower()
            reported = values[p_date]
            iso = dates.get(reported, "")
            if iso == "":
                iso = dates[reported] = _plain_date(reported, today)
            if (
                (action == "add" or action == "update")
                and status in statuses
                and iso != ""
                and not values[p_range]
                and ident.isascii()
                and (
                    (kind == "serial" and ident.isalnum() and len(ident) >= 4)
                    or (kind == "imei" and len(ident) == 15 and ident.isdigit() and luhn_ok(ident))
                )
            ):
                rows.append(
                    (
                        line, action, kind, ident.upper(), status, values[c] or None,
                        values[b] or None, values[m] or None, values[cr] or None,
                        values[fo] or None, iso, values[oan] or None, None,
                        values[orf] or None, values[kt] or None,
                    )
                )  # fmt: skip
                continue
            values.pop()
        raw: dict[str, str]
        if len(values) != width:
            raw = {"__error__": f"{len(values)} fields, the header has {width}"}
        else:
            raw = {f: v for f, v in zip(fields, values, strict=True) if f is not None}
        try:
            rows.append(stage_row(_validate(line, raw, today)))
        except _RowProblem as exc:
            problems.append((line, str(exc)))
    return rows, problems


def _plain_date(text: str, today: dt.date) -> str | None:
    """A reported_on a plain row may hold, in ISO form; "" when the row is not plain."""
    if not text:
        return None
    try:
        day = _date(text)
    except ValueError:
        return ""
    return "" if day > today else day.isoformat()


def _block_rows(block: _Block) -> Iterator[tuple[int, dict[str, str]]]:
    """The records of a block as (line, {field: text}); _Fatal when reading cannot go on."""
    if block.fmt == "jsonl":
        yield from _jsonl_block(block)
        return
    try:
        text = block.data.decode("utf-8")
    except UnicodeDecodeError:
        raise _Fatal(*_not_utf8(block)) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    base = block.first_line - 1
    last = base
    fields = block.fields
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            at = base + reader.line_num
            raise _Fatal(f"line {at}: {exc}", at, str(exc)) from None
        line = last + 1
        last = base + reader.line_num
        if not values or all(not v.strip() for v in values):
            continue
        if len(values) != block.width:
            yield line, {"__error__": f"{len(values)} fields, the header has {block.width}"}
            continue
        yield line, {f: v for f, v in zip(fields, values, strict=True) if f is not None}


def _not_utf8(block: _Block) -> tuple[str, int, str]:
    """Where a block stops being UTF-8, as a fatal problem."""
    try:
        block.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = block.first_line + block.data.count(b"\n", 0, exc.start)
        return f"not UTF-8 text after line {bad - 1}", bad, "not UTF-8"
    return "not UTF-8 text", block.first_line, "not UTF-8"


def _jsonl_block(block: _Block) -> Iterator[tuple[int, dict[str, str]]]:
    columns = dict(block.columns)
    for line_no, data in enumerate(block.data.split(b"\n"), start=block.first_line):
        if not data.strip():
            continue
        try:
            obj = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            yield line_no, {"__error__": f"not valid JSON ({exc})"}
            continue
        if not isinstance(obj, dict):
            yield line_no, {"__error__": "not a JSON object"}
            continue
        row: dict[str, str] = {}
        for key, value in obj.items():
            target = columns.get(_key(str(key)), _key(str(key)))
            if target in ENTRY_FIELDS or target in OWNER_FIELDS:
                row[target] = "" if value is None else str(value)
        yield line_no, row


def _xlsx_chunks(
    reader: RegisterReader, as_copy: bool, entries: EntryCopy | None
) -> Iterator[RowChunk]:
    """A workbook is read by openpyxl in this process and validated in chunks as it goes."""
    rows: list[StageRow] = []
    problems: list[tuple[int, str]] = []
    owners: list[tuple[int, OwnerRow]] = []

    def chunk() -> RowChunk:
        if entries is not None:
            return _entry_chunk(rows, problems, owners, entries)
        if as_copy:
            return RowChunk([], copy_text(rows), len(rows), problems, owners)
        return RowChunk(rows, b"", len(rows), problems, owners)

    for line, raw in _xlsx_rows(reader.path, reader.columns, reader.progress):
        try:
            row = _validate(line, raw)
            owner = _owner(raw, row)
        except _RowProblem as exc:
            problems.append((line, str(exc)))
            continue
        if owner is not None:
            owners.append((line, owner))
        rows.append(stage_row(row))
        if len(rows) >= 20_000:
            yield chunk()
            rows, problems, owners = [], [], []
    yield chunk()


def stage_row(row: RegisterRow) -> StageRow:
    """A validated row as the staging table holds it."""
    status = row.status if row.action == "withdraw" else (row.status or "stolen")
    reported = row.reported_on.isoformat() if row.reported_on is not None else None
    return (
        row.line, row.action, row.kind, row.identifier, status, row.category, row.brand,
        row.model, row.crime_ref, row.force, reported, row.owner_applied_number,
        row.range_end, row.owner_ref, row.kit_type,
    )  # fmt: skip


def entry_copy_text(rows: list[StageRow], entries: EntryCopy) -> bytes:
    """Staged rows as the register's COPY text (:data:`ENTRY_COPY_COLUMNS`), withdrawals left
    out, in key order: the rows of a block then go into the key index as one ascending run
    rather than at random places."""
    tail = (entries.source, "f", entries.version, entries.updated_at)
    kept = [row[2:] + tail for row in rows if row[1] != "withdraw"]
    kept.sort(key=itemgetter(0, 1))
    return copy_text(kept)


def _entry_chunk(
    rows: list[StageRow],
    problems: list[tuple[int, str]],
    owners: list[tuple[int, OwnerRow]],
    entries: EntryCopy,
) -> RowChunk:
    withdrawals = sum(1 for row in rows if row[1] == "withdraw")
    text = entry_copy_text(rows, entries)
    return RowChunk([], text, len(rows), problems, owners, withdrawals=withdrawals)


# -- row sources: each yields (line number, {field: text}) -----------------------------------


def _key(name: str) -> str:
    """Column names compared case- and separator-insensitively: "Crime No" is crime_no."""
    return "_".join(name.strip().lower().replace("-", " ").split())


def _header(names: list[str], columns: Mapping[str, str], where: str) -> list[str | None]:
    """Map file columns onto fields; RegisterImportError when required ones are missing."""
    fields: list[str | None] = []
    for name in names:
        key = _key(name or "")
        target = columns.get(key, key)
        fields.append(target if target in ENTRY_FIELDS or target in OWNER_FIELDS else None)
    missing = [c for c in ("identifier",) if c not in fields]
    if missing:
        raise RegisterImportError(
            f"{where}: no {', '.join(missing)} column (header: {', '.join(names)})",
            [(1, f"missing column {c}") for c in missing],
        )
    dup = {f for f in fields if f is not None and fields.count(f) > 1}
    if dup:
        raise RegisterImportError(
            f"{where}: several columns map to {', '.join(sorted(dup))}",
            [(1, f"duplicate column for {d}") for d in sorted(dup)],
        )
    return fields


def _xlsx_rows(
    path: Path, columns: Mapping[str, str], progress: ProgressFn | None
) -> Iterator[tuple[int, dict[str, str]]]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged workbook
        raise RegisterImportError(f"{path.name}: not a readable XLSX workbook ({exc})") from exc
    try:
        ws = wb.worksheets[0]
        total = ws.max_row or 0
        it = ws.iter_rows(values_only=True)
        try:
            header = [_cell(v) for v in next(it)]
        except StopIteration:
            raise RegisterImportError(f"{path.name}: the sheet is empty", [(1, "empty")]) from None
        fields = _header(header, columns, path.name)
        for line_no, values in enumerate(it, start=2):
            if progress is not None and line_no % _PROGRESS_EVERY == 0:
                progress(line_no, total)
            cells = [_cell(v) for v in values]
            if all(not c for c in cells):
                continue
            yield line_no, {f: c for f, c in zip(fields, cells, strict=False) if f is not None}
        if progress is not None:
            progress(total, total)
    finally:
        wb.close()


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# -- validation ------------------------------------------------------------------------------


def _fields(raw: Mapping[str, str]) -> dict[str, str]:
    """The row's non-empty fields, whitespace runs collapsed; _RowProblem for unusable text."""
    out: dict[str, str] = {}
    for name, value in raw.items():
        if not value:
            continue
        # printable text has no whitespace but the space, so this is value != value.strip()
        if not value.isprintable() or value[0] == " " or value[-1] == " ":
            value = " ".join(value.split())  # line breaks and tabs inside a field become spaces
            if not value.isprintable():
                raise _RowProblem(f"{name} contains a non-printable character")
            if not value:
                continue
        limit = FIELD_LIMITS.get(name, MAX_FIELD_LENGTH)
        if len(value) > limit:
            raise _RowProblem(f"{name} is longer than {limit} characters")
        out[name] = value
    return out


@lru_cache(maxsize=4096)
def _date(text: str) -> dt.date:
    """ISO date (registers repeat a few dates endlessly, hence the cache); ValueError if not."""
    return dt.date.fromisoformat(text[:10])


def _validate(line: int, raw: Mapping[str, str], today: dt.date | None = None) -> RegisterRow:
    if "__error__" in raw:
        raise _RowProblem(raw["__error__"])
    f = _fields(raw)
    action = (f.get("action") or "add").lower()
    if action not in ACTIONS:
        raise _RowProblem(f"action {action!r} is not one of {', '.join(ACTIONS)}")
    ident = f.get("identifier")
    if ident is None:
        raise _RowProblem("identifier is empty")
    kind_text = (f.get("kind") or "").lower() or None
    if kind_text is not None and kind_text not in KINDS:
        raise _RowProblem(f"kind {kind_text!r} is not one of {', '.join(KINDS)}")
    try:
        if kind_text == "serial" and ident.isascii() and ident.isalnum() and len(ident) <= 64:
            cls = Classified("serial", ident.upper(), len(ident) >= 4)  # classify's result, fast
        elif kind_text == "imei" and len(ident) == 15 and ident.isascii() and ident.isdigit():
            cls = Classified("imei", ident, luhn_ok(ident))  # the same, for a plain IMEI
        else:
            cls = classify(ident, kind_text)  # type: ignore[arg-type]
    except InputError as exc:
        raise _RowProblem(f"identifier {ident[:40]!r}: {exc}") from None
    kind = kind_text or cls.kind
    if kind_text is not None and cls.kind != kind_text:
        raise _RowProblem(f"identifier {ident!r} is not a valid {kind_text}")
    if kind == "imei" and not cls.valid:
        raise _RowProblem(f"IMEI {cls.value} fails its Luhn check digit")
    if kind == "mark_code" and not cls.valid:
        raise _RowProblem(f"mark code {cls.value} has a wrong check character")
    if kind == "serial" and not cls.valid:
        raise _RowProblem(f"serial {ident!r} is not at least 4 letters and digits")
    value = normal_value(kind, cls.value)
    status = (f.get("status") or "").lower() or None
    if action != "withdraw":
        if status is None:
            raise _RowProblem("status is empty")
        if status not in STATUSES:
            raise _RowProblem(f"status {status!r} is not one of {', '.join(STATUSES)}")
    elif status is not None and status not in STATUSES:
        raise _RowProblem(f"status {status!r} is not one of {', '.join(STATUSES)}")
    reported = f.get("reported_on")
    reported_on = None
    if reported is not None:
        try:
            reported_on = _date(reported)
        except ValueError:
            raise _RowProblem(f"reported_on {reported!r} is not a date (YYYY-MM-DD)") from None
        if reported_on > (today or dt.date.today()):
            raise _RowProblem(f"reported_on {reported} is in the future")
    range_end = f.get("range_end")
    if range_end is not None:
        if kind not in ("serial", "barcode"):
            raise _RowProblem(f"a range is only allowed for serials, not {kind}")
        range_end = normal_value(kind, range_end)
        try:
            parse_range(value, range_end)
        except InputError as exc:
            raise _RowProblem(str(exc)) from None
    return RegisterRow(
        line=line,
        action=action,  # type: ignore[arg-type]
        identifier=value,
        kind=kind,
        status=status,
        category=f.get("category"),
        brand=f.get("brand"),
        model=f.get("model"),
        crime_ref=f.get("crime_ref"),
        force=f.get("force"),
        reported_on=reported_on,
        owner_applied_number=f.get("owner_applied_number"),
        range_end=range_end,
        owner_ref=f.get("owner_ref"),
        kit_type=f.get("kit_type"),
        valid=cls.valid,
    )


def _owner(raw: Mapping[str, str], row: RegisterRow) -> OwnerRow | None:
    if not any(raw.get(name) for name in OWNER_FIELDS):
        return None
    f = _fields(raw)
    values = {name: f.get(name) for name in OWNER_FIELDS}
    if not any(values.values()):
        return None
    if row.owner_ref is None:
        raise _RowProblem("owner details given without an owner_ref to keep them under")
    return OwnerRow(
        owner_ref=row.owner_ref,
        name=values["owner_name"],
        address=values["owner_address"],
        postcode=values["owner_postcode"],
        phone=values["owner_phone"],
        email=values["owner_email"],
    )
