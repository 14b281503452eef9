"""Render a Scene as an 8-bit BGR camera frame under a given lighting."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import zxingcpp

from hw_sim.scene.model import Lighting, Scene

#: emission colour (BGR, 0..1) of each fluorescent material under 365 nm
EMISSION_BGR: dict[str, tuple[float, float, float]] = {
    "forensic_liquid": (0.25, 1.0, 0.7),  # yellow-green
    "uv_pen": (1.0, 0.55, 0.35),  # blue-violet
    "brightener": (1.0, 0.85, 0.75),  # blue-white
    "reference": (0.4, 0.9, 0.9),
}


@dataclass(frozen=True)
class SceneLayers:
    """Precomputed per-scene images: reflectance under white light and UV emission."""

    reflectance: np.ndarray  # float32 HxWx3, 0..1
    emission: np.ndarray  # float32 HxWx3, 0..1 at full UV


def _barcode_bitmap(text: str, symbology: str, module_px: int) -> np.ndarray:
    fmt = zxingcpp.barcode_format_from_str(symbology)
    code = zxingcpp.create_barcode(text, fmt)
    img = np.asarray(code.to_image(scale=module_px, add_quiet_zones=True, add_hrt=False))
    return img.astype(np.float32) / 255.0


def build_layers(scene: Scene) -> SceneLayers:
    """Compute the lighting-independent layers once per scene."""
    h, w = scene.height, scene.width
    refl: np.ndarray = np.full((h, w, 3), 0.55, np.float32)  # matt grey tray
    emis: np.ndarray = np.zeros((h, w, 3), np.float32)
    x, y, bw, bh = scene.item_box
    refl[y : y + bh, x : x + bw] = scene.item_grey / 255.0
    for label in scene.labels:
        bmp = _barcode_bitmap(label.text, label.symbology, label.module_px)
        lh, lw = bmp.shape[:2]
        lh, lw = min(lh, h - label.y), min(lw, w - label.x)
        bmp = bmp[:lh, :lw]
        if label.ink == "print":
            refl[label.y : label.y + lh, label.x : label.x + lw] = (0.1 + 0.8 * bmp)[..., None]
        else:
            glow = (1.0 - bmp)[..., None] * np.array(EMISSION_BGR["uv_pen"], np.float32)
            emis[label.y : label.y + lh, label.x : label.x + lw] = glow
    for s in scene.splashes:
        mask: np.ndarray = np.zeros((h, w), np.float32)
        cv2.ellipse(mask, (s.cx, s.cy), (s.rx, s.ry), 0, 0, 360, 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, min(s.rx, s.ry) / 6))
        emis += mask[..., None] * np.array(EMISSION_BGR[s.kind], np.float32) * s.strength
    if scene.reference_patch:
        px, py = int(0.015 * w), int(0.02 * h)
        pw, ph = int(0.05 * w), int(0.07 * h)
        emis[py : py + ph, px : px + pw] = np.array(EMISSION_BGR["reference"], np.float32) * 0.8
        refl[py : py + ph, px : px + pw] = 0.8
    return SceneLayers(reflectance=refl, emission=np.clip(emis, 0.0, 1.0))


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
    img = layers.reflectance * (220.0 * white_k) + layers.emission * (200.0 * uv_k)
    img += 4.0 * gain  # dark level
    if noise_sigma > 0:
        img += rng.normal(0.0, noise_sigma, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)
