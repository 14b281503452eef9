"""Bulk checks for the property store: a list of serials or a folder/zip of photographs.

The upload is validated completely before anything is stored, then kept content-addressed
on disk and processed in committed chunks, so a crash resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import io
import json
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, Table, Text, and_, func, or_, select, text, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from station.batches.uploads import extract_images, read_serial_rows
from station.checks.service import Matcher, overall_verdict
from station.db.bulk import insert_rows
from station.db.engine import Database
from station.db.service_models import Batch, BatchHit, BatchItem
from station.domain import MatchResult
from station.errors import InputError, NotFound
from station.gcpause import collector_paused
from station.records import audit
from station.settings import StationSettings

CHUNK = 500
#: the items table, written in bulk (no ORM object per row)
_ITEMS = cast(Table, BatchItem.__table__)
_ITEM_COLUMNS = ("batch_id", "seq", "line", "label", "verdict", "result", "sheet", "hit_rows")
_HITS = cast(Table, BatchHit.__table__)
_HIT_COLUMNS = (
    "batch_id", "seq", "match_no", "rank", "query", "verdict", "entry_id", "identifier",
    "kind", "status", "crime_ref", "source", "distance", "edits", "score",
)  # fmt: skip
#: rows of a list of serials checked and committed together (a resume restarts a chunk)
SERIAL_CHUNK = 5000
#: what a clean no-match stores as its result: nothing beyond its compact row
NO_RESULT = "{}"

#: one candidate of an item as the report lists it: (match_no, rank, query, verdict,
#: entry_id, identifier, kind, status, crime_ref, source, distance, edits, score)
HitRow = tuple[int, int, str, str, int, str, str, str, str | None, str | None, int, str, float]
#: one item as written: (seq, line, label, verdict, result as JSON text, the spreadsheet's
#: other columns as JSON text or None, its candidates if it hit)
ItemRow = tuple[int, int, str, str, str, str | None, list[HitRow]]


Progress = Callable[[int, int, int], None]


class BatchService:
    """Creates, runs and reports batches."""

    def __init__(
        self,
        db: Database,
        matcher: Matcher,
        settings: StationSettings,
        serial_chunk: int = SERIAL_CHUNK,
    ) -> None:
        self.db = db
        self.matcher = matcher
        self.settings = settings
        self.root = settings.data_dir / "uploads"
        #: rows of a list of serials checked and committed together
        self.serial_chunk = serial_chunk

    def create(
        self,
        upload: Path,
        filename: str,
        officer: str,
        purpose: str = "property_office",
    ) -> str:
        """Validate an uploaded file and queue it; raises (storing nothing) when it is bad."""
        batch_id = str(uuid.uuid4())
        digest = _sha256(upload)
        lower = filename.lower()
        work = self.root / batch_id
        try:
            if lower.endswith(".zip"):
                kind = "captures"
                limit = self.settings.api.max_upload_mb * 1024 * 1024 * 4
                images = extract_images(upload, work, limit, self.settings.vision.max_image_pixels)
                inputs: list[Any] = [
                    [n + 1, p.name.split("_", 1)[1], str(p)] for n, p in enumerate(images)
                ]
            else:
                kind = "serials"
                with collector_paused():
                    rows = read_serial_rows(upload, filename)
                    inputs = [[r.line, r.raw, r.raw, r.columns] for r in rows]
            with self.db.writer() as s:
                s.add(
                    Batch(
                        id=batch_id,
                        kind=kind,
                        filename=Path(filename).name[:300],
                        sha256=digest,
                        size_bytes=upload.stat().st_size,
                        total=len(inputs),
                        officer=officer,
                        purpose=purpose,
                        station_id=self.settings.station_id,
                        register_version=self.matcher.version,
                        inputs=inputs,
                    )
                )
                audit.append(
                    s,
                    officer,
                    "collection",
                    "batch",
                    batch_id,
                    {"file": filename, "sha256": digest, "items": len(inputs), "kind": kind},
                )
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        return batch_id

    def create_from_folder(
        self, folder: Path, officer: str, purpose: str = "property_office"
    ) -> str:
        """Queue every image in ``folder`` (and below), read in place, in name order."""
        from station.vision.io import IMAGE_SUFFIXES

        if not folder.is_dir():
            raise InputError(f"{folder} is not a folder")
        images = sorted(
            p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not images:
            raise InputError(f"{folder}: no image files (png, jpg, bmp, tif, webp)")
        inputs: list[Any] = [
            [n + 1, str(p.relative_to(folder)), str(p.resolve())] for n, p in enumerate(images)
        ]
        digest = hashlib.sha256("\n".join(str(i[1]) for i in inputs).encode()).hexdigest()
        batch_id = str(uuid.uuid4())
        with self.db.writer() as s:
            s.add(
                Batch(
                    id=batch_id,
                    kind="captures",
                    filename=str(folder)[:300],
                    sha256=digest,
                    size_bytes=sum(p.stat().st_size for p in images),
                    total=len(inputs),
                    officer=officer,
                    purpose=purpose,
                    station_id=self.settings.station_id,
                    register_version=self.matcher.version,
                    inputs=inputs,
                )
            )
            audit.append(
                s,
                officer,
                "collection",
                "batch",
                batch_id,
                {"folder": str(folder), "items": len(inputs), "kind": "captures"},
            )
        return batch_id

    def run(self, batch_id: str, progress: Progress | None = None) -> dict[str, Any]:
        """Process (or resume) a batch chunk by chunk; each chunk commits on its own."""
        with self.db.writer() as s, collector_paused():  # the inputs: a large JSON document
            batch = s.get(Batch, batch_id)
            if batch is None:
                raise NotFound(f"no batch with id {batch_id}")
            batch.state = "running"
            inputs, kind, start, hits = list(batch.inputs), batch.kind, batch.done, batch.hits
        try:
            step = self.serial_chunk if kind == "serials" else CHUNK
            for lo in range(start, len(inputs), step):
                chunk = inputs[lo : lo + step]
                # a chunk of serials builds and writes tens of thousands of small objects:
                # the collector's full passes over the whole heap would cost more than the check
                with collector_paused() if kind == "serials" else contextlib.nullcontext():
                    if kind == "serials":
                        rows = self._serial_items(lo, chunk)
                    else:
                        rows = [self._process(kind, lo + i, e) for i, e in enumerate(chunk)]
                    hits += sum(1 for r in rows if r[3] != "no_match")
                    # the chunk's rows and the batch's progress commit together: a crash
                    # before the commit leaves neither, and the resume starts this chunk again
                    with self.db.writer() as s:
                        _write_items(s, batch_id, rows)
                        s.execute(
                            update(Batch)
                            .where(Batch.id == batch_id)
                            .values(done=lo + len(chunk), hits=hits)
                        )
                if progress:
                    progress(lo + len(chunk), len(inputs), hits)
        except Exception as exc:
            with self.db.writer() as s:
                batch = s.get(Batch, batch_id)
                assert batch is not None
                batch.state = "failed"
                batch.error = f"{type(exc).__name__}: {exc}"
                batch.finished_at = dt.datetime.now(dt.UTC)
                audit.append(
                    s,
                    batch.officer,
                    "collection",
                    "batch",
                    batch_id,
                    {"state": "failed", "error": batch.error},
                )
            raise
        with self.db.writer() as s:
            batch = s.get(Batch, batch_id)
            assert batch is not None
            batch.state = "complete"
            batch.finished_at = dt.datetime.now(dt.UTC)
            audit.append(
                s,
                batch.officer,
                "collection",
                "batch",
                batch_id,
                {"state": "complete", "items": batch.total, "hits": batch.hits},
            )
            doc = batch_doc(batch)
        # the extracted photographs served their purpose; the results are in the database
        shutil.rmtree(self.root / batch_id, ignore_errors=True)
        return doc

    def _serial_items(self, lo: int, chunk: list[Any]) -> list[ItemRow]:
        """One bulk look-up per chunk: the bare search over every row, an explained result
        only for the rows something was found for, a compact row for each of the rest."""
        found = self._explain([str(entry[2]) for entry in chunk])
        rows: list[ItemRow] = [
            (lo + i, int(entry[0]), str(entry[1])[:300], "no_match", NO_RESULT, None, [])
            for i, entry in enumerate(chunk)
        ]
        for i, result in found.items():
            entry = chunk[i]
            columns = entry[3] if len(entry) > 3 else {}
            rows[i] = (
                lo + i,
                int(entry[0]),
                str(entry[1])[:300],
                result.verdict,
                _stored_json(result),
                _sheet_json(columns) if result.verdict != "no_match" else None,
                _hit_rows([result]) if result.verdict != "no_match" else [],
            )
        return rows

    def _explain(self, values: list[str]) -> dict[int, MatchResult]:
        """Results of the values with a candidate, by position (a clean no-match is absent)."""
        explain = getattr(self.matcher, "explain_hits", None)
        if explain is not None:
            return explain(values)  # type: ignore[no-any-return]
        results = [self.matcher.lookup(v) for v in values]
        return {i: r for i, r in enumerate(results) if r.candidates or r.verdict != "no_match"}

    # -- bulk look-ups of a list that arrives as a stream (`station check -`) ----------------

    def start_list(self, officer: str, purpose: str, source: str = "<stdin>") -> str:
        """Open the one record of a bulk look-up; items are added chunk by chunk as they come."""
        batch_id = str(uuid.uuid4())
        with self.db.writer() as s:
            s.add(
                Batch(
                    id=batch_id,
                    kind="list",
                    filename=source[:300],
                    sha256="",
                    size_bytes=0,
                    total=0,
                    state="running",
                    officer=officer,
                    purpose=purpose,
                    station_id=self.settings.station_id,
                    register_version=self.matcher.version,
                    inputs=[],
                )
            )
            audit.append(
                s,
                officer,
                "collection",
                "batch",
                batch_id,
                {"kind": "list", "source": source, "purpose": purpose},
            )
        return batch_id

    def check_list_chunk(
        self, batch_id: str, seq: int, lines: list[tuple[int, str]]
    ) -> list[dict[str, Any]]:
        """Check and store one chunk of (line number, identifier); returns one answer per line.

        An answer is a match document, or ``{"line", "query", "error"}`` for an identifier
        that cannot be checked (stored as an unreadable item; the other lines go on).
        """
        from station.identifiers import validate_entry

        answers: list[dict[str, Any] | None] = [None] * len(lines)
        good: list[int] = []
        values: list[str] = []
        for i, (line, raw) in enumerate(lines):
            try:
                values.append(validate_entry(raw).value)
                good.append(i)
            except InputError as exc:
                answers[i] = {"line": line, "query": raw, "error": str(exc)}
        many = getattr(self.matcher, "lookup_many", None)
        results = many(values) if many else [self.matcher.lookup(v) for v in values]
        checked: dict[int, MatchResult] = {}
        items: list[ItemRow] = []
        hits = 0
        for i, result in zip(good, results, strict=True):
            answers[i] = {"line": lines[i][0], **result.model_dump(mode="json")}
            checked[i] = result
        for i, ((line, raw), answer) in enumerate(zip(lines, answers, strict=True)):
            assert answer is not None
            error = answer.get("error")
            verdict = "no_match" if error else str(answer["verdict"])
            hits += verdict != "no_match"
            stored: dict[str, Any] = {"error": error} if error else {}
            found: list[HitRow] = []
            if verdict != "no_match":
                stored = {"matches": [answer]}
                found = _hit_rows([checked[i]])
            items.append((seq + i, line, raw[:300], verdict, _json(stored), None, found))
        with self.db.writer() as s:
            _write_items(s, batch_id, items)
            s.execute(
                update(Batch)
                .where(Batch.id == batch_id)
                .values(
                    done=Batch.done + len(items),
                    total=Batch.total + len(items),
                    hits=Batch.hits + hits,
                )
            )
        return [a for a in answers if a is not None]

    def finish_list(
        self, batch_id: str, sha256: str, size: int, rejected: int, error: str | None = None
    ) -> dict[str, Any]:
        """Close a bulk look-up: complete, or failed with why (what was checked stays)."""
        with self.db.writer() as s:
            batch = s.get(Batch, batch_id)
            if batch is None:
                raise NotFound(f"no batch with id {batch_id}")
            batch.sha256 = sha256
            batch.size_bytes = size
            batch.state = "failed" if error else "complete"
            batch.error = error
            batch.finished_at = dt.datetime.now(dt.UTC)
            detail: dict[str, Any] = {
                "state": batch.state,
                "items": batch.total,
                "hits": batch.hits,
                "rejected": rejected,
            }
            if error:
                detail["error"] = error
            audit.append(s, batch.officer, "collection", "batch", batch_id, detail)
            return batch_doc(batch)

    def _process(self, kind: str, seq: int, entry: list[Any]) -> ItemRow:
        line, label, payload = int(entry[0]), str(entry[1]), str(entry[2])
        if kind == "serials":
            results = [self.matcher.lookup(payload)]
            extra: dict[str, Any] = {}
        else:
            results, extra = self._read_image(Path(payload), label)
        verdict = overall_verdict(results) if results else "no_match"
        result = {"matches": [r.model_dump(mode="json") for r in results], **extra}
        found = _hit_rows(results) if verdict != "no_match" else []
        return (seq, line, label[:300], verdict, _json(result), None, found)

    def _read_image(self, path: Path, label: str) -> tuple[list[MatchResult], dict[str, Any]]:
        try:
            from station.vision.io import read_files

            read = read_files([path], uv=None, dark=None, settings=self.settings.vision)[0]
        except InputError as exc:
            # the report names the member as uploaded, never the server's own path
            return [], {"error": str(exc).replace(str(path), label)}
        except Exception as exc:  # one unreadable photograph must not stop the other 500
            return [], {"error": f"could not read {label}: {type(exc).__name__}"}
        seen: set[str] = set()
        results = []
        for ident in read.identifiers:
            if ident.value not in seen:
                seen.add(ident.value)
                results.append(self.matcher.lookup(ident.value, ident.kind))
        doc = read.model_dump(mode="json", by_alias=True)
        return results, {"identifiers": doc["identifiers"], "marks": doc["marks"]}

    def resume_unfinished(self) -> list[str]:
        """Batches a crash left queued or running, to be run again from their last chunk."""
        with self.db.session() as s:
            return list(
                s.execute(select(Batch.id).where(Batch.state.in_(("queued", "running")))).scalars()
            )

    def get(self, batch_id: str) -> dict[str, Any]:
        with self.db.session() as s:
            batch = s.get(Batch, batch_id)
            if batch is None:
                raise NotFound(f"no batch with id {batch_id}")
            return batch_doc(batch)

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        with self.db.session() as s:
            rows = s.execute(select(Batch).order_by(Batch.created_at.desc()).limit(limit))
            return [batch_doc(b) for b in rows.scalars()]

    def report(self, batch_id: str) -> BatchReport:
        """The batch, every hit with its spreadsheet columns, every unreadable item, and the
        clean no-matches as runs of lines: every item checked is accounted for.

        The hits come from their own rows (``batch_hits``), as plain tuples, with the
        spreadsheet columns of all hits parsed in one go: no stored result is parsed, but
        for items that could not be checked and items stored before hits had rows. The
        compact no-match rows are counted into runs of consecutive items in the database, so
        a 100,000-row batch never builds an object per row.
        """
        batch = self.get(batch_id)
        unreadable: list[dict[str, Any]] = []
        # (first seq, last seq, first line, last line, items) of each run of no-matches
        runs: list[tuple[int, int, int, int, int]] = []
        counts = {"match": 0, "possible_match": 0, "no_match": 0, "unreadable": 0}
        compact = func.length(sql_cast(BatchItem.result, Text)) <= 2
        with self.db.session() as s:
            # the hits, and the items they belong to, as plain tuples from the driver (no
            # row objects, no join: two range reads in position order)
            conn = s.connection()
            listed = _plain_rows(
                conn,
                "SELECT seq, query, verdict, identifier, kind, status, crime_ref, source, "
                "distance, edits, score FROM batch_hits WHERE batch_id = :b "
                "ORDER BY seq, match_no, rank",
                batch_id,
            )
            owners = _plain_rows(
                conn,
                "SELECT seq, line, label, sheet FROM batch_items "
                "WHERE batch_id = :b AND hit_rows > 0 ORDER BY seq",
                batch_id,
            )
            for verdict, n in s.execute(
                select(BatchItem.verdict, func.count())
                .where(BatchItem.batch_id == batch_id, BatchItem.verdict != "no_match")
                .group_by(BatchItem.verdict)
            ).all():
                counts[verdict] = int(n)
            # results still read: items that could not be checked or were read without a
            # hit (a no-match that stores more than "{}"), and hits stored before hit rows
            rows = s.execute(
                select(
                    BatchItem.seq,
                    BatchItem.line,
                    BatchItem.label,
                    BatchItem.verdict,
                    BatchItem.result,
                )
                .where(
                    BatchItem.batch_id == batch_id,
                    or_(
                        and_(BatchItem.verdict == "no_match", ~compact),
                        and_(BatchItem.verdict != "no_match", BatchItem.hit_rows.is_(None)),
                    ),
                )
                .order_by(BatchItem.seq)
            ).all()
            # gaps and islands: consecutive positions share seq - row_number()
            island = (BatchItem.seq - func.row_number().over(order_by=BatchItem.seq)).label("g")
            misses = (
                select(BatchItem.seq, BatchItem.line, island)
                .where(BatchItem.batch_id == batch_id, BatchItem.verdict == "no_match", compact)
                .subquery()
            )
            runs = [
                (int(a), int(b), int(c), int(d), int(n))
                for a, b, c, d, n in s.execute(
                    select(
                        func.min(misses.c.seq),
                        func.max(misses.c.seq),
                        func.min(misses.c.line),
                        func.max(misses.c.line),
                        func.count(),
                    )
                    .group_by(misses.c.g)
                    .order_by(func.min(misses.c.seq))
                ).all()
            ]
            columns: dict[int, dict[str, Any]] = {}
            if any(v != "no_match" and "columns" not in (r or {}) for _, _, _, v, r in rows):
                # hits stored before items kept their columns: read them from the inputs
                inputs = s.execute(select(Batch.inputs).where(Batch.id == batch_id)).scalar()
                columns = {i[0]: i[3] for i in inputs or [] if len(i) > 3 and i[3]}
        hits = _listed_hits(listed, owners)
        older: list[tuple[int, list[dict[str, Any]]]] = []
        for seq, line, label, verdict, result in rows:
            result = result or {}
            if verdict == "no_match":
                if result.get("error"):
                    unreadable.append({"line": line, "label": label, "error": result["error"]})
                    counts["unreadable"] += 1
                else:  # a photograph read and checked without a hit keeps its reading
                    runs.append((seq, seq, line, line, 1))
                continue
            older.append((seq, _result_hits(line, label, result, columns)))
        if older:  # a batch begun before hit rows and resumed after: merged by position
            hits = [
                h
                for _, _, found in sorted(
                    [(row[0], 1, [h]) for row, h in zip(listed, hits, strict=True)]
                    + [(seq, 0, found) for seq, found in older],
                    key=lambda t: (t[0], t[1]),
                )
                for h in found
            ]
        no_match = _merge_runs(runs)
        counts["no_match"] = sum(n for _, _, n in no_match)
        return BatchReport(batch, hits, extra_columns(hits), unreadable, counts, no_match)

    def hits(self, batch_id: str) -> list[dict[str, Any]]:
        """One row per register candidate of every item that was not a clean no-match."""
        return self.report(batch_id).hits

    def unreadable(self, batch_id: str) -> list[dict[str, Any]]:
        """Items that could not be checked (an unreadable photograph), with the reason."""
        return self.report(batch_id).unreadable

    def iter_report_csv(self, batch_id: str) -> Iterator[str]:
        """The hits as CSV, yielded a block of rows at a time (raises NotFound up front)."""
        report = self.report(batch_id)
        return _csv_blocks(report.hits, report.columns)

    def report_csv(self, batch_id: str) -> str:
        return "".join(self.iter_report_csv(batch_id))


#: the CSV report's own fields, before the spreadsheet's columns
CSV_FIELDS = (
    "line",
    "label",
    "query",
    "verdict",
    "entry_identifier",
    "kind",
    "status",
    "crime_ref",
    "source",
    "distance",
    "edits",
    "score",
)


@dataclass(frozen=True)
class BatchReport:
    """What the HTML and CSV reports show: the batch, its hits, sheet columns, unreadables."""

    batch: dict[str, Any]
    hits: list[dict[str, Any]]
    columns: list[str]
    unreadable: list[dict[str, Any]]
    #: items by outcome (match, possible_match, no_match, unreadable); they add up to "done"
    counts: dict[str, int] = field(default_factory=dict)
    #: the items without a hit, compactly: (first line, last line, items) of each run of
    #: consecutive items that had no register candidate
    no_match: list[tuple[int, int, int]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Counts and no-match runs as a JSON document (the API's and the CLI's)."""
        return {
            "counts": dict(self.counts),
            "no_match_lines": [list(run) for run in self.no_match],
        }


