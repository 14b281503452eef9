"""Render a Scene as an 8-bit BGR camera frame under a given lighting.

``build_layers`` does the expensive, lighting-independent work once per scene (barcode
bitmaps from zxing-cpp's writer, text, fluorescent regions, blur, perspective, a bank of
noise); ``render`` then only mixes two layers, adds a slice of the noise bank and saturates,
which keeps a simulated frame within a few milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import cv2
import numpy as np
import zxingcpp

from hw_sim.scene.codes import gs1_element_string
from hw_sim.scene.model import Confounder, Label, Lighting, Scene

#: emission colour (BGR, 0..1) of each fluorescent material under 365 nm
EMISSION_BGR: dict[str, tuple[float, float, float]] = {
    "forensic_liquid": (0.25, 1.0, 0.7),  # yellow-green
    "uv_pen": (1.0, 0.55, 0.35),  # blue-violet
    "uv_ink": (1.0, 0.5, 0.3),  # the kit labels' invisible ink
    "brightener": (1.0, 0.85, 0.75),  # blue-white
    "glare": (0.9, 0.7, 0.8),  # visible violet leak of the UV LEDs, reflected
    "reference": (0.4, 0.9, 0.9),
}
#: emission (BGR) of the invisible security inks sold for UV marking: the common blue, a
#: yellow-green, a blue-white (brightener-based) and a europium red
UV_INK_BGR: dict[str, tuple[float, float, float]] = {
    "blue": (1.0, 0.5, 0.3),
    "yellow_green": (0.3, 1.0, 0.65),
    "blue_white": (1.0, 0.88, 0.78),
    "red": (0.12, 0.2, 1.0),
}
#: glow of brightened white label paper under 365 nm, relative to full ink glow
_PAPER_GLOW = 0.3
#: the fluorescent reference patch, as fractions of the frame (matches VisionSettings)
REFERENCE_PATCH = (0.015, 0.02, 0.05, 0.07)
REFERENCE_GLOW = 0.8
#: noise banks above this many pixels are not precomputed (memory); noise is drawn per frame
_MAX_NOISE_BANK_PX = 4_000_000
_NOISE_PAD_ROWS = 61
_NOISE_PAD_COLS = 37


@dataclass(frozen=True)
class SceneLayers:
    """Precomputed per-scene images: reflectance under white light and UV emission."""

    reflectance: np.ndarray  # float32 HxWx3, 0..1
    emission: np.ndarray  # float32 HxWx3, 0..1 at full UV
    #: standard-normal noise bank, (H + pad) x (W + pad) x 3 float32, a random window of it is
    #: added per frame; None = drawn per frame
    noise: np.ndarray | None = None
    #: ground truth: every object with its box in frame pixels (see ``scene_truth``)
    objects: tuple[dict[str, Any], ...] = field(default=())


def _barcode_bitmap(text: str, symbology: str, module_px: int, gs1: bool = False) -> np.ndarray:
    fmt = zxingcpp.barcode_format_from_str(symbology)
    code = (
        zxingcpp.create_barcode(text, fmt, gs1=True) if gs1 else zxingcpp.create_barcode(text, fmt)
    )
    img = np.asarray(code.to_image(scale=module_px, add_quiet_zones=True, add_hrt=False))
    if img.shape[0] < 8 * module_px:  # linear codes come out one module tall
        height = max(40, 18 * module_px)
        img = np.repeat(img[:1], height, axis=0)
    return img.astype(np.float32) / 255.0


def _text_bitmap(lines: tuple[str, ...], scale: float, thickness: int, pad: int) -> np.ndarray:
    """White canvas, black text (1 = paper, 0 = ink)."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    sizes = [cv2.getTextSize(t, font, scale, thickness) for t in lines]
    line_h = max(s[0][1] + s[1] for s in sizes) + int(10 * scale)
    w = max(s[0][0] for s in sizes) + 2 * pad
    h = line_h * len(lines) + 2 * pad
    canvas = np.full((h, w), 255, np.uint8)
    for i, t in enumerate(lines):
        y = pad + line_h * (i + 1) - int(8 * scale)
        cv2.putText(canvas, t, (pad, y), font, scale, 0, thickness, cv2.LINE_AA)
    return canvas.astype(np.float32) / 255.0


