"""The UV-code search spends its time only where a label can still be found."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from hw_sim.scene import Lighting, Scene, build_layers, render
from hw_sim.scene.model import Label
from station.vision.isolation import InProcess, Outcome
from station.vision.marks import GlowSource, find_marks
from station.vision.uvcodes import _views, read_first_of, read_uv_codes, rest_of_glow

_FORMATS = "QRCode,MicroQRCode,DataMatrix,Aztec"


def _uv_glow(scene: Scene) -> GlowSource:
    layers = build_layers(scene)
    rng = np.random.default_rng(5)
    uv = render(layers, Lighting(uv=0.6), 40.0, 1.0, rng)
    dark = render(layers, Lighting(), 40.0, 1.0, rng)
    return GlowSource(uv, dark)


def _two_labels() -> Scene:
    return Scene(
        labels=(
            Label("SW-7K3M-9QXA-H", 420, 300, "DataMatrix", 5, ink="uv"),
            Label("SW-7K3M-9QXA-3", 860, 300, "QRCode", 5, ink="uv"),
        )
    )


def test_region_inside_a_code_already_read_is_skipped_and_others_are_not() -> None:
    glow = _uv_glow(_two_labels())
    whole = _views(glow.crop(0, 0, glow.shape[1], glow.shape[0]), None)[:1]
    first = read_first_of([whole], [1.0], _FORMATS)[0]
    assert first, "the whole-frame view should read at least one label"
    x, y, w, h = first[0].bbox
    inside = (x + w // 4, y + h // 4, w // 2, h // 2)
    crop = glow.crop(x, y, x + w, y + h)
    views = _views(crop, None)
    alone = read_first_of([views], [2.0], _FORMATS)[0]
    assert [r.text for r in alone] == [first[0].text]  # the crop decodes when tried alone
    geometry = [(0, 0, 1.0, None), (x, y, 1.0, inside)]
    out = read_first_of([whole, views], [1.0, 2.0], _FORMATS, geometry)
    assert out[1] == []  # the same label again: not searched a second time


class _Recording(InProcess):
    """Runs in-process and keeps the places each search was given."""

    def __init__(self) -> None:
        self.places: list[list[np.ndarray]] = []

    def run(self, decoder: str, fn: Any, *args: Any, timeout: float | None = None) -> Outcome[Any]:
        self.places.extend(args[0])
        return super().run(decoder, fn, *args)


def test_both_labels_are_read_from_the_mark_finders_regions_without_a_frame_wide_search() -> None:
    glow = _uv_glow(_two_labels())
    regions = [m.bbox for m in find_marks(glow.uv, glow.dark)]
    runner = _Recording()
    reads = read_uv_codes(glow, regions, runner=runner)
    assert sorted(r.text for r in reads) == ["SW-7K3M-9QXA-3", "SW-7K3M-9QXA-H"]
    # every glow was shaped like a label: only crops around them were searched
    h, w = glow.shape[:2]
    assert runner.places
    assert all(
        v.shape[0] < h // 2 and v.shape[1] < w // 2 for views in runner.places for v in views
    )


def test_a_label_merged_with_other_glow_is_read_from_the_rest_of_the_glow() -> None:
    glow = _uv_glow(_two_labels())
    # one long region over the Data Matrix and the glow beside it: not shaped like a label
    merged = (400, 290, 480, 110)
    runner = _Recording()
    reads = read_uv_codes(glow, [merged], runner=runner)
    assert "SW-7K3M-9QXA-H" in [r.text for r in reads]
    h, w = glow.shape[:2]
    assert all(v.shape[0] * v.shape[1] < h * w for views in runner.places for v in views)
    assert read_uv_codes(glow, [merged], whole_frame=False) == []


def test_the_rest_of_the_glow_is_each_region_grown_by_a_labels_size_merged() -> None:
    shape = (1080, 1920)  # margin: 1080 / 8 = 135 px
    near = [(500, 500, 10, 10), (700, 500, 10, 10)]  # two pieces of one split label
    assert rest_of_glow(near, shape) == [(365, 365, 480, 280)]
    far = [(100, 100, 10, 10), (1700, 900, 10, 10)]
    assert sorted(rest_of_glow(far, shape)) == [(0, 0, 245, 245), (1565, 765, 280, 280)]
    assert rest_of_glow([(100, 100, 1500, 700)], shape) == [(0, 0, 1920, 1080)]  # most of it
    # a label crop that looked smooth at its own contrast is searched as it is, merged
    crop = (700, 450, 100, 100)
    assert rest_of_glow(near, shape, [crop]) == [(365, 365, 480, 280)]
    assert rest_of_glow([], shape, [crop]) == [crop]


def test_labels_turned_any_way_are_read_without_zxings_turned_passes() -> None:
    glow = _uv_glow(_two_labels())
    crop = glow.crop(380, 260, 560, 440)  # the Data Matrix and its quiet zone
    views = _views(crop, None)
    for angle in (90.0, 180.0, 30.0, -65.0):
        m = cv2.getRotationMatrix2D((90.0, 90.0), angle, 1.0)
        turned = [cv2.warpAffine(v, m, (180, 180), borderMode=cv2.BORDER_REPLICATE) for v in views]
        assert [r.text for r in read_first_of([turned], [2.0], _FORMATS)[0]] == ["SW-7K3M-9QXA-H"]
