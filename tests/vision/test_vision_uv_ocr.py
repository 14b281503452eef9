"""UV-ink kit codes, OCR of printed serials and pen postcodes, GS1, overlays."""

from __future__ import annotations

import numpy as np
import pytest

from hw_sim.scene import Lighting, Scene, build_layers, render
from hw_sim.scene.model import Label, PenMark, TextLabel
from station.domain import FluorescentMark, Identifier, ReadResult
from station.settings import VisionSettings
from station.vision import gs1
from station.vision.frames import CaptureFrames
from station.vision.overlay import draw_overlay
from station.vision.pipeline import read_item


def _capture(scene: Scene, uv_level: float = 1.0) -> CaptureFrames:
    layers = build_layers(scene)
    rng = np.random.default_rng(3)
    return CaptureFrames(
        white=render(layers, Lighting(white=1.0), 8.0, 1.0, rng),
        uv=render(layers, Lighting(uv=uv_level), 40.0, 1.0, rng),
        dark=render(layers, Lighting(), 40.0, 1.0, rng),
    )


@pytest.mark.parametrize("symbology", ["DataMatrix", "QRCode"])
def test_uv_ink_mark_code_read_from_uv_frame_only(symbology: str) -> None:
    scene = Scene(labels=(Label("SW-7K3M-9QXA-H", 520, 260, symbology, 5, ink="uv", angle=12),))
    result = read_item(_capture(scene, uv_level=0.5))
    codes = [i for i in result.identifiers if i.source.startswith("uv_code:")]
    assert [(c.kind, c.value, c.frame) for c in codes] == [("mark_code", "SW-7K3M-9QXA-H", "uv")]
    # invisible under white light: nothing read there
    assert not any(i.source.startswith("barcode:") for i in result.identifiers)


@pytest.mark.parametrize(
    ("ink", "ground", "item", "inverse"),
    [
        ("yellow_green", "white_paper", (200, 205, 210), False),  # glows like forensic liquid
        ("blue_white", "label", (40, 40, 45), False),  # glows like a brightener
        ("blue", "item", (60, 70, 65), True),  # flood-printed ground, bare modules
        ("red", "white_paper", (90, 90, 90), False),
    ],
)
def test_kit_labels_are_read_in_every_ink_and_their_glow_is_the_label(
    ink: str, ground: str, item: tuple[int, int, int], inverse: bool
) -> None:
    label = Label(
        "SW-7K3M-9QXA-3",
        520,
        260,
        "DataMatrix",
        5,
        ink="uv",
        angle=-8,
        ink_colour=ink,
        glow=0.6,
        ground=ground,  # type: ignore[arg-type]
        bleed_px=0.6,
        tilt=0.12,
        inverse=inverse,
    )
    scene = Scene(labels=(label,), item_bgr=item, uv_falloff=0.4, uv_falloff_seed=9)
    result = read_item(_capture(scene), VisionSettings(ocr_enabled=False))
    codes = [(i.kind, i.value, i.valid) for i in result.identifiers if i.frame == "uv"]
    assert codes == [("mark_code", "SW-7K3M-9QXA-3", True)]
    near = [m for m in result.marks if 480 < m.bbox[0] + m.bbox[2] / 2 < 700]
    assert near and all(m.mark_class == "uv_pen" for m in near), near


def test_mark_code_with_wrong_check_character_is_flagged_invalid() -> None:
    scene = Scene(labels=(Label("SW-7K3M-9QXA-A", 520, 260, "DataMatrix", 5, ink="uv"),))
    codes = [i for i in read_item(_capture(scene)).identifiers if i.frame == "uv"]
    assert [(c.kind, c.valid) for c in codes] == [("mark_code", False)]


def test_printed_imei_and_pen_postcode_by_ocr() -> None:
    scene = Scene(
        texts=(TextLabel(("IMEI", "356938035643809"), 380, 220, scale=1.2),),
        pen_marks=(PenMark("12 NN1 4AB", 420, 480, scale=1.1, thickness=3),),
    )
    result = read_item(_capture(scene))
    ocr = {(i.kind, i.value) for i in result.identifiers if i.source == "ocr"}
    assert ("imei", "356938035643809") in ocr
    # where the spaces fall is the reader's guess ("12 NN1" and "12N N1" are both a house and
    # an outward code); the matcher compares postcode marks without them
    marks = {v.replace(" ", "") for kind, v in ocr if kind == "postcode_mark"}
    assert marks == {"12NN14AB"}
    for i in result.identifiers:
        assert i.confidence <= 0.85  # OCR never claims barcode certainty


def test_imei_failing_luhn_is_not_reported_by_ocr() -> None:
    scene = Scene(texts=(TextLabel(("IMEI", "356938035643801"), 380, 220, scale=1.2),))
    result = read_item(_capture(scene))
    assert not [i for i in result.identifiers if i.kind == "imei"]


def test_ocr_can_be_switched_off() -> None:
    from station.settings import VisionSettings

    scene = Scene(texts=(TextLabel(("IMEI", "356938035643809"), 380, 220, scale=1.2),))
    result = read_item(_capture(scene), VisionSettings(ocr_enabled=False))
    assert result.identifiers == [] and "ocr" not in result.timings_ms


def test_gs1_element_string_parsing() -> None:
    data = "0109504000059101" + "21SN-778899" + gs1.GS + "10LOT7" + gs1.GS + "17261231"
    assert gs1.parse(data) == [
        ("01", "09504000059101"),
        ("21", "SN-778899"),
        ("10", "LOT7"),
        ("17", "261231"),
    ]
    assert gs1.serial_and_gtin(data) == ("SN-778899", "09504000059101")
    with pytest.raises(gs1.GS1ParseError):
        gs1.parse("01123")


def test_gs1_serial_becomes_a_serial_identifier() -> None:
    scene = Scene(
        labels=(Label("(01)09504000059101(21)SN778899", 500, 250, "DataMatrix", 4, gs1=True),)
    )
    ids = {(i.kind, i.value) for i in read_item(_capture(scene)).identifiers}
    assert ids == {("serial", "SN778899"), ("barcode", "09504000059101")}


def test_overlay_outlines_marks_and_identifiers() -> None:
    image = np.full((300, 400, 3), 30, np.uint8)
    result = ReadResult(
        identifiers=[
            Identifier(
                kind="serial",
                value="ABC123",
                raw="ABC123",
                source="ocr",
                confidence=0.7,
                valid=True,
                bbox=(20, 20, 100, 30),
            )
        ],
        marks=[
            FluorescentMark(
                bbox=(200, 150, 60, 40), area_px=1800, score=0.9, **{"class": "forensic_liquid"}
            )
        ],
    )
    out = draw_overlay(image, result)
    assert out.shape == image.shape and not np.shares_memory(out, image)
    assert (image == 30).all()  # the evidence frame itself is untouched
    assert tuple(out[150, 230]) == (0, 215, 255)  # mark outline in the forensic colour
    assert tuple(out[35, 20]) == (60, 200, 60)  # identifier outline
