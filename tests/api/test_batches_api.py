"""Bulk uploads: progress, reports, and every kind of bad upload rejected with nothing stored."""

from __future__ import annotations

import io
import time
import zipfile

import pytest
from openpyxl import Workbook

from tests.helpers.api import Station


def _finish(st: Station, batch_id: str) -> dict:
    for _ in range(200):
        doc = st.call("store", "GET", f"/api/batches/{batch_id}").json()
        if doc["state"] in ("complete", "failed"):
            return doc
        time.sleep(0.05)
    raise AssertionError("batch never finished")


def _upload(st: Station, name: str, data: bytes, role: str = "store"):  # type: ignore[no-untyped-def]
    return st.call(role, "POST", f"/api/batches?filename={name}", content=data)


def test_csv_batch_reports_every_hit_with_line_numbers(station: Station) -> None:
    station.load_register()
    csv = b"ref,identifier\nA1,NOPE11111\nA2,C02XK1ABJGH5\n\nA4,356938035643809\n"
    r = _upload(station, "recovered.csv", csv)
    assert r.status_code == 202, r.text
    doc = _finish(station, r.json()["id"])
    assert doc["state"] == "complete"
    assert (doc["total"], doc["done"], doc["hits"]) == (3, 3, 2)
    assert {(h["line"], h["entry_identifier"]) for h in doc["hits_detail"]} == {
        (3, "C02XK1ABJGH5"),
        (5, "356938035643809"),
    }
    report = station.call("store", "GET", f"/api/batches/{doc['id']}/report.csv").text
    lines = report.strip().splitlines()
    assert lines[0].startswith("line,label,query,verdict")
    assert len(lines) == 3 and "NN/004211/26" in report
    html = station.call("supervisor", "GET", f"/api/batches/{doc['id']}/report.html").text
    assert "NN/003876/26" in html and "recovered.csv" in html
    events = station.call("store", "GET", f"/api/batches/{doc['id']}/events").text
    assert '"state": "complete"' in events and '"done": 3' in events


def test_xlsx_batch(station: Station) -> None:
    station.load_register()
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["Serial", "note"])
    ws.append(["WX7Q2284115", "drill"])
    ws.append(["NOTHING999", "saw"])
    buf = io.BytesIO()
    wb.save(buf)
    r = _upload(station, "store.xlsx", buf.getvalue())
    assert r.status_code == 202, r.text
    doc = _finish(station, r.json()["id"])
    assert (doc["total"], doc["hits"]) == (2, 1)


def test_bad_rows_are_listed_and_nothing_is_stored(station: Station) -> None:
    csv = "identifier,note\nGOOD12345,a\n,b\nBAD\u03a9123,c\nOK98765,d,extra\n".encode()
    r = _upload(station, "bad.csv", csv)
    assert r.status_code == 422
    problems = {p["line"]: p["reason"] for p in r.json()["problems"]}
    assert set(problems) == {3, 4, 5}
    assert "empty" in problems[3]
    assert "fields" in problems[5]
    assert station.call("store", "GET", "/api/batches").json() == []


def test_not_utf8_and_no_identifier_column(station: Station) -> None:
    r = _upload(station, "x.csv", b"identifier\nABC\xff\xfe123\n")
    assert r.status_code == 422 and "UTF-8" in r.json()["detail"]
    r = _upload(station, "x.csv", b"name,colour\nbike,red\n")
    assert r.status_code == 422 and "identifier column" in r.json()["detail"]
    r = _upload(station, "x.pdf", b"%PDF-1.4")
    assert r.status_code == 422 and ".xlsx" in r.json()["detail"]


