"""`station eval vision`: scores generated scenes and photo suites; bad arguments are named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers.paths import SHARED


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "station", "eval", "vision", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_scenes_are_scored_against_ground_truth() -> None:
    proc = run("--scenes", "2", "--seed", "7")
    assert proc.returncode == 0, proc.stderr
    assert "generated scenes: 2" in proc.stdout
    assert "recall" in proc.stdout and "forensic_liquid" in proc.stdout


def test_photo_suite_is_compared_with_single_decoders(tmp_path: Path) -> None:
    src = SHARED / "testdata" / "barcodes" / "code128-1"
    suite = tmp_path / "suite" / "code128-1"
    suite.mkdir(parents=True)
    if src.is_dir():
        for f in sorted(src.iterdir())[:6]:
            (suite / f.name).write_bytes(f.read_bytes())
    else:  # make one labelled photograph ourselves
        import cv2
        import numpy as np
        import zxingcpp

        img = np.asarray(
            zxingcpp.create_barcode("SN12345", zxingcpp.BarcodeFormat.Code128).to_image(scale=3)
        )
        cv2.imwrite(str(suite / "1.png"), img)
        (suite / "1.txt").write_text("SN12345")
    proc = run(str(tmp_path / "suite"))
    assert proc.returncode == 0, proc.stderr
    header, row = (
        proc.stdout.splitlines()[1],
        next(line for line in proc.stdout.splitlines() if line.startswith("code128")),
    )
    assert "station" in header and "zxing-cpp" in header and "pyzbar" in header
    found, total = row.split()[1].split("/")
    assert int(total) >= 1 and int(found) >= 1


def test_nothing_to_evaluate_is_an_error(tmp_path: Path) -> None:
    proc = run()
    assert proc.returncode == 2 and "--scenes" in proc.stderr
    proc = run(str(tmp_path / "missing"))
    assert proc.returncode == 2 and "missing" in proc.stderr
