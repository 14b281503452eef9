"""Register file parsing: formats, column mapping, line-numbered rejection, progress."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from pathlib import Path

import pytest
from openpyxl import Workbook

from station.errors import RegisterImportError
from station.register.importer import parse_register_file

HEADER = "identifier,kind,status,category,brand,model,crime_ref,force,reported_on"


def _write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_csv_with_the_design_header(tmp_path: Path) -> None:
    f = _write(
        tmp_path / "reg.csv",
        HEADER,
        "ab-12-cd-34-ef,serial,stolen,laptop,Dell,XPS 13,CR/1/24,Met,2024-01-02",
        "35-693803-564380-9,imei,lost,phone,Apple,iPhone 12,,Kent,2024-02-03",
        "PAL1000,serial,stolen,drill,Bosch,GSB,CR/9/24,Met,2024-03-01",
    )
    parsed = parse_register_file(f, source="pnc")
    assert parsed.source == "pnc"
    assert [r.identifier for r in parsed.rows] == ["AB12CD34EF", "356938035643809", "PAL1000"]
    first = parsed.rows[0]
    assert (first.line, first.kind, first.status, first.brand) == (2, "serial", "stolen", "Dell")
    assert first.reported_on == dt.date(2024, 1, 2)
    assert parsed.counts() == {"add": 3, "update": 0, "withdraw": 0}


def test_every_bad_row_is_named_by_line_and_nothing_returned(tmp_path: Path) -> None:
    f = _write(
        tmp_path / "bad.csv",
        HEADER,
        "AB12CD34EF,serial,stolen,,,,,,2024-01-02",
        "356938035643808,imei,lost,,,,,,",  # Luhn fails
        "AB12CD34EF,serial,stolen,,,,,,",  # duplicate of line 2
        "ZZ99XX,serial,nicked,,,,,,",  # unknown status
        "QQ11WW22,serial,stolen,,,,,,31/12/2024",  # not ISO date
        "QQ11WW23,serial,stolen,,,",  # too few fields
        "QQ11WW24,gadget,stolen,,,,,,",  # unknown kind
    )
    with pytest.raises(RegisterImportError) as err:
        parse_register_file(f)
    problems = dict(err.value.problems)
    assert sorted(problems) == [3, 4, 5, 6, 7, 8]
    assert "Luhn" in problems[3]
    assert "line 2" in problems[4]
    assert "nicked" in problems[5]
    assert "not a date" in problems[6]
    assert "fields" in problems[7]
    assert "gadget" in problems[8]
    assert "nothing imported" in str(err.value)


def test_quoted_multiline_field_keeps_line_numbers_right(tmp_path: Path) -> None:
    f = _write(
        tmp_path / "ml.csv",
        HEADER,
        'AB12CD34EF,serial,stolen,"laptop\nwith bag",,,,,',
        "BAD,serial,stolen,,,,,,",
    )
    with pytest.raises(RegisterImportError) as err:
        parse_register_file(f)
    assert [ln for ln, _ in err.value.problems] == [4]


def test_column_mapping_and_aliases(tmp_path: Path) -> None:
    f = _write(
        tmp_path / "other.csv",
        "Serial Number,Make,Crime No,State,Category",
        "XK7TQ3WM9P,Trek,CR/5/24,stolen,bicycle",
    )
    parsed = parse_register_file(f, mapping={"state": "status", "serial number": "identifier"})
    [row] = parsed.rows
    assert (row.identifier, row.brand, row.crime_ref, row.status) == (
        "XK7TQ3WM9P",
        "Trek",
        "CR/5/24",
        "stolen",
    )
    assert row.kind == "serial"


def test_missing_identifier_column_is_reported(tmp_path: Path) -> None:
    f = _write(tmp_path / "x.csv", "kind,status", "serial,stolen")
    with pytest.raises(RegisterImportError, match="no identifier column"):
        parse_register_file(f)


def test_jsonl_deltas_owners_and_ranges(tmp_path: Path) -> None:
    rows = [
        {"identifier": "PAL1000", "kind": "serial", "status": "stolen", "range_end": "PAL1999"},
        {"identifier": "AB12CD34EF", "action": "withdraw"},
        {
            "identifier": "XK7TQ3WM9P",
            "status": "registered-owner",
            "action": "update",
            "owner_ref": "OWN-1",
            "owner_name": "A. Person",
            "owner_postcode": "NN1 4AB",
        },
    ]
    f = tmp_path / "delta.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    parsed = parse_register_file(f)
    assert [r.action for r in parsed.rows] == ["add", "withdraw", "update"]
    assert parsed.rows[0].range_end == "PAL1999"
    [owner] = parsed.owners
    assert (owner.owner_ref, owner.name, owner.postcode) == ("OWN-1", "A. Person", "NN1 4AB")
    assert parsed.rows[2].owner_ref == "OWN-1"


def test_jsonl_bad_lines(tmp_path: Path) -> None:
    f = tmp_path / "bad.jsonl"
    f.write_text(
        '{"identifier": "AB12CD34EF", "status": "stolen"}\n'
        "{not json\n"
        '["a list"]\n'
        '{"identifier": "PAL1999", "status": "stolen", "range_end": "PAL1000"}\n'
        '{"identifier": "XK7TQ3WM9P", "status": "stolen", "owner_name": "No Ref"}\n',
        encoding="utf-8",
    )
    with pytest.raises(RegisterImportError) as err:
        parse_register_file(f)
    problems = dict(err.value.problems)
    assert sorted(problems) == [2, 3, 4, 5]
    assert "JSON" in problems[2]
    assert "before the start" in problems[4]
    assert "owner_ref" in problems[5]


def test_xlsx(tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(HEADER.split(","))
    ws.append(
        [
            "AB12CD34EF",
            "serial",
            "stolen",
            "laptop",
            "Dell",
            "XPS",
            None,
            "Met",
            dt.datetime(2024, 1, 2),
        ]
    )
    ws.append([356938035643809, "imei", "lost", None, None, None, None, None, None])
    ws.append(["x!", "serial", "stolen"])
    f = tmp_path / "reg.xlsx"
    wb.save(f)
    with pytest.raises(RegisterImportError) as err:
        parse_register_file(f)
    assert [ln for ln, _ in err.value.problems] == [4]
    ws.delete_rows(4)
    wb.save(f)
    parsed = parse_register_file(f)
    assert [r.identifier for r in parsed.rows] == ["AB12CD34EF", "356938035643809"]
    assert parsed.rows[0].reported_on == dt.date(2024, 1, 2)


def test_unsupported_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(RegisterImportError, match="does not exist"):
        parse_register_file(tmp_path / "nope.csv")
    f = _write(tmp_path / "reg.pdf", "x")
    with pytest.raises(RegisterImportError, match="unsupported"):
        parse_register_file(f)


def test_progress_reports_bytes_up_to_the_total(tmp_path: Path) -> None:
    lines = [HEADER] + [f"SER{i:08d},serial,stolen,,,,,," for i in range(12000)]
    f = _write(tmp_path / "big.csv", *lines)
    seen: list[tuple[int, int]] = []
    parsed = parse_register_file(f, progress=lambda done, total: seen.append((done, total)))
    assert len(parsed.rows) == 12000
    assert len(seen) >= 3
    assert seen[-1] == (f.stat().st_size, f.stat().st_size)
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(seen))