def test_oversize_upload_is_413(station: Station) -> None:
    station.state.ctx.settings.api.max_upload_mb = 1
    r = _upload(station, "big.csv", b"identifier\n" + b"ABCDEFGH12\n" * 120_000)
    assert r.status_code == 413
    assert station.call("store", "GET", "/api/batches").json() == []


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize(
    "name", ["../evil.png", "/etc/evil.png", "a/../../evil.png", "C:\\evil.png"]
)
def test_zip_path_traversal_rejected(sqlite_station: Station, name: str) -> None:
    r = _upload(sqlite_station, "captures.zip", _zip({name: b"\x89PNG....", "ok.png": b"x"}))
    assert r.status_code == 422
    assert name in [p["line"] for p in r.json()["problems"]]
    assert not (sqlite_station.tmp / "evil.png").exists()
    assert sqlite_station.call("store", "GET", "/api/batches").json() == []


def test_zip_bomb_rejected(sqlite_station: Station) -> None:
    bomb = _zip({"bomb.png": b"\0" * (50 * 1024 * 1024)})
    assert len(bomb) < 200_000
    r = _upload(sqlite_station, "captures.zip", bomb)
    assert r.status_code == 422
    assert "bomb" in str(r.json()["problems"])
    uploads = sqlite_station.state.ctx.settings.data_dir / "uploads"
    leftovers = [p for p in uploads.rglob("*") if p.is_file()] if uploads.exists() else []
    assert leftovers == []


def test_zip_that_is_not_a_zip(sqlite_station: Station) -> None:
    r = _upload(sqlite_station, "captures.zip", b"PK\x03\x04 truncated nonsense")
    assert r.status_code == 422 and "not a zip" in r.json()["detail"]


def test_zip_of_photographs_is_read_and_matched(sqlite_station: Station) -> None:
    import cv2
    import numpy as np
    import zxingcpp

    sqlite_station.load_register()
    code = zxingcpp.create_barcode("C02XK1ABJGH5", zxingcpp.barcode_format_from_str("Code128"))
    symbol = np.asarray(code.to_image(scale=3, add_quiet_zones=True))
    canvas = np.full((symbol.shape[0] + 80, symbol.shape[1] + 80), 255, np.uint8)
    canvas[40 : 40 + symbol.shape[0], 40 : 40 + symbol.shape[1]] = symbol
    ok, labelled = cv2.imencode(".png", cv2.cvtColor(canvas, cv2.COLOR_GRAY2BGR))
    ok2, blank = cv2.imencode(".png", np.full((120, 160, 3), 200, np.uint8))
    assert ok and ok2
    r = _upload(
        sqlite_station,
        "photos.zip",
        _zip(
            {
                "shelf/laptop.png": labelled.tobytes(),
                "shelf/box.png": blank.tobytes(),
                "shelf/broken.png": b"\x89PNG\r\n\x1a\n but the rest is missing",
            }
        ),
    )
    assert r.status_code == 202, r.text
    doc = _finish(sqlite_station, r.json()["id"])
    assert doc["state"] == "complete", doc
    assert (doc["kind"], doc["total"], doc["hits"]) == ("captures", 3, 1)
    assert [(h["label"], h["entry_identifier"]) for h in doc["hits_detail"]] == [
        ("laptop.png", "C02XK1ABJGH5")
    ]
    # the broken photograph is reported, not silently passed as "no match"
    assert [u["label"] for u in doc["unreadable"]] == ["broken.png"]
    report = sqlite_station.call("store", "GET", f"/api/batches/{doc['id']}/report.html").text
    assert "1 item(s) could not be checked" in report and "broken.png" in report


def test_declared_2gb_upload_is_refused_before_reading(sqlite_station: Station) -> None:
    def body():  # type: ignore[no-untyped-def]
        yield b"identifier\n"

    r = sqlite_station.call(
        "store",
        "POST",
        "/api/batches?filename=huge.csv",
        content=body(),
        headers={"Content-Length": str(2 * 1024**3)},
    )
    assert r.status_code == 413
    assert "limit" in r.json()["detail"]


def test_corrupt_xlsx_is_a_clear_error(sqlite_station: Station) -> None:
    r = _upload(sqlite_station, "serials.xlsx", b"PK\x03\x04 this is not a workbook")
    assert r.status_code == 422
    assert "XLSX" in r.json()["detail"]
    assert sqlite_station.call("store", "GET", "/api/batches").json() == []
