"""The batch report lists every hit in full with the spreadsheet's own columns beside it."""

from __future__ import annotations

import csv
import html as html_text
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from station.batches.runner import render_report_html
from station.batches.service import BatchService
from station.context import StationContext
from station.settings import StationSettings

REGISTER = (
    "identifier,kind,status,category,brand,model,crime_ref,force,reported_on\n"
    "BIKE7788990,serial,stolen,bike,Trek,FX,NN/7/26,Northants,2026-03-01\n"
    "DRILL445566,serial,lost,power tool,Tradesman,TD-18,LE/11/26,Leics,2026-04-02\n"
    "LAPTOP20931,serial,stolen,laptop,Acme,Book,NN/9/26,Northants,2026-05-03\n"
)
HIT_IDENTS = ["BIKE7788990", "DRILL445566", "LAPTOP20931"]


@pytest.fixture
def ctx(settings: StationSettings, tmp_path: Path) -> Iterator[StationContext]:
    ctx = StationContext(settings)
    reg = tmp_path / "register.csv"
    reg.write_text(REGISTER)
    ctx.matcher.import_file(reg, source="test")
    yield ctx
    ctx.close()


def _sheet(tmp: Path) -> tuple[Path, dict[int, tuple[str, str, str]]]:
    """240 rows; every 20th is on the register; bag and note cells hold markup and formulas."""
    expected: dict[int, tuple[str, str, str]] = {}
    path = tmp / "store <clearance>.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["property bag", "serial", "note"])
        for i in range(240):
            line = i + 2
            bag, note = f"PB-{i:04d}", f"<b>item</b> {i}, shelf & bay"
            if i % 20 == 7:
                ident = HIT_IDENTS[(i // 20) % 3]
                expected[line] = (ident, bag, note)
            else:
                ident = f"UNKNOWN{i:05d}"
            w.writerow([bag, ident, note])
    return path, expected


def test_report_lists_every_hit_with_its_spreadsheet_columns(
    ctx: StationContext, tmp_path: Path
) -> None:
    sheet, expected = _sheet(tmp_path)
    service = BatchService(ctx.db, ctx.matcher, ctx.settings)
    batch_id = service.create(sheet, sheet.name, officer="store-1")
    service.run(batch_id)

    report = service.report(batch_id)
    assert report.columns == ["property bag", "note"]
    got = {
        (h["line"], h["entry_identifier"], h["columns"]["property bag"], h["columns"]["note"])
        for h in report.hits
    }
    assert got == {(line, ident, bag, note) for line, (ident, bag, note) in expected.items()}
    assert report.unreadable == []

    rows = list(csv.DictReader(io.StringIO(service.report_csv(batch_id))))
    assert {
        (int(r["line"]), r["entry_identifier"], r["property bag"], r["note"]) for r in rows
    } == got

    html = render_report_html(service, batch_id)
    headers = re.findall(r'<th scope="col" class="sheet-col">([^<]*)</th>', html)
    assert headers == ["property bag", "note"]
    body = re.findall(r"<tr class=\"hit-[a-z_]+\">(.*?)</tr>", html, re.S)
    assert len(body) == len(expected)
    for cells_html, (line, (ident, bag, note)) in zip(body, sorted(expected.items()), strict=True):
        cells = re.findall(r"<td>(.*?)</td>", cells_html)
        # line, as given, the sheet's columns (escaped), then the register entry
        assert cells[:4] == [
            str(line),
            ident,
            bag,
            html_text.escape(note),
        ]
        assert cells[5] == ident
    assert "store &lt;clearance&gt;.csv" in html and "<b>item</b>" not in html


def test_report_of_an_unknown_batch_is_not_found(ctx: StationContext) -> None:
    from station.errors import NotFound

    service = BatchService(ctx.db, ctx.matcher, ctx.settings)
    with pytest.raises(NotFound, match="no batch with id nope"):
        service.iter_report_csv("nope")


def _as_stored_before_hit_rows(
    ctx: StationContext, batch_id: str, with_columns: bool, below: int | None = None
) -> None:
    """Make a batch's items look as items stored before hits had rows of their own: the
    report must then read them from their results (with the sheet's columns in them, or,
    older still, without)."""
    from sqlalchemy import delete, select, update

    from station.db.service_models import BatchHit, BatchItem

    with ctx.db.writer() as s:
        items = s.execute(
            select(BatchItem.id, BatchItem.result, BatchItem.sheet).where(
                BatchItem.batch_id == batch_id,
                BatchItem.verdict != "no_match",
                BatchItem.seq < (below if below is not None else 1 << 30),
                BatchItem.hit_rows.is_not(None),
            )
        ).all()
        assert items and all(sheet for _, _, sheet in items)
        for item_id, result, sheet in items:
            old = {**result, "columns": json.loads(sheet)} if with_columns else result
            s.execute(
                update(BatchItem)
                .where(BatchItem.id == item_id)
                .values(result=old, sheet=None, hit_rows=None)
            )
        s.execute(
            delete(BatchHit).where(
                BatchHit.batch_id == batch_id,
                BatchHit.seq < (below if below is not None else 1 << 30),
            )
        )


def test_hits_stored_without_columns_take_them_from_the_inputs(
    ctx: StationContext, tmp_path: Path
) -> None:
    """A batch checked before hits kept their columns still reports them."""
    sheet, expected = _sheet(tmp_path)
    service = BatchService(ctx.db, ctx.matcher, ctx.settings)
    batch_id = service.create(sheet, sheet.name, officer="store-1")
    service.run(batch_id)
    _as_stored_before_hit_rows(ctx, batch_id, with_columns=False)
    got = {(h["line"], h["columns"]["property bag"]) for h in service.report(batch_id).hits}
    assert got == {(line, bag) for line, (_, bag, _) in expected.items()}


def test_the_report_from_hit_rows_is_the_report_from_the_stored_results(
    ctx: StationContext, tmp_path: Path
) -> None:
    """Every field of every hit, the columns, the counts, the unreadables and the no-match
    runs are the same whether the report reads the hits' rows or parses their results (as
    it does for items stored before): exact and misread serials, truncated labels, several
    candidates to one item, IMEIs, and a batch resumed across the change."""
    reg = tmp_path / "more.csv"
    reg.write_text(
        "identifier,kind,status,category,brand,model,crime_ref,force,reported_on\n"
        "SNA8800112,serial,stolen,,,,,,\n"
        "SNA8800113,serial,lost,,,,CR/113,,\n"
        "SNB8800112,serial,recovered,,,,,,\n"
        "356938035643809,imei,stolen,phone,,,NN/1/26,Northants,2026-01-01\n"
    )
    ctx.matcher.import_file(reg, source="other")
    path = tmp_path / "mixed.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["serial", "bag", "note"])
        reads = [
            "BIKE7788990", "B1KE7788990", "DRILL44556", "SNA8800112", "SNA88OO112",
            "356938035643809", "356938035643808", "NOTHERE0001", "LAPTOP2O931", "=cmd",
        ]  # fmt: skip
        for i in range(300):
            w.writerow([reads[i % len(reads)] if i % 3 == 0 else f"MISS{i:06d}", f"B{i}", "n"])
    service = BatchService(ctx.db, ctx.matcher, ctx.settings, serial_chunk=64)
    batch_id = service.create(path, path.name, officer="store-1")
    service.run(batch_id)
    from_rows = service.report(batch_id)
    assert len(from_rows.hits) > 60
    assert {h["verdict"] for h in from_rows.hits} >= {"match", "possible_match"}
    assert any(h["edits"] for h in from_rows.hits) and any(h["crime_ref"] for h in from_rows.hits)
    seqs = [h["line"] for h in from_rows.hits]
    assert len(seqs) > len(set(seqs))  # some item has several candidates
    _as_stored_before_hit_rows(ctx, batch_id, with_columns=True, below=150)
    assert service.report(batch_id) == from_rows  # the first half as stored before
    _as_stored_before_hit_rows(ctx, batch_id, with_columns=True)
    from_results = service.report(batch_id)
    assert from_rows == from_results
    assert service.report_csv(batch_id) == "".join(
        service_csv for service_csv in _csv_of(from_rows)
    )


def _csv_of(report: object) -> list[str]:
    from station.batches.service import BatchReport, _csv_blocks

    assert isinstance(report, BatchReport)
    return list(_csv_blocks(report.hits, report.columns))


def test_csv_cells_that_a_spreadsheet_would_run_as_formulas_are_quoted(
    ctx: StationContext, tmp_path: Path
) -> None:
    path = tmp_path / "formulas.csv"
    cells = ["=HYPERLINK(1)", "+1", "-2", "@SUM(A1)", "plain", "a=b"]
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["serial", "note"])
        for cell in cells:
            w.writerow(["BIKE7788990", cell])
    service = BatchService(ctx.db, ctx.matcher, ctx.settings)
    batch_id = service.create(path, path.name, officer="store-1")
    service.run(batch_id)
    rows = list(csv.DictReader(io.StringIO(service.report_csv(batch_id))))
    assert [r["note"] for r in rows] == [
        "'=HYPERLINK(1)",
        "'+1",
        "'-2",
        "'@SUM(A1)",
        "plain",
        "a=b",
    ]
    assert {r["line"] for r in rows} == {"2", "3", "4", "5", "6", "7"}
