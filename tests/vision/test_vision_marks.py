"""Fluorescent marks and the reference patch on rendered tray scenes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hw_sim.scene import Lighting, Scene, Splash, build_layers, demo_scene, render
from station.settings import VisionSettings
from station.vision.frames import CaptureFrames
from station.vision.pipeline import read_item
from station.vision.reference import measure_reference_patch


def _capture(scene: Scene, uv_level: float = 1.0, seed: int = 1) -> CaptureFrames:
    layers = build_layers(scene)
    rng = np.random.default_rng(seed)
    return CaptureFrames(
        white=render(layers, Lighting(white=1.0), 8.0, 1.0, rng),
        uv=render(layers, Lighting(uv=uv_level), 40.0, 1.0, rng),
        dark=render(layers, Lighting(), 40.0, 1.0, rng),
    )


def _overlap(a: tuple[int, int, int, int], cx: int, cy: int) -> bool:
    return a[0] <= cx <= a[0] + a[2] and a[1] <= cy <= a[1] + a[3]


def test_demo_scene_reads_serial_and_forensic_mark() -> None:
    result = read_item(_capture(demo_scene()))
    assert [i.value for i in result.identifiers] == ["C02XK1ABJGH5"]
    assert result.identifiers[0].source == "barcode:CODE128"
    (mark,) = result.marks
    assert mark.mark_class == "forensic_liquid" and mark.score >= 0.6
    assert _overlap(mark.bbox, 820, 470)
    doc = json.loads(result.model_dump_json(by_alias=True))
    assert doc["marks"][0]["class"] == "forensic_liquid"
    assert set(doc["timings_ms"]) >= {"zxing", "zbar", "marks", "uv_codes", "ocr", "total"}
    assert result.warnings == []


def test_brightener_paper_is_not_a_marking_but_a_small_dab_on_it_is() -> None:
    scene = Scene(
        splashes=(
            Splash(kind="brightener", cx=640, cy=360, rx=220, ry=150, strength=0.8),
            Splash(kind="forensic_liquid", cx=700, cy=380, rx=9, ry=7, strength=0.6),
            Splash(kind="uv_pen", cx=1000, cy=200, rx=30, ry=6),
        ),
        labels=(),
    )
    marks = read_item(_capture(scene)).marks
    threshold = VisionSettings().mark_score_threshold
    by_class = {m.mark_class: m for m in marks}
    assert by_class["brightener"].score < threshold
    assert by_class["brightener"].area_px > 50_000
    assert by_class["forensic_liquid"].score >= threshold
    assert _overlap(by_class["forensic_liquid"].bbox, 700, 380)
    assert by_class["uv_pen"].score >= threshold and _overlap(by_class["uv_pen"].bbox, 1000, 200)


def test_empty_tray_has_no_marks() -> None:
    result = read_item(_capture(Scene(labels=(), splashes=())))
    assert result.marks == [] and result.identifiers == []


@pytest.mark.parametrize("uv_level", [1.0, 0.5, 0.25])
def test_reference_patch_follows_lamp_strength(uv_level: float) -> None:
    frames = _capture(Scene(labels=(), splashes=()), uv_level=uv_level)
    assert frames.uv is not None
    level = measure_reference_patch(frames.uv, frames.dark, VisionSettings().reference_patch)
    full = measure_reference_patch(
        *_uv_dark(_capture(Scene(labels=(), splashes=()))), VisionSettings().reference_patch
    )
    assert level == pytest.approx(full * uv_level, rel=0.08)


def _uv_dark(frames: CaptureFrames) -> tuple[np.ndarray, np.ndarray | None]:
    assert frames.uv is not None
    return frames.uv, frames.dark


def test_weak_lamp_is_reported_and_faint_mark_still_found() -> None:
    scene = Scene(
        labels=(),
        splashes=(Splash(kind="forensic_liquid", cx=500, cy=300, rx=14, ry=10, strength=0.5),),
    )
    result = read_item(_capture(scene, uv_level=0.3))
    assert any("UV lamp weak" in w for w in result.warnings)
    assert [m.mark_class for m in result.marks] == ["forensic_liquid"]


def test_long_uv_exposure_lifts_a_mark_lost_in_noise() -> None:
    scene = Scene(
        labels=(),
        splashes=(Splash(kind="forensic_liquid", cx=640, cy=360, rx=7, ry=5, strength=0.12),),
        noise_sigma=4.0,
    )
    layers = build_layers(scene)
    rng = np.random.default_rng(11)
    white = render(layers, Lighting(white=1.0), 8.0, 1.0, rng, noise_sigma=4.0)
    uv = render(layers, Lighting(uv=0.4), 40.0, 1.0, rng, noise_sigma=4.0)
    uv_long = render(layers, Lighting(uv=0.4), 160.0, 1.0, rng, noise_sigma=4.0)
    dark = render(layers, Lighting(), 40.0, 1.0, rng, noise_sigma=4.0)
    short_only = read_item(CaptureFrames(white=white, uv=uv, dark=dark))
    both = read_item(CaptureFrames(white=white, uv=uv, dark=dark, uv_long=uv_long))
    assert not [m for m in short_only.marks if _overlap(m.bbox, 640, 360)]
    found = [m for m in both.marks if _overlap(m.bbox, 640, 360)]
    assert [m.mark_class for m in found] == ["forensic_liquid"]
    assert "uv_merge" in both.timings_ms