def _rotate(img: np.ndarray, angle: float, border: float) -> np.ndarray:
    if abs(angle) < 1e-3:
        return img
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(h * sin + w * cos) + 2, int(h * cos + w * sin) + 2
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    return cv2.warpAffine(
        img, m, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=border
    )


def _stamp(
    target: np.ndarray,
    patch: np.ndarray,
    alpha: np.ndarray,
    x: int,
    y: int,
    mode: Literal["replace", "add"],
) -> tuple[int, int, int, int] | None:
    """Composite ``patch`` (HxWx3) with ``alpha`` (HxW) at (x, y); returns the box covered."""
    th, tw = target.shape[:2]
    ph, pw = alpha.shape[:2]
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(tw, x + pw), min(th, y + ph)
    if x1 <= x0 or y1 <= y0:
        return None
    a = alpha[y0 - y : y1 - y, x0 - x : x1 - x, None]
    p = patch[y0 - y : y1 - y, x0 - x : x1 - x]
    region = target[y0:y1, x0:x1]
    if mode == "replace":
        region *= 1.0 - a
        region += p * a
    else:
        region += p * a
    ys, xs = np.nonzero(a[..., 0] > 0.3)
    if len(xs) == 0:
        return None
    return int(x0 + xs.min()), int(y0 + ys.min()), int(np.ptp(xs) + 1), int(np.ptp(ys) + 1)


