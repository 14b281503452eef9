"""Bulk checks: a spreadsheet of serials against the register, with a report of every hit.

Property stores process recoveries by the hundred: every row is checked in vectorised
batches, unusable rows are listed with their line and reason (never silently dropped),
and the CSV/HTML reports carry every candidate with the edits assumed, so owners can be
told and doubtful matches inspected.
"""

from __future__ import annotations

import csv
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from station.domain import MatchResult
from station.errors import InputError
from station.matcher.index import RegisterIndex
from station.matcher.normalise import normalise
from station.register.importer import DEFAULT_ALIASES

ProgressFn = Callable[[int, int], None]

#: header names taken to hold the identifiers (first column when none matches)
IDENTIFIER_HEADERS = {"identifier", *(k for k, v in DEFAULT_ALIASES.items() if v == "identifier")}
BATCH = 5000
MAX_ROWS = 2_000_000


@dataclass(frozen=True, slots=True)
class BulkRow:
    """One checked row of the input."""

    line: int
    query: str
    #: the row's other columns (item description, property reference...), for the report
    context: dict[str, str]
    result: MatchResult


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A row that could not be checked, and why."""

    line: int
    query: str
    reason: str


@dataclass
class BulkReport:
    """Everything a bulk check found."""

    source: str
    register_version: int
    started: dt.datetime
    seconds: float = 0.0
    rows: list[BulkRow] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)

    @property
    def hits(self) -> list[BulkRow]:
        """Rows with a match or possible match."""
        return [r for r in self.rows if r.result.verdict != "no_match"]

    def summary(self) -> dict[str, int]:
        counts = {"rows": len(self.rows) + len(self.rejected), "checked": len(self.rows)}
        for verdict in ("match", "possible_match", "no_match"):
            counts[verdict] = sum(1 for r in self.rows if r.result.verdict == verdict)
        counts["rejected"] = len(self.rejected)
        return counts


def read_identifiers(path: Path) -> list[tuple[int, str, dict[str, str]]]:
    """(line, identifier, other columns) of each non-empty row of a CSV/TXT/XLSX file."""
    if not path.is_file():
        raise InputError(f"bulk input {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        table = _xlsx_table(path)
    elif suffix in (".csv", ".txt"):
        table = _csv_table(path)
    else:
        raise InputError(
            f"{path.name}: unsupported bulk input {suffix or '(none)'}; use .csv or .xlsx"
        )
    if not table:
        raise InputError(f"{path.name}: no rows to check")
    header_line, header = table[0]
    keys = ["_".join(h.strip().lower().split()) for h in header]
    column = next((i for i, k in enumerate(keys) if k in IDENTIFIER_HEADERS), None)
    body = table[1:]
    if column is None:  # no recognised header: a bare list of identifiers, first column
        column, keys, body = 0, [f"column_{i + 1}" for i in range(len(header))], table
    out = []
    for line, cells in body:
        if column >= len(cells) or not cells[column].strip():
            continue
        context = {
            keys[i]: c for i, c in enumerate(cells) if i != column and i < len(keys) and c.strip()
        }
        out.append((line, cells[column], context))
        if len(out) > MAX_ROWS:
            raise InputError(f"{path.name}: more than {MAX_ROWS} rows; split the file")
    del header_line
    return out


def _csv_table(path: Path) -> list[tuple[int, list[str]]]:
    rows: list[tuple[int, list[str]]] = []
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            last = 0
            for cells in reader:
                rows.append((last + 1, cells))
                last = reader.line_num
    except UnicodeDecodeError as exc:
        raise InputError(f"{path.name}: not UTF-8 text ({exc.reason})") from exc
    except csv.Error as exc:
        raise InputError(f"{path.name}: malformed CSV ({exc})") from exc
    return [(ln, c) for ln, c in rows if any(x.strip() for x in c)]


def _xlsx_table(path: Path) -> list[tuple[int, list[str]]]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged workbook
        raise InputError(f"{path.name}: not a readable XLSX workbook ({exc})") from exc
    try:
        rows = []
        for line, values in enumerate(wb.worksheets[0].iter_rows(values_only=True), start=1):
            cells = ["" if v is None else _cell(v) for v in values]
            if any(c.strip() for c in cells):
                rows.append((line, cells))
        return rows
    finally:
        wb.close()


def _cell(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def check_file(
    path: str | Path, index: RegisterIndex, progress: ProgressFn | None = None
) -> BulkReport:
    """Check every identifier in a CSV/XLSX file; ``progress(done, total)`` in rows."""
    p = Path(path)
    started = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    rows = read_identifiers(p)
    report = BulkReport(str(p), index.version, started)
    usable: list[tuple[int, str, dict[str, str]]] = []
    for line, raw, context in rows:
        try:
            normalise(raw)
        except InputError as exc:
            report.rejected.append(RejectedRow(line, raw, str(exc)))
            continue
        usable.append((line, raw, context))
    total = len(rows)
    done = len(report.rejected)
    if progress is not None:
        progress(done, total)
    for start in range(0, len(usable), BATCH):
        batch = usable[start : start + BATCH]
        results = index.lookup_many([raw for _l, raw, _c in batch])
        report.rows.extend(
            BulkRow(line, raw, context, result)
            for (line, raw, context), result in zip(batch, results, strict=True)
        )
        done += len(batch)
        if progress is not None:
            progress(done, total)
    report.seconds = time.perf_counter() - t0
    return report


CSV_COLUMNS = [
    "line",
    "query",
    "normalised",
    "verdict",
    "entry_id",
    "identifier",
    "kind",
    "status",
    "distance",
    "score",
    "edits",
    "crime_ref",
    "source",
    "item",
]


def write_csv(report: BulkReport, path: str | Path) -> None:
    """One line per candidate of every hit, then one per rejected row."""
    with Path(path).open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_COLUMNS)
        for row in report.hits:
            item = "; ".join(f"{k}={v}" for k, v in row.context.items())
            for c in row.result.candidates:
                w.writerow(
                    [
                        row.line,
                        row.query,
                        row.result.normalised,
                        row.result.verdict,
                        c.entry_id,
                        c.identifier,
                        c.kind,
                        c.status,
                        c.distance,
                        f"{c.score:.3f}",
                        "; ".join(c.edits),
                        c.crime_ref or "",
                        c.source or "",
                        item,
                    ]
                )
        for rej in report.rejected:
            w.writerow([rej.line, rej.query, "", "rejected", "", "", "", "", "", "", rej.reason])


def write_html(report: BulkReport, path: str | Path) -> None:
    """A self-contained HTML page: summary, every hit with its edits, rejected rows."""
    env = Environment(
        loader=PackageLoader("station.matcher", "templates"),
        autoescape=select_autoescape(["html"]),
    )
    html = env.get_template("bulk_report.html").render(
        report=report, summary=report.summary(), hits=report.hits
    )
    Path(path).write_text(html, encoding="utf-8")
