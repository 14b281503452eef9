"""The UV-code search spends its time only where a label can still be found."""

from __future__ import annotations

import numpy as np

from hw_sim.scene import Lighting, Scene, build_layers, render
from hw_sim.scene.model import Label
from station.vision.marks import GlowSource
from station.vision.uvcodes import _views, read_first_of, read_uv_codes

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


def test_both_labels_are_still_read_with_their_regions() -> None:
    glow = _uv_glow(_two_labels())
    regions = [(380, 260, 90, 90), (820, 260, 90, 90)]
    reads = read_uv_codes(glow, regions)
    assert sorted(r.text for r in reads) == ["SW-7K3M-9QXA-3", "SW-7K3M-9QXA-H"]
