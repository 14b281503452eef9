"""Bulk checks for the property store: a list of serials or a folder/zip of photographs.

The upload is validated completely before anything is stored, then kept content-addressed
on disk and processed in committed chunks, so a crash resumes where it stopped.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update

from station.batches.uploads import extract_images, read_serial_rows
from station.checks.service import Matcher, overall_verdict
from station.db.engine import Database
from station.db.service_models import Batch, BatchItem
from station.domain import MatchResult
from station.errors import InputError, NotFound
from station.records import audit
from station.settings import StationSettings

CHUNK = 500


Progress = Callable[[int, int, int], None]


class BatchService:
    """Creates, runs and reports batches."""

    def __init__(self, db: Database, matcher: Matcher, settings: StationSettings) -> None:
        self.db = db
        self.matcher = matcher
        self.settings = settings
        self.root = settings.data_dir / "uploads"

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
                images = extract_images(upload, work, limit)
                inputs: list[Any] = [
                    [n + 1, p.name.split("_", 1)[1], str(p)] for n, p in enumerate(images)
                ]
            else:
                kind = "serials"
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
        with self.db.writer() as s:
            batch = s.get(Batch, batch_id)
            if batch is None:
                raise NotFound(f"no batch with id {batch_id}")
            batch.state = "running"
            inputs, kind, start, hits = list(batch.inputs), batch.kind, batch.done, batch.hits
        try:
            for lo in range(start, len(inputs), CHUNK):
                chunk = inputs[lo : lo + CHUNK]
                if kind == "serials":
                    items = self._serial_items(batch_id, lo, chunk)
                else:
                    items = [
                        self._process(batch_id, kind, lo + i, entry)
                        for i, entry in enumerate(chunk)
                    ]
                hits += sum(1 for it in items if it.verdict != "no_match")
                with self.db.writer() as s:
                    s.execute(insert(BatchItem), [_row(it) for it in items])
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
            return batch_doc(batch)

    def _serial_items(self, batch_id: str, lo: int, chunk: list[Any]) -> list[BatchItem]:
        """One bulk look-up per chunk (the matcher checks its version once, not per row)."""
        values = [str(entry[2]) for entry in chunk]
        many = getattr(self.matcher, "lookup_many", None)
        results = many(values) if many else [self.matcher.lookup(v) for v in values]
        return [
            BatchItem(
                batch_id=batch_id,
                seq=lo + i,
                line=int(entry[0]),
                label=str(entry[1])[:300],
                verdict=result.verdict,
                result={"matches": [result.model_dump(mode="json")]},
            )
            for i, (entry, result) in enumerate(zip(chunk, results, strict=True))
        ]

    def _process(self, batch_id: str, kind: str, seq: int, entry: list[Any]) -> BatchItem:
        line, label, payload = int(entry[0]), str(entry[1]), str(entry[2])
        if kind == "serials":
            results = [self.matcher.lookup(payload)]
            extra: dict[str, Any] = {}
        else:
            results, extra = self._read_image(Path(payload))
        verdict = overall_verdict(results) if results else "no_match"
        return BatchItem(
            batch_id=batch_id,
            seq=seq,
            line=line,
            label=label[:300],
            verdict=verdict,
            result={"matches": [r.model_dump(mode="json") for r in results], **extra},
        )

    def _read_image(self, path: Path) -> tuple[list[MatchResult], dict[str, Any]]:
        try:
            from station.vision.io import read_files

            read = read_files([path], uv=None, dark=None, settings=self.settings.vision)[0]
        except InputError as exc:
            return [], {"error": str(exc)}
        except Exception as exc:  # one unreadable photograph must not stop the other 500
            return [], {"error": f"could not read {path.name}: {type(exc).__name__}: {exc}"}
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

    def hits(self, batch_id: str) -> list[dict[str, Any]]:
        """One row per register candidate of every item that was not a clean no-match."""
        self.get(batch_id)
        out = []
        with self.db.session() as s:
            inputs = s.execute(select(Batch.inputs).where(Batch.id == batch_id)).scalar() or []
            columns = {i[0]: i[3] for i in inputs if len(i) > 3 and i[3]}
            items = s.execute(
                select(BatchItem)
                .where(BatchItem.batch_id == batch_id, BatchItem.verdict != "no_match")
                .order_by(BatchItem.seq)
            ).scalars()
            for it in items:
                for m in it.result.get("matches", []):
                    for c in m.get("candidates", []):
                        out.append(
                            {
                                "line": it.line,
                                "label": it.label,
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
                                "columns": columns.get(it.line, {}),
                            }
                        )
        return out

    def unreadable(self, batch_id: str) -> list[dict[str, Any]]:
        """Items that could not be checked (an unreadable photograph), with the reason."""
        with self.db.session() as s:
            items = s.execute(
                select(BatchItem).where(BatchItem.batch_id == batch_id).order_by(BatchItem.seq)
            ).scalars()
            return [
                {"line": it.line, "label": it.label, "error": it.result["error"]}
                for it in items
                if it.result.get("error")
            ]

    def report_csv(self, batch_id: str) -> str:
        rows = self.hits(batch_id)
        buf = io.StringIO()
        fields = [
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
        ]
        extra = extra_columns(rows)
        w = csv.writer(buf)
        w.writerow(fields + [c for c in extra if c not in fields])
        for r in rows:
            w.writerow(
                [_csv_safe(r[k]) for k in fields]
                + [_csv_safe(r["columns"].get(c, "")) for c in extra if c not in fields]
            )
        return buf.getvalue()


def extra_columns(hits: list[dict[str, Any]]) -> list[str]:
    """The spreadsheet's own columns (beside the identifier) that the hits carry, in order."""
    seen: dict[str, None] = {}
    for h in hits:
        for name in h.get("columns", {}):
            seen.setdefault(name, None)
    return list(seen)


def _row(item: BatchItem) -> dict[str, Any]:
    return {
        "batch_id": item.batch_id,
        "seq": item.seq,
        "line": item.line,
        "label": item.label,
        "verdict": item.verdict,
        "result": item.result,
    }


def _csv_safe(value: Any) -> Any:
    # a cell starting with = + - @ would run as a formula in a spreadsheet
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


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
