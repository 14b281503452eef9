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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO, Literal

from station.errors import InputError, RegisterImportError
from station.identifiers import Classified, classify
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
    in rows for XLSX.
    """
    p = Path(path)
    if not p.is_file():
        raise RegisterImportError(f"register file {p} does not exist")
    suffix = p.suffix.lower()
    columns = {**DEFAULT_ALIASES, **{_key(k): v for k, v in (mapping or {}).items()}}
    for target in columns.values():
        if target not in ENTRY_FIELDS and target not in OWNER_FIELDS:
            raise RegisterImportError(f"column mapping names unknown field {target!r}")
    if suffix in (".csv", ".txt"):
        fmt, rows = "csv", _csv_rows(p, columns, progress)
    elif suffix in (".jsonl", ".ndjson"):
        fmt, rows = "jsonl", _jsonl_rows(p, columns, progress)
    elif suffix == ".xlsx":
        fmt, rows = "xlsx", _xlsx_rows(p, columns, progress)
    else:
        raise RegisterImportError(
            f"{p.name}: unsupported register format {suffix or '(none)'}; use .csv, .jsonl or .xlsx"
        )
    parsed = ParsedRegister(p, source or p.stem, fmt)
    problems: list[tuple[int, str]] = []
    seen: dict[tuple[str, str], int] = {}
    owners: dict[str, OwnerRow] = {}
    for line, raw in rows:
        try:
            row = _validate(line, raw)
            key = (row.kind, row.identifier)
            if key in seen:
                raise _RowProblem(f"{row.identifier} appears again (first on line {seen[key]})")
            seen[key] = line
            owner = _owner(raw, row)
            if owner is not None:
                if owners.get(owner.owner_ref, owner) != owner:
                    raise _RowProblem(f"owner {owner.owner_ref} is given different details")
                owners[owner.owner_ref] = owner
            parsed.rows.append(row)
        except _RowProblem as exc:
            problems.append((line, str(exc)))
            if len(problems) >= max_problems:
                break
    if problems:
        shown = "; ".join(f"line {ln}: {why}" for ln, why in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise RegisterImportError(
            f"{p.name}: {len(problems)} bad row(s), nothing imported: {shown}{more}", problems
        )
    parsed.owners = list(owners.values())
    return parsed


# -- row sources: each yields (line number, {field: text}) -----------------------------------


class _CountingReader(io.RawIOBase):
    """Counts the bytes read so progress can be told in bytes of the file."""

    def __init__(self, inner: BinaryIO) -> None:
        self.inner = inner
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.inner.read(len(buffer))
        buffer[: len(data)] = data
        self.count += len(data)
        return len(data)


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


def _csv_rows(
    path: Path, columns: Mapping[str, str], progress: ProgressFn | None
) -> Iterator[tuple[int, dict[str, str]]]:
    total = path.stat().st_size
    with path.open("rb") as fh:
        counter = _CountingReader(fh)
        text = io.TextIOWrapper(io.BufferedReader(counter), encoding="utf-8-sig", newline="")
        reader = csv.reader(text)
        try:
            header = next(reader)
        except StopIteration:
            raise RegisterImportError(f"{path.name}: the file is empty", [(1, "empty")]) from None
        except UnicodeDecodeError as exc:
            raise RegisterImportError(f"{path.name}: not UTF-8 text ({exc.reason})") from exc
        fields = _header(header, columns, path.name)
        last = reader.line_num
        n = 0
        while True:
            try:
                values = next(reader)
            except StopIteration:
                break
            except UnicodeDecodeError as exc:
                raise RegisterImportError(
                    f"{path.name}: not UTF-8 text after line {last}", [(last + 1, "not UTF-8")]
                ) from exc
            except csv.Error as exc:
                raise RegisterImportError(
                    f"{path.name}: line {reader.line_num}: {exc}", [(reader.line_num, str(exc))]
                ) from exc
            line = last + 1
            last = reader.line_num
            if not values or all(not v.strip() for v in values):
                continue
            if len(values) != len(header):
                yield line, {"__error__": f"{len(values)} fields, the header has {len(header)}"}
                continue
            yield line, {f: v for f, v in zip(fields, values, strict=True) if f is not None}
            n += 1
            if progress is not None and n % _PROGRESS_EVERY == 0:
                progress(counter.count, total)
        if progress is not None:
            progress(total, total)


def _jsonl_rows(
    path: Path, columns: Mapping[str, str], progress: ProgressFn | None
) -> Iterator[tuple[int, dict[str, str]]]:
    total = path.stat().st_size
    done = 0
    with path.open("rb") as fh:
        for line_no, data in enumerate(fh, start=1):
            done += len(data)
            if progress is not None and line_no % _PROGRESS_EVERY == 0:
                progress(done, total)
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
    if progress is not None:
        progress(total, total)


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
        if not value.isprintable() or value != value.strip():
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


def _validate(line: int, raw: Mapping[str, str]) -> RegisterRow:
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
        if reported_on > dt.date.today():
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
