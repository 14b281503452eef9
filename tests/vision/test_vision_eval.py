"""The evaluation tools score what they should (found, wrong, per symbology)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import zxingcpp

from station.errors import InputError
from station_tools.photo_eval import score
from station_tools.vision_eval import run_eval


def _code(text: str, fmt: str) -> np.ndarray:
    img = np.asarray(
        zxingcpp.create_barcode(text, zxingcpp.barcode_format_from_str(fmt)).to_image(
            scale=3, add_quiet_zones=True
        )
    )
    if img.shape[0] < 20:
        img = np.repeat(img[:1], 60, axis=0)
    return np.pad(img, 20, constant_values=255)


def test_photo_scoring_counts_found_wrong_and_false_positives(tmp_path: Path) -> None:
    (tmp_path / "code128-1").mkdir()
    (tmp_path / "falsepositives-1").mkdir()
    cv2.imwrite(str(tmp_path / "code128-1" / "a.png"), _code("ABC-123", "Code128"))
    (tmp_path / "code128-1" / "a.txt").write_text("ABC-123")
    cv2.imwrite(str(tmp_path / "code128-1" / "b.png"), _code("XYZ-999", "Code128"))
    (tmp_path / "code128-1" / "b.txt").write_text("NOT-THIS")  # a mislabelled image: wrong
    cv2.imwrite(str(tmp_path / "code128-1" / "c.png"), np.full((80, 200), 255, np.uint8))
    (tmp_path / "code128-1" / "c.txt").write_text("MISSING")  # nothing to read: a miss
    cv2.imwrite(str(tmp_path / "falsepositives-1" / "n.png"), _code("5012345678900", "EAN13"))
    table, unreadable = score(tmp_path)
    assert unreadable == []
    for reader in ("station", "zxing-cpp", "pyzbar", "zxing+pyzbar"):
        t = table[reader]["code128"]
        assert (t.images, t.found, t.wrong) == (3, 1, 1), reader
        fp = table[reader]["falsepositives"]
        assert (fp.images, fp.found, fp.wrong) == (1, 0, 1), reader


def test_run_eval_prints_tables_and_returns_numbers(tmp_path: Path) -> None:
    lines: list[str] = []
    summary = run_eval([], scenes=3, seed=7, speed=False, out=lines.append)
    assert summary["scenes"]["count"] == 3
    assert "marks (truth = forensic_liquid, uv_pen)" in "\n".join(lines)
    with pytest.raises(InputError, match="not a folder"):
        run_eval([tmp_path / "nope"], scenes=0, speed=False, out=lines.append)
