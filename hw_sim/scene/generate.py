"""Seeded random tray scenes with ground truth, for the simulator and the vision evaluation.

Each scene holds an item with some of: printed serial/IMEI/GTIN labels (rendered by
zxing-cpp's writer), forensic liquid dabs (some small and faint), UV-pen postcode marks,
UV-ink kit code labels, and look-alikes (brightener paper and fabric, lint, lamp glare);
plus camera noise, blur, perspective, and a lamp-strength/exposure setting for the capture.
"""

from __future__ import annotations

import string
from dataclasses import replace
from typing import Any

import numpy as np

from hw_sim.scene.codes import mod_37_36_check
from hw_sim.scene.model import Confounder, ConfounderKind, Label, PenMark, Scene, Splash, TextLabel
from hw_sim.scene.render import SceneLayers, build_layers, label_size

_ALNUM = string.ascii_uppercase + string.digits
#: invisible inks sold for UV security marking, and how often each appears
_UV_INKS = ["blue", "yellow_green", "blue_white", "red"]
_UV_INK_SHARE = [0.4, 0.3, 0.2, 0.1]
_POSTCODES = ("NN1 4AB", "SW1A 2AA", "M1 1AE", "B33 8TH", "CR2 6XH", "LS6 3HN", "EH12 9JX")


def _luhn_complete(body: str) -> str:
    from stdnum import luhn

    return body + luhn.calc_check_digit(body)


def _serial(rng: np.random.Generator, n: int = 10) -> str:
    return "".join(rng.choice(list(_ALNUM), n))


def _mark_code(rng: np.random.Generator) -> str:
    body = "".join(rng.choice(list(_ALNUM), 8))
    check = mod_37_36_check("SW" + body)
    return f"SW-{body[:4]}-{body[4:]}-{check}"


def _ean13(rng: np.random.Generator) -> str:
    from stdnum import ean

    body = "".join(str(d) for d in rng.integers(0, 10, 12))
    return body + ean.calc_check_digit(body)


def _free_spot(
    rng: np.random.Generator,
    taken: list[tuple[int, int, int, int]],
    area: tuple[int, int, int, int],
    size: tuple[int, int],
) -> tuple[int, int] | None:
    ax, ay, aw, ah = area
    w, h = size
    for _ in range(40):
        if aw - w <= 0 or ah - h <= 0:
            return None
        x = int(rng.integers(ax, ax + aw - w))
        y = int(rng.integers(ay, ay + ah - h))
        box = (x - 12, y - 12, w + 24, h + 24)
        if all(
            box[0] + box[2] < t[0]
            or t[0] + t[2] < box[0]
            or box[1] + box[3] < t[1]
            or t[1] + t[3] < box[1]
            for t in taken
        ):
            taken.append(box)
            return x, y
    return None


