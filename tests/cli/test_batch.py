"""`station batch` on a spreadsheet and on a folder of photographs, with its reports."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers.cli import run_station
from tests.helpers.paths import SHARED

DEMO = Path(__file__).resolve().parents[2] / "station" / "data" / "demo_register.csv"


def station(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_station(tmp_path / "data", *args)


def test_spreadsheet_batch_reports_every_hit(tmp_path: Path) -> None:
    assert station(tmp_path, "register", "import", str(DEMO)).returncode == 0
    sheet = tmp_path / "recovered.csv"
    sheet.write_text(
        "serial,description\n"
        "C02XK1ABJGH5,laptop in bag\n"
        'C02XKIABJGH5,"laptop, label scuffed"\n'
        "NOTONREGISTER1,drill\n"
        "356938035643809,phone\n"
    )
    out_csv, out_html = tmp_path / "hits.csv", tmp_path / "hits.html"
    proc = station(tmp_path, "batch", str(sheet), "--csv", str(out_csv), "--report", str(out_html))
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(out_csv.open()))
    assert {r["line"] for r in rows} == {"2", "3", "5"}
    scuffed = next(r for r in rows if r["line"] == "3")
    assert scuffed["entry_identifier"] == "C02XK1ABJGH5" and "'I' for '1'" in scuffed["edits"]
    html = out_html.read_text()
    assert "NN/004211/26" in html and "NN/003876/26" in html
    assert "NOTONREGISTER1" not in html


def test_folder_of_photographs(tmp_path: Path) -> None:
    photos = SHARED / "testdata" / "barcodes" / "code128-1"
    if not photos.is_dir():
        pytest.skip(f"real photographs not at {photos}")
    folder = tmp_path / "captures"
    folder.mkdir()
    for name in ("1.png", "2.webp"):
        if (photos / name).exists():
            shutil.copy(photos / name, folder / name)
    proc = station(tmp_path, "batch", str(folder), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["kind"] == "captures" and doc["state"] == "complete"
    assert doc["total"] == len(list(folder.iterdir()))


def test_missing_path_is_named(tmp_path: Path) -> None:
    proc = station(tmp_path, "batch", str(tmp_path / "nowhere.csv"))
    assert proc.returncode == 2
    assert "nowhere.csv" in proc.stderr
