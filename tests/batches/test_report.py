"""The batch report lists every hit in full with the spreadsheet's own columns beside it."""

from __future__ import annotations

import csv
import html as html_text
import io
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


def test_hits_stored_without_columns_take_them_from_the_inputs(
    ctx: StationContext, tmp_path: Path
) -> None:
    """A batch checked before hits kept their columns still reports them."""
    from sqlalchemy import select, update

    from station.db.service_models import BatchItem

    sheet, expected = _sheet(tmp_path)
    service = BatchService(ctx.db, ctx.matcher, ctx.settings)
    batch_id = service.create(sheet, sheet.name, officer="store-1")
    service.run(batch_id)
    with ctx.db.writer() as s:
        items = s.execute(
            select(BatchItem.id, BatchItem.result).where(
                BatchItem.batch_id == batch_id, BatchItem.verdict != "no_match"
            )
        ).all()
        assert items and all("columns" in r for _, r in items)
        for item_id, result in items:
            old = {k: v for k, v in result.items() if k != "columns"}
            s.execute(update(BatchItem).where(BatchItem.id == item_id).values(result=old))
    got = {(h["line"], h["columns"]["property bag"]) for h in service.report(batch_id).hits}
    assert got == {(line, bag) for line, (_, bag, _) in expected.items()}