def _label_layers(
    label: Label,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Reflectance, emission and alpha of one code label, rotated and tilted, plus the code's
    own mask and the alpha the emission is laid with."""
    bmp = _barcode_bitmap(label.text, label.symbology, label.module_px, label.gs1)
    if label.caption:
        cap = _text_bitmap((label.caption,), 0.5 + 0.1 * label.module_px, 1, 4)
        w = max(bmp.shape[1], cap.shape[1])
        bmp = np.pad(bmp, ((0, 0), (0, w - bmp.shape[1])), constant_values=1.0)
        cap = np.pad(cap, ((0, 0), (0, w - cap.shape[1])), constant_values=1.0)
        code_rows = bmp.shape[0]
        bmp = np.vstack([bmp, cap])
    else:
        code_rows = bmp.shape[0]
    code_mask = np.zeros_like(bmp)
    code_mask[:code_rows] = 1.0
    ink = 1.0 - bmp
    alpha = np.ones_like(bmp)
    emis_alpha = alpha
    if label.ink == "print":
        refl = np.repeat((0.08 + 0.84 * bmp)[..., None], 3, axis=2)
        emis = np.zeros_like(refl)
    else:
        refl, emis, alpha, emis_alpha = _uv_ink(label, ink)
    seed = sum(map(ord, label.text)) + 7 * label.x + 13 * label.y
    layers = [
        _tilted(_rotate(img, label.angle, 0.0), label.tilt, seed)
        for img in (refl, emis, alpha, code_mask, emis_alpha)
    ]
    return layers[0], layers[1], layers[2], layers[3], layers[4]


def _uv_ink(label: Label, ink: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Reflectance, emission and their alphas of a code printed in invisible UV ink.

    Under white light the ink is nearly invisible (a faint tint); under UV it glows in its
    own colour. Ink spreads into paper (bleed), so modules grow and their edges soften; it
    also absorbs the UV that would make brightened paper glow, so on such paper the ground
    glows blue-white around the modules.
    """
    if label.bleed_px > 0:
        spread = cv2.GaussianBlur(ink, (0, 0), label.bleed_px)
        ink = np.clip(spread * 1.6, 0.0, 1.0)
    printed = 1.0 - ink if label.inverse else ink
    colour = np.array(UV_INK_BGR.get(label.ink_colour, UV_INK_BGR["blue"]), np.float32)
    emis = (printed * label.glow)[..., None] * colour
    ones = np.ones_like(ink)
    if label.ground == "white_paper":
        paper = np.array(EMISSION_BGR["brightener"], np.float32) * _PAPER_GLOW
        emis = emis + (1.0 - printed)[..., None] * paper
        refl = np.full((*ink.shape, 3), 0.9, np.float32) - 0.04 * printed[..., None]
        return refl, emis, ones, ones
    if label.ground == "item":
        # no label: the item's own surface shows; only the ink adds its glow
        return np.zeros((*ink.shape, 3), np.float32), emis, np.zeros_like(ink), printed
    refl = np.full((*ink.shape, 3), 0.8, np.float32) - 0.05 * printed[..., None]
    return refl, emis, ones, ones


def _tilted(img: np.ndarray, tilt: float, seed: int) -> np.ndarray:
    """Foreshorten one side of a label leaning out of the tray plane (same canvas size)."""
    if tilt <= 0:
        return img
    h, w = img.shape[:2]
    side = seed % 4
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    dst = src.copy()
    dx, dy = tilt * w / 2, tilt * h / 2
    if side == 0:  # top edge further away
        dst[0, 0] += dx
        dst[1, 0] -= dx
    elif side == 1:  # right edge
        dst[1, 1] += dy
        dst[2, 1] -= dy
    elif side == 2:  # bottom edge
        dst[2, 0] -= dx
        dst[3, 0] += dx
    else:  # left edge
        dst[0, 1] += dy
        dst[3, 1] -= dy
    m = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(img, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0.0)


def label_size(label: Label) -> tuple[int, int]:
    """(width, height) in pixels the label covers once rendered and rotated."""
    alpha = _label_layers(label)[2]
    return alpha.shape[1], alpha.shape[0]


def _confounder(c: Confounder, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Emission, reflectance and alpha of a look-alike, full-frame sized for simple stamping."""
    rng = np.random.default_rng(c.seed)
    h, w = c.h, c.w
    if c.kind in ("paper", "fabric"):
        glow = np.full((h, w), c.strength, np.float32)
        if c.kind == "fabric":
            yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
            weave = 0.75 + 0.25 * np.sin(xx * 0.9) * np.sin(yy * 0.9)
            glow *= weave * (0.85 + 0.15 * rng.random((h, w), dtype=np.float32))
        emis = glow[..., None] * np.array(EMISSION_BGR["brightener"], np.float32)
        refl = np.full((h, w, 3), 0.88, np.float32)
        alpha = np.ones((h, w), np.float32)
        return emis, refl, alpha
    if c.kind == "lint":
        mask = np.zeros((h, w), np.float32)
        for _ in range(int(rng.integers(2, 6))):
            x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
            ang = rng.uniform(0, np.pi)
            length = rng.uniform(6, 22)
            x1, y1 = int(x0 + length * np.cos(ang)), int(y0 + length * np.sin(ang))
            cv2.line(mask, (x0, y0), (x1, y1), 1.0, 1, cv2.LINE_AA)
        emis = (mask * c.strength)[..., None] * np.array(EMISSION_BGR["brightener"], np.float32)
        return emis, np.zeros((h, w, 3), np.float32), mask
    # glare: a soft specular spot, saturating under white light, faint violet under UV
    spot: np.ndarray = np.zeros((h, w), np.float32)
    cv2.ellipse(spot, (w // 2, h // 2), (max(1, w // 3), max(1, h // 3)), 0, 0, 360, 1.0, -1)
    spot = cv2.GaussianBlur(spot, (0, 0), max(1.0, min(w, h) / 8))
    emis = (spot * 0.5 * c.strength)[..., None] * np.array(EMISSION_BGR["glare"], np.float32)
    refl = np.full((h, w, 3), 1.6, np.float32) * spot[..., None]
    return emis, refl, spot


def _perspective(scene: Scene) -> np.ndarray | None:
    if scene.perspective <= 0:
        return None
    rng = np.random.default_rng(scene.perspective_seed)
    w, h = scene.width, scene.height
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    jitter = rng.uniform(-1, 1, (4, 2)).astype(np.float32) * scene.perspective * np.array([w, h])
    return cv2.getPerspectiveTransform(src, (src + jitter).astype(np.float32))


def _warp_box(m: np.ndarray, box: tuple[int, int, int, int]) -> list[int]:
    x, y, w, h = box
    pts = np.array([[[x, y]], [[x + w, y]], [[x + w, y + h]], [[x, y + h]]], np.float32)
    out = cv2.perspectiveTransform(pts, m).reshape(-1, 2)
    x0, y0 = out.min(axis=0)
    x1, y1 = out.max(axis=0)
    return [int(x0), int(y0), int(x1 - x0), int(y1 - y0)]


def _lamp_falloff(w: int, h: int, falloff: float, seed: int) -> np.ndarray:
    """Relative UV irradiance over the tray: an LED's cone is brightest under the lamp and
    falls off roughly with the square of the distance from it."""
    rng = np.random.default_rng(seed)
    cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
    far = max(np.hypot(cx - x, cy - y) for x in (0, w) for y in (0, h))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d2 = ((xx - cx) ** 2 + (yy - cy) ** 2) / float(far * far)
    return (1.0 - falloff * d2).astype(np.float32)


def build_layers(scene: Scene) -> SceneLayers:
    """Compute the lighting-independent layers (and ground truth) once per scene."""
    h, w = scene.height, scene.width
    refl: np.ndarray = np.full((h, w, 3), 0.55, np.float32)  # matt grey tray
    emis: np.ndarray = np.zeros((h, w, 3), np.float32)
    objects: list[dict[str, Any]] = []
    x, y, bw, bh = scene.item_box
    item = (
        np.array(scene.item_bgr, np.float32) / 255.0
        if scene.item_bgr is not None
        else np.full(3, scene.item_grey / 255.0, np.float32)
    )
    refl[y : y + bh, x : x + bw] = item

    for c in scene.confounders:
        c_emis, c_refl, alpha = _confounder(c, (h, w))
        if c.kind in ("paper", "fabric"):
            _stamp(refl, c_refl, alpha, c.x, c.y, "replace")
        elif c.kind == "glare":
            _stamp(refl, c_refl, alpha, c.x, c.y, "add")
        box = _stamp(emis, c_emis, alpha, c.x, c.y, "add")
        if box is not None:
            objects.append({"type": "confounder", "class": c.kind, "bbox": list(box)})

    for label in scene.labels:
        l_refl, l_emis, alpha, code_mask, emis_alpha = _label_layers(label)
        _stamp(refl, l_refl, alpha, label.x, label.y, "replace")
        if label.ground == "item" and label.ink == "uv":
            _stamp(emis, l_emis, np.ones_like(emis_alpha), label.x, label.y, "add")
        else:
            _stamp(emis, l_emis, emis_alpha, label.x, label.y, "replace")
        box = _stamp(np.zeros_like(emis), np.ones_like(l_refl), code_mask, label.x, label.y, "add")
        if box is None:
            continue
        text = gs1_element_string(label.text) if label.gs1 else label.text
        kind = "uv_code" if label.ink == "uv" else "barcode"
        objects.append(
            {
                "type": kind,
                "symbology": label.symbology,
                "text": text,
                "bbox": list(box),
                "frame": "uv" if label.ink == "uv" else "white",
            }
        )
        if label.ink == "uv":
            objects.append({"type": "mark", "class": "uv_pen", "bbox": list(box)})
        if label.caption:
            objects.append({"type": "text", "text": label.caption, "bbox": list(box)})

    for t in scene.texts:
        flat = _text_bitmap(t.lines, t.scale, max(1, round(2 * t.scale)), 10)
        bmp = _rotate(flat, t.angle, 1.0)
        alpha = _rotate(np.ones(flat.shape, np.float32), t.angle, 0.0)
        box = _stamp(
            refl, np.repeat((0.08 + 0.84 * bmp)[..., None], 3, axis=2), alpha, t.x, t.y, "replace"
        )
        if box is not None:
            objects.append({"type": "text", "text": "\n".join(t.lines), "bbox": list(box)})

    for pen in scene.pen_marks:
        ink = 1.0 - _text_bitmap((pen.text,), pen.scale, pen.thickness, 6)
        ink = _rotate(ink, pen.angle, 0.0)
        glow = (ink * pen.strength)[..., None] * np.array(EMISSION_BGR["uv_pen"], np.float32)
        box = _stamp(emis, glow, ink, pen.x, pen.y, "add")
        if box is not None:
            objects.append({"type": "mark", "class": "uv_pen", "bbox": list(box), "text": pen.text})

    for s in scene.splashes:
        r = int(max(s.rx, s.ry) * 1.6) + 4
        mask: np.ndarray = np.zeros((2 * r, 2 * r), np.float32)
        cv2.ellipse(mask, (r, r), (s.rx, s.ry), 0, 0, 360, 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, min(s.rx, s.ry) / 6))
        dab = mask[..., None] * np.array(EMISSION_BGR[s.kind], np.float32) * s.strength
        box = _stamp(emis, dab, np.ones_like(mask), s.cx - r, s.cy - r, "add")
        if box is not None:
            b = [s.cx - s.rx, s.cy - s.ry, 2 * s.rx, 2 * s.ry]
            role = "confounder" if s.kind == "brightener" else "mark"
            objects.append({"type": role, "class": s.kind, "bbox": b})

    m = _perspective(scene)
    if m is not None:
        refl = cv2.warpPerspective(refl, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
        emis = cv2.warpPerspective(emis, m, (w, h), borderMode=cv2.BORDER_CONSTANT)
        for o in objects:
            o["bbox"] = _warp_box(m, tuple(o["bbox"]))
    if scene.uv_falloff > 0:
        emis *= _lamp_falloff(w, h, scene.uv_falloff, scene.uv_falloff_seed)[..., None]
    if scene.blur_sigma > 0:
        refl = cv2.GaussianBlur(refl, (0, 0), scene.blur_sigma)
        emis = cv2.GaussianBlur(emis, (0, 0), scene.blur_sigma)
    if scene.reference_patch:
        fx, fy, fw, fh = REFERENCE_PATCH
        px, py = round(fx * w), round(fy * h)
        pw, ph = round(fw * w), round(fh * h)
        emis[py : py + ph, px : px + pw] = (
            np.array(EMISSION_BGR["reference"], np.float32) * REFERENCE_GLOW
        )
        refl[py : py + ph, px : px + pw] = 0.8
    noise = None
    if h * w <= _MAX_NOISE_BANK_PX:
        bank_rng = np.random.default_rng(w * 100_003 + h)
        noise = bank_rng.standard_normal(
            (h + _NOISE_PAD_ROWS, w + _NOISE_PAD_COLS, 3), dtype=np.float32
        )
    return SceneLayers(
        reflectance=np.ascontiguousarray(refl),
        emission=np.ascontiguousarray(np.clip(emis, 0.0, 1.0)),
        noise=noise,
        objects=tuple(objects),
    )


def render(
    layers: SceneLayers,
    lighting: Lighting,
    exposure_ms: float,
    gain: float,
    rng: np.random.Generator,
    noise_sigma: float = 2.0,
) -> np.ndarray:
    """One frame: white reflection plus UV emission, scaled by exposure and gain, with noise."""
    white_k = lighting.white * exposure_ms / 8.0 * gain
    uv_k = lighting.uv * exposure_ms / 40.0 * gain
    img: np.ndarray = cv2.addWeighted(
        layers.reflectance, 220.0 * white_k, layers.emission, 200.0 * uv_k, 4.0 * gain
    )
    if noise_sigma > 0:
        h = img.shape[0]
        if layers.noise is not None:
            w = img.shape[1]
            off = int(rng.integers(0, layers.noise.shape[0] - h + 1))
            col = int(rng.integers(0, layers.noise.shape[1] - w + 1))
            bank = layers.noise[off : off + h, col : col + w]
            img = cv2.scaleAdd(bank, noise_sigma * max(1.0, gain**0.5), img)
        else:
            img += rng.standard_normal(img.shape, dtype=np.float32) * noise_sigma
    np.clip(img, 0, 255, out=img)
    return img.astype(np.uint8)