def random_scene(seed: int, width: int = 1280, height: int = 720) -> Scene:
    """One reproducible scene; ``scene.truth`` holds the capture settings used for it."""
    rng = np.random.default_rng(seed)
    sx, sy = width / 1280, height / 720
    iw, ih = (
        int(rng.integers(int(700 * sx), int(1100 * sx))),
        int(rng.integers(int(420 * sy), int(620 * sy))),
    )
    ix = int(rng.integers(int(90 * sx), max(int(91 * sx), width - iw - 10)))
    iy = int(rng.integers(int(60 * sy), max(int(61 * sy), height - ih - 10)))
    item = (ix, iy, iw, ih)
    tone = int(rng.integers(25, 140))
    if np.random.default_rng([seed, 16]).random() < 0.3:
        tone = int(np.random.default_rng([seed, 17]).integers(150, 235))  # a pale item
    tint = rng.integers(-15, 16, 3)
    item_bgr = tuple(int(np.clip(tone + t, 0, 255)) for t in tint)
    taken: list[tuple[int, int, int, int]] = []
    labels: list[Label] = []
    texts: list[TextLabel] = []
    scale_px = max(1, round(min(sx, sy)))

    for _ in range(int(rng.integers(0, 3))):
        kind = rng.choice(["serial128", "imei128", "code39", "ean13", "qr", "dm", "gs1dm"])
        module = int(rng.integers(2, 4)) * scale_px
        if kind == "serial128":
            lab = Label(_serial(rng), 0, 0, "Code128", module, caption="")
        elif kind == "imei128":
            lab = Label(
                _luhn_complete("35" + "".join(str(d) for d in rng.integers(0, 10, 12))),
                0,
                0,
                "Code128",
                module,
            )
        elif kind == "code39":
            lab = Label(_serial(rng, 8), 0, 0, "Code39", module)
        elif kind == "ean13":
            lab = Label(_ean13(rng), 0, 0, "EAN13", module)
        elif kind == "qr":
            lab = Label(_serial(rng, 12), 0, 0, "QRCode", module + 1)
        elif kind == "dm":
            lab = Label(_serial(rng, 12), 0, 0, "DataMatrix", module + 1)
        else:
            lab = Label(
                f"(01)09504000059101(21){_serial(rng, 8)}", 0, 0, "DataMatrix", module + 1, gs1=True
            )
        angle = float(rng.choice([0.0, 0.0, rng.uniform(-25, 25), 90.0]))
        lab = replace(lab, angle=angle)
        spot = _free_spot(rng, taken, item, label_size(lab))
        if spot is not None:
            labels.append(replace(lab, x=spot[0], y=spot[1], angle=angle))

    if rng.random() < 0.35:
        serial = _serial(rng, int(rng.integers(8, 13)))
        lines = (
            (f"S/N: {serial}",)
            if rng.random() < 0.6
            else ("IMEI", _luhn_complete("35" + "".join(str(d) for d in rng.integers(0, 10, 12))))
        )
        spot = _free_spot(rng, taken, item, (int(380 * scale_px), int(110 * scale_px)))
        if spot is not None:
            texts.append(TextLabel(lines, spot[0], spot[1], scale=0.9 * scale_px))

    # how kit labels look under UV varies with the ink, the stock and the lamp; drawn from
    # their own stream so the rest of a seed's scene stays as it was
    looks = np.random.default_rng([seed, 15])
    if rng.random() < 0.3 or looks.random() < 0.2:
        lab = Label(
            _mark_code(rng),
            0,
            0,
            str(rng.choice(["DataMatrix", "QRCode"])),
            int(looks.integers(2, 9)) * scale_px,
            ink="uv",
            angle=float(rng.uniform(-20, 20)),
            ink_colour=str(looks.choice(_UV_INKS, p=_UV_INK_SHARE)),
            glow=float(looks.uniform(0.25, 1.0)),
            ground=looks.choice(["label", "white_paper", "item"], p=[0.4, 0.35, 0.25]),
            bleed_px=float(looks.choice([0.0, looks.uniform(0.3, 1.2) * scale_px])),
            tilt=float(looks.choice([0.0, looks.uniform(0.05, 0.3)])),
            inverse=bool(looks.random() < 0.08),
        )
        spot = _free_spot(rng, taken, item, label_size(lab))
        if spot is not None:
            labels.append(replace(lab, x=spot[0], y=spot[1]))

    splashes: list[Splash] = []
    for _ in range(int(rng.integers(0, 3))):
        small = rng.random() < 0.35
        rx = int(rng.integers(5, 12) if small else rng.integers(14, 45)) * scale_px
        ry = max(4, int(rx * rng.uniform(0.5, 1.0)))
        strength = float(rng.uniform(0.25, 0.6) if small else rng.uniform(0.45, 1.0))
        spot = _free_spot(rng, taken, item, (2 * rx + 4, 2 * ry + 4))
        if spot is not None:
            splashes.append(
                Splash("forensic_liquid", spot[0] + rx + 2, spot[1] + ry + 2, rx, ry, strength)
            )

    pens: list[PenMark] = []
    if rng.random() < 0.3:
        text = f"{int(rng.integers(1, 200))} {rng.choice(_POSTCODES)}"
        spot = _free_spot(rng, taken, item, (int(330 * scale_px), int(60 * scale_px)))
        if spot is not None:
            pens.append(
                PenMark(
                    text,
                    spot[0],
                    spot[1],
                    scale=1.1 * scale_px,
                    thickness=3 * scale_px,
                    strength=float(rng.uniform(0.5, 1.0)),
                )
            )

    confounders: list[Confounder] = []
    if rng.random() < 0.35:
        sheet: ConfounderKind = "paper" if rng.random() < 0.5 else "fabric"
        w, h = int(rng.integers(250, 450) * sx), int(rng.integers(180, 300) * sy)
        x = int(rng.integers(0, width - w))
        y = int(rng.integers(0, height - h))
        confounders.append(
            Confounder(sheet, x, y, w, h, float(rng.uniform(0.3, 0.8)), int(rng.integers(1 << 30)))
        )
    if rng.random() < 0.4:
        w, h = int(160 * sx), int(120 * sy)
        x, y = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
        confounders.append(
            Confounder("lint", x, y, w, h, float(rng.uniform(0.4, 1.0)), int(rng.integers(1 << 30)))
        )
    if rng.random() < 0.25:
        w = int(rng.integers(30, 80) * sx)
        x, y = int(rng.integers(ix, ix + iw - w)), int(rng.integers(iy, iy + ih - w))
        confounders.append(Confounder("glare", x, y, w, w, float(rng.uniform(0.6, 1.0))))
    # confounders go under labels: keep their order first in the scene so labels cover them

    return Scene(
        width=width,
        height=height,
        item_box=item,
        item_bgr=item_bgr,  # type: ignore[arg-type]
        labels=tuple(labels),
        splashes=tuple(splashes),
        texts=tuple(texts),
        pen_marks=tuple(pens),
        confounders=tuple(confounders),
        uv_falloff=float(np.random.default_rng([seed, 18]).choice([0.0, 0.2, 0.35, 0.5])),
        uv_falloff_seed=seed,
        noise_sigma=float(rng.uniform(1.0, 3.5)),
        blur_sigma=float(rng.choice([0.0, 0.0, rng.uniform(0.4, 1.2)])),
        perspective=float(rng.choice([0.0, rng.uniform(0.0, 0.025)])),
        perspective_seed=int(rng.integers(1 << 30)),
        truth={
            "seed": seed,
            "uv_level": float(rng.choice([1.0, 1.0, rng.uniform(0.35, 1.0)])),
            "white_level": float(rng.uniform(0.7, 1.0)),
            "uv_exposure_ms": float(rng.uniform(30, 60)),
        },
    )


def scene_truth(scene: Scene, layers: SceneLayers | None = None) -> dict[str, Any]:
    """Ground truth as JSON: capture settings plus every object with its box in the frame."""
    built = layers if layers is not None else build_layers(scene)
    return {
        "width": scene.width,
        "height": scene.height,
        **scene.truth,
        "objects": [dict(o) for o in built.objects],
    }
