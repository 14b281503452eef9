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


# -- the plain-block path: the same rows and problems as the general one ----------------------

PLAIN_CASES = [
    "AB12CD34EF,serial,stolen,laptop,Dell,XPS 13,CR/1/24,Met,2024-01-02",
    "356938035643809,imei,Lost,phone,Apple,,,Kent,2024-02-03",
    "356938035643808,imei,lost,phone,Apple,,,Kent,2024-02-03",  # Luhn fails
    "ab12,SERIAL,stolen,,,,,,",  # lower case, no date: plain all the same
    "abc,serial,stolen,,,,,,",  # too short
    "ab-12-cd,serial,stolen,,,,,,",  # separators: the general classifier
    "35-693803-564380-9,imei,stolen,,,,,,2024-01-01",
    "3569380356438091,imei,stolen,,,,,,2024-01-01",  # an IMEISV
    "AB123456C,mark_code,stolen,,,,,,2024-01-01",
    "XY99,,stolen,,,,,,2024-01-01",  # no kind: classified
    "ZZ12345,serial,,,,,,,2024-01-01",  # no status
    "ZZ12346,serial,taken,,,,,,2024-01-01",
    "ZZ12347,serial,stolen,,,,,,2024-13-01",
    "ZZ12348,serial,stolen,,,,,,2024-01-01T10:00",  # the date part is read
    "ZZ12349,serial,stolen,,,,,,2999-01-01",  # future
    "ZZ12350,serial,stolen,,,,,,2024-01-01,extra",  # a field too many
    "ZZ12351,serial,stolen",  # too few
    ",,,,,,,,",  # blank record
    "",
    ",serial,stolen,,,,,,",  # no identifier
    "ZZ12352,serial,stolen," + "c" * 65 + ",,,,,",  # long but within the category limit
    "ZZ12353,serial,stolen," + "c" * 101 + ",,,,,",  # too long
    "ZZ12354,serial,stolen,,,,," + "f" * 70 + ",",  # crime_ref limit is 64, force is 100
    "ZZ12355,serial,stolen,,,,CR\\1,,",  # a backslash
    "ZZ12356,serial,recovered,bike,Ünïcode,Ω,,,2024-01-01",
    "ZZ12357,barcode,stolen,,,,,,",
    "AB12CD34EF,serial,stolen,laptop,Dell,XPS 13,CR/1/24,Met,2024-01-02",  # repeated later on
]


def _blocks_both_ways(header: str, lines: list[str]) -> None:
    from station.register.importer import _Block, _general_block, _header, _plain_block

    names = header.split(",")
    fields = tuple(_header(names, {}, "t.csv"))
    data = ("\n".join(lines) + "\n").encode()
    block = _Block("csv", data, 2, fields, len(names), (), False)
    today = dt.date(2026, 3, 1)
    plain = _plain_block(block, today)
    assert plain is not None, "a block of unquoted, printable records is read plainly"
    rows: list[tuple[object, ...]] = []
    problems: list[tuple[int, str]] = []
    _general_block(block, today, False, rows, problems, [])
    assert plain == (rows, problems)
    assert rows and problems  # both kinds of rows were there to compare


def test_plain_block_reads_rows_as_the_general_path_does() -> None:
    _blocks_both_ways(HEADER, PLAIN_CASES)
    # other layouts: actions and ranges, an unmapped column, columns in another order
    with_actions = [
        line + "," + action + "," + rng
        for line, (action, rng) in zip(
            PLAIN_CASES,
            itertools.cycle(
                [("", ""), ("update", ""), ("withdraw", ""), ("ADD", ""), ("drop", ""), ("", "Z9")]
            ),
            strict=False,
        )
    ]
    _blocks_both_ways(HEADER + ",action,range_end", with_actions)
    reordered = [",".join(reversed(line.split(","))) for line in PLAIN_CASES]
    _blocks_both_ways(",".join(reversed(HEADER.split(","))), reordered)
    _blocks_both_ways("note," + HEADER, ["x" * 80 + "," + line for line in PLAIN_CASES])


@pytest.mark.parametrize(
    "line",
    [
        '"AB1234",serial,stolen,,,,,,',  # quotes
        "AB1234 ,serial,stolen,,,,,,",  # a space at a field's end
        "AB1234,serial,stolen,,\tx,,,,",  # a control character
        "AB1234,serial,stolen,,,,,,\r",  # CRLF
    ],
)
def test_plain_block_leaves_other_text_to_the_general_path(line: str) -> None:
    from station.register.importer import _Block, _header, _plain_block

    names = HEADER.split(",")
    block = _Block(
        "csv", (line + "\n").encode(), 2, tuple(_header(names, {}, "t")), len(names), (), False
    )
    assert _plain_block(block, dt.date(2026, 3, 1)) is None


def test_copy_text_escapes_what_needs_it() -> None:
    from station.register.importer import copy_text

    assert copy_text([]) == b""
    assert copy_text([(1, "a", None), (2, None, "b")]) == b"1\ta\t\\N\n2\t\\N\tb\n"
    assert copy_text([(1, "a\\b", None)]) == b"1\ta\\\\b\t\\N\n"
    assert copy_text([(1, "a\tb\nc", None)]) == b"1\ta\\tb\\nc\t\\N\n"
    assert copy_text([(1, "a\0b", None)]) != b"1\ta\\Nb\t\\N\n"  # a NUL is never a NULL
