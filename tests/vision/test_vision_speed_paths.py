"""The shortcuts that make a check fast must not change what it reads: text is looked for
only where strokes cross both ways, a smooth UV glow is not searched for a code, and the
contrast stretch takes its percentiles from a histogram."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import zxingcpp

from station.vision.ocr import read_page, split_by_area
from station.vision.ocr_engines import rapidocr_page, text_regions
from station.vision.uvcodes import _MIN_MODULE_EDGES, module_edges, percentiles_u8
from tests.helpers.decoders import CountingRunner


def _page_with_text_and_a_box() -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A grey tray with a pale label (straight edges only) and a text line elsewhere."""
    page = np.full((540, 960), 110, np.uint8)
    cv2.rectangle(page, (40, 40), (400, 300), 200, -1)  # a label: four long straight edges
    cv2.putText(page, "S/N 4HX92KQ7", (520, 420), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 20, 3)
    (tw, th), base = cv2.getTextSize("S/N 4HX92KQ7", cv2.FONT_HERSHEY_SIMPLEX, 1.2, 3)
    return page, (520, 420 - th, tw, th + base)


def _inside(inner: tuple[int, int, int, int], outer: tuple[int, int, int, int]) -> bool:
    ix, iy, iw, ih = inner
    ox, oy, ow, oh = outer
    return ox <= ix and oy <= iy and ix + iw <= ox + ow and iy + ih <= oy + oh


def test_text_regions_hold_the_text_line_and_skip_straight_edges() -> None:
    page, text_box = _page_with_text_and_a_box()
    regions = text_regions(page)
    assert [r for r in regions if _inside(text_box, r)], regions
    label_corner_free = [r for r in regions if r[0] < 400 and r[1] < 300]
    assert label_corner_free == [], f"a straight-edged label became a text region: {regions}"
    # a few percent of the page, not the page: the detector's cost follows the pixels
    assert sum(w * h for *_, w, h in regions) < 0.1 * page.size


def test_text_regions_leave_out_decoded_codes() -> None:
    page = np.full((540, 960), 200, np.uint8)
    code = zxingcpp.write_barcode(zxingcpp.BarcodeFormat.DataMatrix, "SW-7HOJ-VMEU-K")
    module = cv2.resize(np.asarray(code), None, fx=6, fy=6, interpolation=cv2.INTER_NEAREST)
    h, w = module.shape
    page[100 : 100 + h, 600 : 600 + w] = module
    assert text_regions(page), "a Data Matrix is dense both ways: found unless excluded"
    assert text_regions(page, [(600, 100, w, h)]) == []


def _code_view(blur: float) -> np.ndarray:
    code = np.asarray(zxingcpp.write_barcode(zxingcpp.BarcodeFormat.QRCode, "SW-INTU-DT6M-9"))
    big = cv2.resize(code, None, fx=5, fy=5, interpolation=cv2.INTER_NEAREST)
    view = cv2.copyMakeBorder(big, 30, 30, 30, 30, cv2.BORDER_CONSTANT, value=0)
    return cv2.GaussianBlur(view, (0, 0), blur) if blur else view


def _smooth_glow() -> np.ndarray:
    view = np.zeros((220, 260), np.uint8)
    cv2.ellipse(view, (130, 110), (90, 70), 20, 0, 360, 255, -1)
    return cv2.GaussianBlur(view, (0, 0), 1.0)


@pytest.mark.parametrize("blur", [0.0, 1.5])
def test_a_code_has_module_edges_a_smooth_glow_has_not(blur: float) -> None:
    assert module_edges(_code_view(blur)) >= _MIN_MODULE_EDGES
    assert module_edges(_smooth_glow()) < _MIN_MODULE_EDGES


def test_histogram_percentiles_equal_numpy_s() -> None:
    rng = np.random.default_rng(3)
    for k in range(200):
        h, w = int(rng.integers(1, 40)), int(rng.integers(1, 40))
        img = rng.integers(0, 256, (h, w), dtype=np.uint8)
        if k % 4 == 0:
            img[:] = rng.integers(0, 256)  # flat images too
        qs = (0.0, 1.0, 50.0, 99.8, 100.0)
        assert np.allclose(percentiles_u8(img, qs), np.percentile(img, qs))


def test_regions_are_shared_between_two_calls_of_about_equal_area() -> None:
    regions = [(0, 0, 100, 10), (0, 50, 40, 40), (0, 100, 30, 30), (0, 150, 10, 10)]
    halves = split_by_area(regions)
    assert sorted(i for h in halves for i in h) == [0, 1, 2, 3]
    assert halves == [[1, 3], [0, 2]]  # 1600 + 100 px against 1000 + 900
    assert split_by_area(regions[:1]) == [[0]]


def test_a_page_read_in_two_calls_gives_the_lines_of_one_call() -> None:
    pytest.importorskip("rapidocr_onnxruntime")
    page = np.full((1080, 1920), 200, np.uint8)
    for i, (x, y) in enumerate([(100, 150), (1100, 300), (300, 800), (1300, 900)]):
        cv2.putText(page, f"S/N 4HX9{i}KQ7", (x, y), cv2.FONT_HERSHEY_SIMPLEX, 2.0, 20, 4)
    runner = CountingRunner()
    split = read_page(page, runner)
    assert runner.calls == 2  # four text lines far apart: two calls, one per core
    whole = rapidocr_page(page)
    assert split.value == whole
    assert len(whole) >= 4, whole  # every line read, in region order either way