def _csv_blocks(hits: list[dict[str, Any]], columns: list[str], block: int = 5000) -> Iterator[str]:
    extra = [c for c in columns if c not in CSV_FIELDS]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([*CSV_FIELDS, *extra])
    for lo in range(0, len(hits), block):
        w.writerows(
            [
                "'" + v if type(v) is str and v[:1] in _FORMULA else v
                for v in [*itemgetter(*CSV_FIELDS)(r), *(r["columns"].get(c, "") for c in extra)]
            ]  # inline, not a call per cell: this runs for every cell of every hit
            for r in hits[lo : lo + block]
        )
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()
    if buf.tell():  # the header of a report without hits
        yield buf.getvalue()


def _stored_json(result: MatchResult) -> str:
    """What an item keeps, as JSON text: the explained result of a hit; nothing for a miss.

    The report lists hits only, and a no-match's row still holds its line, label and verdict,
    so a 100,000-row batch stores full documents only for the rows that hit. The report reads
    a hit's candidates from their own rows and its spreadsheet columns from ``sheet``.
    """
    if result.verdict == "no_match" and not result.candidates:
        return NO_RESULT
    return '{"matches":[' + result.model_dump_json() + "]}"


def _sheet_json(columns: dict[str, Any] | None) -> str | None:
    """A hit's other spreadsheet columns as JSON text (None when the sheet has none)."""
    return json.dumps(columns, separators=(",", ":")) if columns else None


