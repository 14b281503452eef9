"""Batches of serials: hits explained in full, misses kept as compact rows, every row reported,
and a batch killed mid-way resumes to exactly what an uninterrupted run stores."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, insert, select
from sqlalchemy.exc import IntegrityError

from station.batches.service import BatchService, no_match_text
from station.context import StationContext
from station.db.models import AuditEntry
from station.db.service_models import Batch, BatchHit, BatchItem
from station.settings import StationSettings

ROWS = 1000
#: register serials: letters and digits, 12 characters, nowhere near the misses below
ENTRIES = [f"RG{i:03d}K{(i * 7919) % 100000:05d}T" for i in range(60)]


def _register(tmp: Path) -> Path:
    path = tmp / "register.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "identifier",
                "kind",
                "status",
                "category",
                "brand",
                "model",
                "crime_ref",
                "force",
                "reported_on",
            ]
        )
        for i, ident in enumerate(ENTRIES):
            w.writerow([ident, "serial", "stolen", "bike", "Trek", "FX", f"NN/{i}/26", "N", ""])
    return path


def _value(i: int) -> tuple[str, str]:
    """Row i's identifier and what it is: exact, misread (1 read as I), truncated, or absent."""
    if i % 50 == 3:
        return ENTRIES[i % 60], "exact"
    if i % 50 == 17:
        ident = ENTRIES[(i * 3) % 60]
        return ident.replace("1", "I", 1) if "1" in ident else ident.replace("0", "O", 1), "misread"
    if i % 125 == 40:
        return ENTRIES[(i * 11) % 60][:9], "truncated"
    return f"QW{i:05d}PZMX", "absent"


def _sheet(tmp: Path) -> tuple[Path, dict[int, str]]:
    """ROWS rows (line = row + 2), with a bag column; returns the kind of each line."""
    kinds: dict[int, str] = {}
    path = tmp / "clearance.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["serial", "bag"])
        for i in range(ROWS):
            ident, kind = _value(i)
            kinds[i + 2] = kind
            w.writerow([ident, f"PB-{i:04d}"])
    return path, kinds


@pytest.fixture
def ctx(settings: StationSettings, tmp_path: Path) -> Iterator[StationContext]:
    ctx = StationContext(settings)
    ctx.matcher.import_file(_register(tmp_path), source="test")
    yield ctx
    ctx.close()


def _items(ctx: StationContext, batch_id: str) -> list[tuple[Any, ...]]:
    with ctx.db.session() as s:
        return [
            tuple(r)
            for r in s.execute(
                select(
                    BatchItem.seq,
                    BatchItem.line,
                    BatchItem.label,
                    BatchItem.verdict,
                    BatchItem.result,
                )
                .where(BatchItem.batch_id == batch_id)
                .order_by(BatchItem.seq)
            ).all()
        ]


def _runs(lines: list[int]) -> list[tuple[int, int, int]]:
    out: list[list[int]] = []
    for line in lines:
        if out and line == out[-1][1] + 1:
            out[-1][1] = line
            out[-1][2] += 1
        else:
            out.append([line, line, 1])
    return [(a, b, n) for a, b, n in out]


def test_hits_are_explained_in_full_and_misses_kept_as_compact_rows(
    ctx: StationContext, tmp_path: Path
) -> None:
    sheet, kinds = _sheet(tmp_path)
    service = BatchService(ctx.db, ctx.matcher, ctx.settings, serial_chunk=128)
    batch_id = service.create(sheet, sheet.name, officer="store-1")
    doc = service.run(batch_id)

    hit_lines = sorted(line for line, kind in kinds.items() if kind != "absent")
    miss_lines = sorted(line for line, kind in kinds.items() if kind == "absent")
    assert len(hit_lines) == 48 and len(miss_lines) == ROWS - 48
    assert (doc["state"], doc["total"], doc["done"], doc["hits"]) == (
        "complete",
        ROWS,
        ROWS,
        len(hit_lines),
    )
    items = _items(ctx, batch_id)
    assert [seq for seq, *_ in items] == list(range(ROWS))  # every row once, in order
    for seq, line, label, verdict, result in items:
        assert line == seq + 2
        if kinds[line] == "absent":
            assert (verdict, result) == ("no_match", {}), line
            continue
        # the stored explanation is exactly what a single look-up of the row answers
        single = ctx.matcher.lookup(label)
        assert single.verdict != "no_match", label
        assert verdict == single.verdict
        assert result == {"matches": [single.model_dump(mode="json")]}
        assert result["matches"][0]["candidates"][0]["edits"] or kinds[line] == "exact"
    with ctx.db.session() as s:
        sheets = dict(
            s.execute(
                select(BatchItem.seq, BatchItem.sheet).where(
                    BatchItem.batch_id == batch_id, BatchItem.verdict != "no_match"
                )
            ).all()
        )
        hit_rows = s.execute(
            select(BatchHit.seq, BatchHit.identifier).where(BatchHit.batch_id == batch_id)
        ).all()
    # a hit keeps its other spreadsheet columns and a row per candidate; a miss neither
    assert {seq + 2 for seq in sheets} == set(hit_lines)
    assert all(json.loads(text) == {"bag": f"PB-{seq:04d}"} for seq, text in sheets.items())
    assert {seq + 2 for seq, _ in hit_rows} == set(hit_lines)

    report = service.report(batch_id)
    assert sorted({h["line"] for h in report.hits}) == hit_lines
    assert report.counts["no_match"] == len(miss_lines)
    assert report.counts["unreadable"] == 0
    assert report.counts["match"] + report.counts["possible_match"] == len(hit_lines)
    assert sum(report.counts.values()) == ROWS
    assert report.no_match == _runs(miss_lines)
    assert no_match_text(report.no_match).startswith("2-4, 6-18, 20-")


