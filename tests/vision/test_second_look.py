"""The second look: codes a single full-frame pass misses are found around the places the
localiser points at, and what it finds is reported only when the looks confirm it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import zxingcpp

from station.settings import VisionSettings
from station.vision.barcodes import BarcodeRead, read_barcodes
from station.vision.frames import CaptureFrames
from station.vision.pipeline import read_item
from station.vision.second_look import Place, Seen, bar_like, confirm, second_look, turns
from tests.helpers.decoders import CountingRunner


def _short_bars(text: str, fmt: str, length: int = 420, height: int = 34) -> np.ndarray:
    """A 1D symbol with short bars: tilted, no single scan line crosses all of it."""
    code = zxingcpp.create_barcode(text, zxingcpp.barcode_format_from_str(fmt))
    img = np.asarray(code.to_image(scale=3, add_quiet_zones=True))
    return cv2.resize(img, (length, height), interpolation=cv2.INTER_AREA)


def _tilted_frame(symbol: np.ndarray, angle: float, contrast: float = 1.0) -> np.ndarray:
    """A 1280x720 grey tray frame with the symbol pasted on a pale label, turned ``angle``."""
    w, h = 1280, 720
    frame = np.full((h, w), 120, np.float32)
    sh, sw = symbol.shape
    label = np.full((sh + 60, sw + 60), 235, np.float32)
    label[30 : 30 + sh, 30 : 30 + sw] = 235 - (255 - symbol.astype(np.float32)) * 0.85 * contrast
    lh, lw = label.shape
    x0, y0 = (w - lw) // 2 - 150, (h - lh) // 2 + 40
    frame[y0 : y0 + lh, x0 : x0 + lw] = label
    m = cv2.getRotationMatrix2D((x0 + lw / 2, y0 + lh / 2), angle, 1.0)
    frame = cv2.warpAffine(frame, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=120)
    frame = cv2.GaussianBlur(frame, (0, 0), 0.7)
    frame += np.random.default_rng(7).normal(0, 3, frame.shape)
    return cv2.cvtColor(np.clip(frame, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)


@pytest.mark.parametrize(
    ("text", "fmt", "angle"),
    [("SN-4471-XK-2209", "Code128", 38.0), ("4006381333931", "EAN13", -42.0)],
)
def test_a_tilted_short_symbol_is_found_only_by_the_second_look(
    text: str, fmt: str, angle: float
) -> None:
    frame = _tilted_frame(_short_bars(text, fmt), angle)
    assert read_barcodes(frame, second_look=0) == [], "the full-frame pass should miss it"
    assert [r.text for r in read_barcodes(frame)] == [text]


def test_the_pipeline_takes_the_second_look_unless_told_not_to() -> None:
    frame = _tilted_frame(_short_bars("SN-4471-XK-2209", "Code128"), 38.0)
    quick = VisionSettings(ocr_enabled=False, barcode_second_look=0, isolate_decoders=False)
    full = quick.model_copy(update={"barcode_second_look": 3})
    values = [i.raw for i in read_item(CaptureFrames(white=frame), full).identifiers]
    assert "SN-4471-XK-2209" in values
    assert read_item(CaptureFrames(white=frame), quick).identifiers == []


def test_a_striped_texture_without_a_code_yields_nothing() -> None:
    rng = np.random.default_rng(21)
    h, w = 720, 1280
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    # fabric-like stripes of drifting width and phase, at an angle, plus weave noise
    phase = 0.045 * (xx * 0.8 + yy * 0.6) + 0.6 * np.sin(yy / 37.0) + 0.3 * np.sin(xx / 53.0)
    frame = 140 + 70 * np.sign(np.sin(phase)) + rng.normal(0, 10, (h, w))
    frame = cv2.GaussianBlur(frame.astype(np.float32), (0, 0), 1.0)
    img = cv2.cvtColor(np.clip(frame, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    assert read_barcodes(img) == []


def test_turns_count_bars_not_a_lone_edge() -> None:
    bars = np.tile(np.repeat(np.array([40.0, 220.0]), 4), 12)  # 12 dark and 12 light bars
    assert turns(bars, 30.0) == 22  # 23 changes between bars; the first sets the way
    edge = np.concatenate([np.full(50, 60.0), np.full(50, 200.0)]) + np.sin(np.arange(100))
    assert turns(edge, 30.0) == 0
    assert turns(bars * 0.05, 30.0) == 0  # below the step: no turn


def test_a_symbol_turns_like_bars_an_items_outline_does_not() -> None:
    symbol = _short_bars("SN-4471-XK-2209", "Code128")
    assert bar_like(symbol)
    outline = np.full((120, 400), 200, np.uint8)
    outline[:, 150:] = 70  # a dark item's edge on the pale tray
    assert not bar_like(outline)
    assert not bar_like(outline.T)


def test_plain_items_get_no_second_look_but_a_symbol_still_does() -> None:
    frame = np.full((720, 1280), 120, np.uint8)
    cv2.rectangle(frame, (200, 150), (900, 600), 60, -1)  # a plain dark item
    cv2.rectangle(frame, (20, 15), (80, 60), 180, -1)  # the tray's reference patch
    frame = cv2.GaussianBlur(frame, (0, 0), 1.0)
    runner = CountingRunner()
    assert second_look(frame, [], [], runner) == []
    assert runner.calls == 0  # no decoder was asked to look at an edge
    symbol = cv2.cvtColor(
        _tilted_frame(_short_bars("SN-4471-XK-2209", "Code128"), 38.0), cv2.COLOR_BGR2GRAY
    )
    runner = CountingRunner()
    assert [r.text for r in second_look(symbol, [], [], runner)] == ["SN-4471-XK-2209"]
    assert runner.calls > 0


_PLACE = Place(300, 200, 400, 80, 0.0, "bars")


def _seen(sym: str, text: str, decoder: str, variant: int, failed: bool = False) -> Seen:
    read = BarcodeRead(sym, text, (120, 170, 360, 60), (decoder,), 0.9, failed=failed)
    return Seen((decoder, variant), read)


def test_a_read_no_second_look_confirms_is_dropped() -> None:
    assert confirm([_seen("CODE128", "AB-1234", "zxing", 0)], _PLACE) == []
    two = [_seen("CODE128", "AB-1234", "zxing", 0), _seen("CODE128", "AB-1234", "zxing", 1)]
    assert [r.text for r in confirm(two, _PLACE)] == ["AB-1234"]


def test_rival_texts_at_one_place_cancel_each_other() -> None:
    seen = [
        _seen("EAN13", "4006381333931", "zxing", 0),
        _seen("EAN13", "4006381333931", "zbar", 0),
        _seen("EAN13", "4006381333931", "zxing", 2),
        _seen("EAN13", "4006381333948", "zbar", 1),
    ]
    assert confirm(seen, _PLACE) == []


def test_weakly_checked_symbologies_need_both_decoders() -> None:
    one = [_seen("CODE39", "SN-12345", "zxing", v) for v in range(3)]
    assert confirm(one, _PLACE) == []
    both = [*one, _seen("CODE39", "SN-12345", "zbar", 0)]
    assert [r.text for r in confirm(both, _PLACE)] == ["SN-12345"]


def test_a_short_symbol_inside_a_longer_one_is_dropped() -> None:
    upce = [_seen("UPCE", "01234565", d, v) for d in ("zxing", "zbar") for v in (0, 1)]
    assert [r.text for r in confirm(upce, _PLACE)] == ["01234565"]
    # zxing-cpp saw a UPC-A there whose check digit failed: the UPC-E is a piece of it
    assert confirm([*upce, _seen("UPCA", "012345000065", "zxing", 0, failed=True)], _PLACE) == []


def test_an_itf_read_by_zxing_alone_needs_three_looks() -> None:
    two = [_seen("ITF", "1515", "zxing", v) for v in (0, 1)]
    assert confirm(two, _PLACE) == []
    three = [*two, _seen("ITF", "1515", "zxing", 3)]
    assert [r.text for r in confirm(three, _PLACE)] == ["1515"]
    assert confirm([*three, _seen("ITF", "151", "zxing", 2)], _PLACE) == []  # odd: a fragment