def _json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, separators=(",", ":")) if doc else NO_RESULT


def _hit_rows(results: list[MatchResult]) -> list[HitRow]:
    """Every candidate of an item's matches, as the report lists it."""
    return [
        (
            m,
            rank,
            r.query,
            r.verdict,
            c.entry_id,
            c.identifier,
            c.kind,
            c.status,
            c.crime_ref,
            c.source,
            c.distance,
            "; ".join(c.edits),
            c.score,
        )
        for m, r in enumerate(results)
        for rank, c in enumerate(r.candidates)
    ]


def _plain_rows(conn: Connection, sql: str, batch_id: str) -> list[tuple[Any, ...]]:
    """A query's rows as the driver's own tuples: tens of thousands of hits are read without
    building a row object each."""
    result = conn.execute(text(sql), {"b": batch_id})
    rows = [tuple(r) for r in result.cursor.fetchall()]
    result.close()
    return rows


def _listed_hits(
    listed: Sequence[tuple[Any, ...]], owners: Sequence[tuple[Any, ...]]
) -> list[dict[str, Any]]:
    """The report's hits from their rows and their items' (seq, line, label, sheet); the
    spreadsheet columns of every item parsed in one go (one JSON document of all of them),
    one dict per item shared by its candidates."""
    sheets = json.loads("[" + ",".join(row[3] or "{}" for row in owners) + "]")
    items = {
        seq: (line, label, sheet)
        for (seq, line, label, _), sheet in zip(owners, sheets, strict=True)
    }
    out: list[dict[str, Any]] = []
    for (
        seq,
        query,
        verdict,
        identifier,
        kind,
        status,
        crime_ref,
        source,
        distance,
        edits,
        score,
    ) in listed:
        line, label, sheet = items[seq]
        out.append(
            {
                "line": line,
                "label": label,
                "query": query,
                "verdict": verdict,
                "entry_identifier": identifier,
                "kind": kind,
                "status": status,
                "crime_ref": crime_ref or "",
                "source": source or "",
                "distance": distance,
                "edits": edits,
                "score": score,
                "columns": sheet,
            }
        )
    return out