def test_the_report_page_accounts_for_every_row(ctx: StationContext, tmp_path: Path) -> None:
    from station.batches.runner import render_report_html

    sheet, kinds = _sheet(tmp_path)
    service = BatchService(ctx.db, ctx.matcher, ctx.settings)
    batch_id = service.create(sheet, sheet.name, officer="store-1")
    service.run(batch_id)
    html = render_report_html(service, batch_id)
    misses = sum(1 for k in kinds.values() if k == "absent")
    assert f"{misses} item(s) with no register hit" in html
    assert f"{misses} no match, 0 could not be checked" in html
    assert "Lines 2-4, 6-18, 20-" in html


class _PowerCut(BaseException):
    """Stands for the process dying: not an Exception, so nothing marks the batch failed."""


@pytest.mark.parametrize("when", ["before the chunk commits", "after the chunk committed"])
def test_a_batch_killed_mid_way_resumes_to_exactly_the_uninterrupted_result(
    ctx: StationContext, tmp_path: Path, when: str
) -> None:
    sheet, _ = _sheet(tmp_path)
    service = BatchService(ctx.db, ctx.matcher, ctx.settings, serial_chunk=128)
    whole = service.create(sheet, sheet.name, officer="store-1")
    service.run(whole)

    cut = service.create(sheet, sheet.name, officer="store-1")
    progress_writes = 0

    def before_progress(_conn: Any, _cur: Any, statement: str, *_args: Any) -> None:
        nonlocal progress_writes
        if statement.lstrip().upper().startswith("UPDATE BATCHES SET DONE"):
            progress_writes += 1
            if progress_writes == 3:  # the third chunk's rows are written, not yet committed
                raise _PowerCut

    def after_commit(done: int, _total: int, _hits: int) -> None:
        if done == 3 * 128:
            raise _PowerCut

    if when == "before the chunk commits":
        event.listen(ctx.db.engine, "before_cursor_execute", before_progress)
        try:
            with pytest.raises(_PowerCut):
                service.run(cut)
        finally:
            event.remove(ctx.db.engine, "before_cursor_execute", before_progress)
        kept = 2 * 128
    else:
        with pytest.raises(_PowerCut):
            service.run(cut, progress=after_commit)
        kept = 3 * 128
    with ctx.db.session() as s:
        batch = s.get(Batch, cut)
        assert batch is not None
        assert (batch.state, batch.done) == ("running", kept)
    assert len(_items(ctx, cut)) == kept  # exactly the committed chunks, nothing half-written

    assert service.resume_unfinished() == [cut]
    doc = service.run(cut)
    assert (doc["state"], doc["done"]) == ("complete", ROWS)
    assert _items(ctx, cut) == _items(ctx, whole)
    a, b = service.report(whole), service.report(cut)
    assert (b.hits, b.counts, b.no_match) == (a.hits, a.counts, a.no_match)
    assert doc["hits"] == service.get(whole)["hits"]
    # the audit keeps one entry when the batch was queued and one when it completed
    with ctx.db.session() as s:
        details = s.execute(
            select(AuditEntry.detail).where(AuditEntry.object_id == cut).order_by(AuditEntry.id)
        ).scalars()
        states = [d.get("state", "queued") for d in details]
    assert states == ["queued", "complete"]


def test_a_position_of_a_batch_is_stored_once(ctx: StationContext, tmp_path: Path) -> None:
    sheet, _ = _sheet(tmp_path)
    service = BatchService(ctx.db, ctx.matcher, ctx.settings)
    batch_id = service.create(sheet, sheet.name, officer="store-1")
    service.run(batch_id)
    row = {"batch_id": batch_id, "seq": 7, "line": 9, "label": "X", "verdict": "no_match"}
    with pytest.raises(IntegrityError), ctx.db.writer() as s:
        s.execute(insert(BatchItem).values(result={}, **row))
    assert len(_items(ctx, batch_id)) == ROWS
