"""The scene generator and renderer the simulated camera and the vision evaluation share."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hw_sim.scene import Lighting, Scene, build_layers, demo_scene, render
from hw_sim.scene.generate import random_scene, scene_truth
from hw_sim.scene.model import Confounder, Label, PenMark, Splash


def test_same_seed_same_scene_and_truth() -> None:
    a, b = random_scene(42), random_scene(42)
    assert a == b
    assert scene_truth(a) == scene_truth(b)
    assert random_scene(43) != a


def test_truth_is_json_with_boxes_inside_the_frame() -> None:
    for seed in range(5):
        scene = random_scene(seed)
        truth = json.loads(json.dumps(scene_truth(scene)))
        assert truth["width"] == 1280 and truth["height"] == 720
        assert 0.3 <= truth["uv_level"] <= 1.0
        for obj in truth["objects"]:
            x, y, w, h = obj["bbox"]
            assert w > 0 and h > 0
            assert -60 <= x < 1280 and -60 <= y < 720, obj


def test_scene_json_round_trip() -> None:
    scene = random_scene(7)
    again = Scene.from_json(json.loads(json.dumps(scene.to_json())))
    assert again == scene


def test_lighting_controls_what_the_camera_sees() -> None:
    scene = Scene(
        labels=(Label("SN123456", 400, 200),),
        splashes=(Splash("forensic_liquid", 900, 500, 30, 20),),
    )
    layers = build_layers(scene)
    rng = np.random.default_rng(0)
    dark = render(layers, Lighting(), 40.0, 1.0, rng, noise_sigma=0)
    uv = render(layers, Lighting(uv=1.0), 40.0, 1.0, rng, noise_sigma=0)
    half_uv = render(layers, Lighting(uv=0.5), 40.0, 1.0, rng, noise_sigma=0)
    white = render(layers, Lighting(white=1.0), 8.0, 1.0, rng, noise_sigma=0)
    assert dark.max() <= 5  # lamps off: only the sensor's dark level
    dab = (500, 900)
    assert uv[dab][1] > 150 and uv[dab][1] > uv[dab][0] + 80  # green glow
    assert abs(int(half_uv[dab][1]) - (int(uv[dab][1]) + 4) // 2) <= 3
    assert white[dab][1] < 100  # invisible under white light
    assert uv.dtype == np.uint8 and uv.shape == (720, 1280, 3)


def test_noise_is_fresh_per_frame_and_of_the_asked_size() -> None:
    layers = build_layers(Scene(labels=(), splashes=()))
    rng = np.random.default_rng(1)
    a = render(layers, Lighting(white=0.5), 8.0, 1.0, rng, noise_sigma=3.0).astype(float)
    b = render(layers, Lighting(white=0.5), 8.0, 1.0, rng, noise_sigma=3.0).astype(float)
    diff = (a - b)[300:500, 300:900]
    assert 3.0 < diff.std() < 5.5  # two independent sigma-3 noises: sqrt(2) * 3


def test_look_alikes_pen_marks_and_uv_labels_are_in_the_truth() -> None:
    scene = Scene(
        labels=(Label("SW-7K3M-9QXA-H", 500, 200, "DataMatrix", 5, ink="uv"),),
        pen_marks=(PenMark("12 NN1 4AB", 350, 450),),
        confounders=(
            Confounder("paper", 800, 100, 300, 200, 0.6, 1),
            Confounder("lint", 100, 500, 100, 100, 1.0, 2),
        ),
    )
    objects = build_layers(scene).objects
    kinds = sorted((o["type"], o.get("class", o.get("symbology"))) for o in objects)
    assert kinds == [
        ("confounder", "lint"),
        ("confounder", "paper"),
        ("mark", "uv_pen"),
        ("mark", "uv_pen"),
        ("uv_code", "DataMatrix"),
    ]


def test_demo_scene_still_renders() -> None:
    layers = build_layers(demo_scene())
    frame = render(layers, Lighting(white=1.0), 8.0, 1.0, np.random.default_rng(0))
    assert frame.shape == (720, 1280, 3)


def test_generated_uv_labels_cover_the_inks_stocks_and_lamps_seen_in_use() -> None:
    from hw_sim.scene.render import UV_INK_BGR

    scenes = [random_scene(seed) for seed in range(3000, 3300)]
    uv = [lab for s in scenes for lab in s.labels if lab.ink == "uv"]
    assert {lab.ink_colour for lab in uv} == set(UV_INK_BGR)
    assert {lab.ground for lab in uv} == {"label", "white_paper", "item"}
    assert any(lab.inverse for lab in uv) and any(lab.tilt > 0 for lab in uv)
    assert {lab.module_px for lab in uv} >= {2, 8}
    assert {s.uv_falloff for s in scenes} == {0.0, 0.2, 0.35, 0.5}
    assert any(s.item_bgr is not None and min(s.item_bgr) > 150 for s in scenes)  # pale items


def test_uv_ink_glows_in_its_own_colour_and_brightened_paper_glows_around_it() -> None:
    def code_glow(**kw: object) -> tuple[np.ndarray, np.ndarray]:
        label = Label("SW-7K3M-9QXA-3", 400, 200, "DataMatrix", 6, ink="uv", **kw)  # type: ignore[arg-type]
        layers = build_layers(Scene(labels=(label,), reference_patch=False, noise_sigma=0))
        (box,) = [o["bbox"] for o in layers.objects if o["type"] == "uv_code"]
        x, y, w, h = box
        return layers.emission[y : y + h, x : x + w], layers.reflectance[y : y + h, x : x + w]

    green, _ = code_glow(ink_colour="yellow_green")
    bright = green[green.max(axis=-1) > 0.5]
    assert (bright[:, 1] > bright[:, 0]).all()  # green above blue where the ink glows
    paper, _ = code_glow(ink_colour="blue", ground="white_paper", glow=0.8)
    ground = paper[paper.max(axis=-1) < 0.5]
    assert np.median(ground.max(axis=-1)) > 0.15  # the stock's own blue-white glow
    _, refl_item = code_glow(ground="item")
    assert np.allclose(refl_item, refl_item[0, 0], atol=0.02)  # no label: the item shows


def test_lamp_falloff_dims_the_glow_away_from_the_lamp() -> None:
    from hw_sim.scene.model import Splash

    splashes = tuple(Splash("forensic_liquid", x, 360, 30, 30) for x in (80, 640, 1200))
    flat = build_layers(Scene(splashes=splashes, reference_patch=False)).emission
    dim = build_layers(
        Scene(splashes=splashes, reference_patch=False, uv_falloff=0.5, uv_falloff_seed=1)
    ).emission
    ratios = [float(dim[360, x, 1] / flat[360, x, 1]) for x in (80, 640, 1200)]
    assert min(ratios) < 0.9 and max(ratios) <= 1.0


def test_label_photographs_are_reproducible_and_truthful() -> None:
    from stdnum import luhn

    from hw_sim.scene.labels import available_fonts, label_photo

    if not available_fonts():
        pytest.skip("label fonts not installed (scripts/setup.sh --dev)")
    a, b = label_photo(9001), label_photo(9001)
    assert np.array_equal(a.image, b.image) and a.value == b.value
    photos = [label_photo(s) for s in range(9000, 9060)]
    assert {p.kind for p in photos} == {"serial", "imei"}
    assert all(luhn.is_valid(p.value) for p in photos if p.kind == "imei")
    assert all(p.value in "".join(p.lines).replace(" ", "") for p in photos)
    assert {"glare", "low contrast", "perspective"} <= {e for p in photos for e in p.effects}
