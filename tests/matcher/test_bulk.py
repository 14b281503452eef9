"""Bulk checks of spreadsheets and their CSV/HTML reports."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from openpyxl import Workbook

from station.errors import InputError
from station.matcher import RegisterIndex, RegisterRecord
from station.matcher.bulk import check_file, write_csv, write_html

REGISTER = [
    RegisterRecord(1, "AB12CD34EF", "serial", "stolen", "CR/1/24", "met"),
    RegisterRecord(2, "356938035643809", "imei", "lost", None, "kent"),
]


@pytest.fixture
def index() -> RegisterIndex:
    return RegisterIndex.build(REGISTER)


def test_csv_with_header_context_rejections_and_reports(
    index: RegisterIndex, tmp_path: Path
) -> None:
    src = tmp_path / "recovered.csv"
    src.write_text(
        "Property Ref,Serial Number,Description\n"
        "P1,A812CD34EF,laptop <b>bold</b>\n"
        "P2,NOTONREGISTER9,drill\n"
        "P3,,empty serial is skipped\n"
        "P4,\x07bell,control character\n"
        "P5,356938035643808,phone\n",
        encoding="utf-8",
    )
    seen: list[tuple[int, int]] = []
    report = check_file(src, index, progress=lambda d, t: seen.append((d, t)))
    assert report.summary() == {
        "rows": 4,
        "checked": 3,
        "match": 1,
        "possible_match": 1,
        "no_match": 1,
        "rejected": 1,
    }
    assert [(r.line, r.result.candidates[0].entry_id) for r in report.hits] == [(2, 1), (6, 2)]
    assert report.hits[0].context == {"property_ref": "P1", "description": "laptop <b>bold</b>"}
    assert report.rejected[0].line == 5 and "non-printable" in report.rejected[0].reason
    assert seen[-1] == (4, 4)

    out_csv = tmp_path / "hits.csv"
    write_csv(report, out_csv)
    rows = list(csv.DictReader(out_csv.open(encoding="utf-8")))
    assert [(r["line"], r["verdict"], r["entry_id"]) for r in rows] == [
        ("2", "match", "1"),
        ("6", "possible_match", "2"),
        ("5", "rejected", ""),
    ]
    assert "confusable" in rows[0]["edits"]
    assert rows[0]["crime_ref"] == "CR/1/24"

    out_html = tmp_path / "hits.html"
    write_html(report, out_html)
    html = out_html.read_text(encoding="utf-8")
    assert "A812CD34EF" in html and "CR/1/24" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html  # item text is escaped, not markup
    assert "check digit" in html


def test_bare_list_and_xlsx(index: RegisterIndex, tmp_path: Path) -> None:
    bare = tmp_path / "list.txt"
    bare.write_text("AB12CD34EF\nZZZZ00001\n", encoding="utf-8")
    report = check_file(bare, index)
    assert [r.result.verdict for r in report.rows] == ["match", "no_match"]

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["imei", "note"])
    ws.append([356938035643809, "boxed"])
    ws.append(["AB12CD34EX", None])
    f = tmp_path / "sheet.xlsx"
    wb.save(f)
    report = check_file(f, index)
    assert [(r.line, r.result.verdict) for r in report.rows] == [
        (2, "match"),
        (3, "possible_match"),
    ]
    assert report.rows[0].context == {"note": "boxed"}


def test_unreadable_inputs(index: RegisterIndex, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        check_file(tmp_path / "nope.csv", index)
    bad = tmp_path / "x.pdf"
    bad.write_bytes(b"%PDF")
    with pytest.raises(InputError, match="unsupported"):
        check_file(bad, index)
    empty = tmp_path / "e.csv"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(InputError, match="no rows"):
        check_file(empty, index)
    broken = tmp_path / "b.xlsx"
    broken.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="XLSX"):
        check_file(broken, index)
