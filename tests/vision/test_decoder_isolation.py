"""A decoder that raises, aborts, segfaults or hangs costs its own reading, nothing more."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import zxingcpp
from pyzbar import pyzbar

from station.settings import VisionSettings
from station.vision import pipeline
from station.vision.barcodes import read_zbar
from station.vision.frames import CaptureFrames
from station.vision.io import read_each
from station.vision.isolation import DecoderPool
from tests.helpers.decoders import (
    aborting_decoder,
    hanging_decoder,
    pixel_count,
    raising_decoder,
    segfaulting_decoder,
)


@pytest.fixture(scope="module")
def pool() -> Iterator[DecoderPool]:
    p = DecoderPool(workers=2, timeout=60.0)
    p.warm_up()
    yield p
    p.close()


def _code128(text: str) -> np.ndarray:
    img = np.asarray(
        zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.Code128).to_image(scale=3)
    )
    img = np.repeat(img[:1], 90, axis=0)
    return np.pad(img, 60, constant_values=255)


@pytest.mark.parametrize(
    ("decoder", "reason"),
    [(aborting_decoder, "SIGABRT"), (segfaulting_decoder, "SIGSEGV")],
)
def test_a_crashing_decoder_costs_one_call_and_the_worker_is_replaced(
    pool: DecoderPool, decoder: object, reason: str
) -> None:
    gray = np.zeros((40, 50), np.uint8)
    before = pool.restarts
    outcome = pool.run("zbar", decoder, gray)  # type: ignore[arg-type]
    assert outcome.value is None and outcome.failure is not None
    assert outcome.failure.decoder == "zbar" and reason in outcome.failure.reason
    assert "zbar failed on this frame" in outcome.failure.note()
    # the next calls are served (by a fresh worker where the crashed one was)
    assert [pool.run("zxing", pixel_count, gray).value for _ in range(3)] == [2000] * 3
    assert pool.restarts == before + 1


def test_a_raising_decoder_is_noted_and_its_worker_keeps_serving(pool: DecoderPool) -> None:
    before = pool.restarts
    outcome = pool.run("zbar", raising_decoder, np.zeros((4, 4), np.uint8))
    assert outcome.failure is not None and "ZBarOrientation" in outcome.failure.reason
    assert pool.run("zbar", pixel_count, np.zeros((4, 4), np.uint8)).value == 16
    assert pool.restarts == before


def test_a_hanging_decoder_is_stopped_at_its_time_out() -> None:
    p = DecoderPool(workers=1, timeout=1.0)
    try:
        outcome = p.run("ocr", hanging_decoder, np.zeros((4, 4), np.uint8))
        assert outcome.failure is not None and "no answer within" in outcome.failure.reason
        assert p.run("ocr", pixel_count, np.zeros((2, 2), np.uint8), timeout=60).value == 4
    finally:
        p.close()


def test_the_check_completes_when_a_decoder_aborts_on_its_frame(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    white = cv2.cvtColor(_code128("SN-AB12345"), cv2.COLOR_GRAY2BGR)
    cfg = VisionSettings(ocr_enabled=False)
    monkeypatch.setitem(pipeline.WHITE_DECODERS, "zbar", aborting_decoder)
    result = pipeline.read_item(CaptureFrames(white=white), cfg)
    assert [i.raw for i in result.identifiers] == ["SN-AB12345"]  # zxing-cpp's reading stands
    assert any("zbar failed on this frame" in w and "SIGABRT" in w for w in result.warnings)
    monkeypatch.setitem(pipeline.WHITE_DECODERS, "zbar", read_zbar)
    again = pipeline.read_item(CaptureFrames(white=white), cfg)  # the next check: both again
    assert again.warnings == []
    assert again.identifiers[0].source == "barcode:CODE128"
    assert again.identifiers[0].confidence == 0.99  # both decoders agreed


def test_a_batch_of_photographs_goes_on_past_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = []
    for i, text in enumerate(("FIRST-1", "SECOND-2")):
        p = tmp_path / f"{i}.png"
        cv2.imwrite(str(p), _code128(text))
        paths.append(p)
    monkeypatch.setitem(pipeline.WHITE_DECODERS, "zxing", segfaulting_decoder)
    reads = list(read_each(paths, VisionSettings(ocr_enabled=False)))
    assert [r.error for r in reads] == [None, None]
    assert [[i.raw for i in r.result.identifiers] for r in reads if r.result] == [
        ["FIRST-1"],
        ["SECOND-2"],
    ]  # zbar alone still reads each; the crash is in each result's warnings
    assert all("SIGSEGV" in " ".join(r.result.warnings) for r in reads if r.result)


def test_zbar_reads_symbols_whose_orientation_it_cannot_tell(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """zbar returns -1 (unknown) for some symbols' orientation; through pyzbar's unsigned
    binding that is 4294967295 and pyzbar.decode raises ValueError for the whole frame.
    The station's zbar reader never asks for the orientation."""
    gray = _code128("ORIENT-1")
    monkeypatch.setattr(pyzbar, "zbar_symbol_get_orientation", lambda symbol: 4294967295)
    with pytest.raises(ValueError, match="4294967295 is not a valid ZBarOrientation"):
        pyzbar.decode(gray)
    assert [r.text for r in read_zbar(gray)] == ["ORIENT-1"]


def test_station_read_reports_every_file_and_counts_the_failures(tmp_path: Path) -> None:
    good = tmp_path / "good.png"
    cv2.imwrite(str(good), _code128("GOOD-123"))
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    missing = tmp_path / "missing.jpg"
    env = {**os.environ, "STATION_DATA_DIR": str(tmp_path / "data"), "STATION_DB_URL": ""}
    env.update(STATION_VISION__OCR_ENABLED="false", COLUMNS="250")
    proc = subprocess.run(
        [sys.executable, "-m", "station", "read", str(corrupt), str(good), str(missing)],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert proc.returncode == 2, proc.stderr
    assert "GOOD123" in proc.stdout  # normalised serial
    assert "corrupt.png" in proc.stderr and "missing.jpg: file does not exist" in proc.stderr
    assert "2 of 3 files could not be read" in proc.stderr
    assert "Traceback" not in proc.stderr
