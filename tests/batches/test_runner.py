"""`station batch` end to end through the real CLI (a subprocess), and a folder of photographs."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from station.batches.runner import run_batch
from station.context import StationContext
from station.settings import StationSettings


def _env(tmp: Path) -> dict[str, str]:
    return {
        **os.environ,
        "STATION_DATA_DIR": str(tmp / "data"),
        "STATION_DB_URL": f"sqlite:///{tmp / 'cli.db'}",
    }


def test_cli_batch_writes_reports(tmp_path: Path) -> None:
    reg = tmp_path / "reg.csv"
    reg.write_text(
        "identifier,kind,status,category,brand,model,crime_ref,force,reported_on\n"
        "BIKE7788990,serial,stolen,bike,Trek,FX,NN/7/26,Northants,2026-03-01\n"
    )
    env = _env(tmp_path)
    imp = subprocess.run(
        [sys.executable, "-m", "station", "register", "import", str(reg)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert imp.returncode == 0, imp.stderr
    items = tmp_path / "items.csv"
    items.write_text("identifier\nNOPE0001\nbike-7788990\n")
    report, hits = tmp_path / "r.html", tmp_path / "hits.csv"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "station",
            "batch",
            str(items),
            "--report",
            str(report),
            "--csv",
            str(hits),
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert (summary["state"], summary["total"], summary["hits"]) == ("complete", 2, 1)
    rows = list(csv.DictReader(io.StringIO(hits.read_text())))
    assert [(r["line"], r["entry_identifier"], r["crime_ref"]) for r in rows] == [
        ("3", "BIKE7788990", "NN/7/26")
    ]
    assert "NN/7/26" in report.read_text()
    bad = tmp_path / "bad.csv"
    bad.write_text("identifier,x\n,1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "station", "batch", str(bad)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "line 2" in proc.stderr


def test_folder_of_photographs(tmp_path: Path) -> None:
    folder = tmp_path / "shelf"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.full((100, 140, 3), 180, np.uint8))
    (folder / "notes.txt").write_text("not an image")
    settings = StationSettings(data_dir=tmp_path / "d", db_url=f"sqlite:///{tmp_path / 'f.db'}")
    ctx = StationContext(settings)
    try:
        summary = run_batch(ctx, folder, None, None, officer="pc-1", quiet=True)
    finally:
        ctx.close()
    assert (summary["kind"], summary["total"], summary["done"]) == ("captures", 1, 1)