def _result_hits(
    line: int, label: str, result: dict[str, Any], columns: dict[int, dict[str, Any]]
) -> list[dict[str, Any]]:
    """The report's hits of an item stored before hits had rows, from its result."""
    sheet = result.get("columns") or columns.get(line, {})
    return [
        {
            "line": line,
            "label": label,
            "query": m["query"],
            "verdict": m["verdict"],
            "entry_identifier": c["identifier"],
            "kind": c["kind"],
            "status": c["status"],
            "crime_ref": c.get("crime_ref") or "",
            "source": c.get("source") or "",
            "distance": c["distance"],
            "edits": "; ".join(c.get("edits", [])),
            "score": c["score"],
            "columns": sheet,
        }
        for m in result.get("matches", [])
        for c in m.get("candidates", [])
    ]


def _merge_runs(runs: list[tuple[int, int, int, int, int]]) -> list[tuple[int, int, int]]:
    """(first line, last line, items) of runs of consecutive positions, joined where one run
    ends right before the next begins."""
    out: list[list[int]] = []
    last_seq = -2
    for first_seq, end_seq, first_line, last_line, n in sorted(runs):
        if out and first_seq == last_seq + 1:
            out[-1][1] = last_line
            out[-1][2] += n
        else:
            out.append([first_line, last_line, n])
        last_seq = end_seq
    return [(a, b, n) for a, b, n in out]


