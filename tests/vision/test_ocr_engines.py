"""Both OCR engines behind one interface; RapidOCR loads only where and when text is read."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from hw_sim.scene.labels import available_fonts, label_photo
from station.settings import VisionSettings
from station.vision.barcodes import as_gray
from station.vision.frames import CaptureFrames
from station.vision.isolation import DecoderPool
from station.vision.ocr import read_text
from station.vision.ocr_engines import ENGINES
from station.vision.pipeline import read_item
from tests.helpers.decoders import has_module, raising_decoder

pytestmark = pytest.mark.skipif(not available_fonts(), reason="label fonts not installed")


@pytest.fixture(scope="module")
def pool() -> Iterator[DecoderPool]:
    p = DecoderPool(workers=1, timeout=120.0)
    yield p
    p.close()


def _clean_label(kind: str) -> int:
    """A seed whose label photo is of ``kind`` and has no blur, glare or fading."""
    for seed in range(7100, 7400):
        p = label_photo(seed)
        if p.kind == kind and not any(e.startswith(("blur", "glare", "low")) for e in p.effects):
            return seed
    raise AssertionError(f"no clean {kind} label among the seeds")


@pytest.mark.parametrize("kind", ["serial", "imei"])
def test_rapidocr_reads_a_printed_label_in_a_real_typeface(pool: DecoderPool, kind: str) -> None:
    photo = label_photo(_clean_label(kind))
    found = read_text(as_gray(photo.image), engine="rapidocr", runner=pool)
    fold = str.maketrans("OIL", "011")
    assert [(i.kind, i.value.translate(fold)) for i in found] == [
        (kind, photo.value.translate(fold))
    ], photo.lines
    assert all(i.source == "ocr" and i.confidence < 0.86 for i in found)


def test_the_engine_is_chosen_in_settings_and_its_model_loads_only_in_a_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    photo = label_photo(_clean_label("imei"))
    frames = CaptureFrames(white=photo.image)
    monkeypatch.setitem(ENGINES, "tesseract", raising_decoder)  # shows which engine ran
    chose_tesseract = read_item(frames, VisionSettings(ocr_engine="tesseract"))
    assert any(w.startswith("OCR skipped: tesseract failed") for w in chose_tesseract.warnings), (
        chose_tesseract.warnings
    )
    chose_rapid = read_item(frames, VisionSettings(ocr_engine="rapidocr"))
    assert chose_rapid.warnings == []
    assert ("imei", photo.value) in {(i.kind, i.value) for i in chose_rapid.identifiers}
    assert "rapidocr_onnxruntime" not in sys.modules  # the model lives in decoder workers
    fresh = DecoderPool(workers=1, timeout=120.0)
    try:
        assert fresh.run("probe", has_module, "rapidocr_onnxruntime").value is False
        read_text(as_gray(photo.image), engine="rapidocr", runner=fresh)
        assert fresh.run("probe", has_module, "rapidocr_onnxruntime").value is True
    finally:
        fresh.close()


def test_a_command_that_does_not_read_text_never_loads_an_ocr_model() -> None:
    code = (
        "import sys, numpy as np\n"
        "from station.vision.frames import CaptureFrames\n"
        "from station.vision.pipeline import read_item\n"
        "from station.settings import VisionSettings\n"
        "read_item(CaptureFrames(white=np.full((120, 160, 3), 200, np.uint8)),"
        " VisionSettings(ocr_enabled=False))\n"
        "print(sorted(m for m in sys.modules if m.startswith(('rapidocr', 'onnxruntime'))))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=os.environ
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