def no_match_text(runs: list[tuple[int, int, int]]) -> str:
    """Runs of lines as a reader writes them: "2-101, 103, 105-110"."""
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b, _ in runs)


def extra_columns(hits: list[dict[str, Any]]) -> list[str]:
    """The spreadsheet's own columns (beside the identifier) that the hits carry, in order."""
    seen: dict[str, None] = {}
    for h in hits:
        for name in h.get("columns", {}):
            seen.setdefault(name, None)
    return list(seen)


def _write_items(s: Session, batch_id: str, rows: list[ItemRow]) -> None:
    """A chunk's items and their hits in one bulk write each, in the session's transaction."""
    conn = s.connection()
    insert_rows(
        conn,
        _ITEMS.name,
        _ITEM_COLUMNS,
        [(batch_id, *row[:6], len(row[6])) for row in rows],
    )
    insert_rows(
        conn, _HITS.name, _HIT_COLUMNS, [(batch_id, row[0], *h) for row in rows for h in row[6]]
    )


#: a cell starting with one of these would run as a formula in a spreadsheet
_FORMULA = ("=", "+", "-", "@")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def batch_doc(b: Batch) -> dict[str, Any]:
    return {
        "id": b.id,
        "kind": b.kind,
        "filename": b.filename,
        "sha256": b.sha256,
        "state": b.state,
        "total": b.total,
        "done": b.done,
        "hits": b.hits,
        "officer": b.officer,
        "purpose": b.purpose,
        "station_id": b.station_id,
        "register_version": b.register_version,
        "created_at": b.created_at.isoformat() if b.created_at else None,
        "finished_at": b.finished_at.isoformat() if b.finished_at else None,
        "error": b.error,
        "href": f"/api/batches/{b.id}",
    }
