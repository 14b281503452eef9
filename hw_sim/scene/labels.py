"""Photographs of printed serial and IMEI labels, drawn with real label typefaces.

Rating plates and IMEI stickers are printed in a handful of faces: OCR-B (made for machine
reading, common on IMEI and EAN labels), DejaVu and Liberation sans, mono and condensed
(the metric clones of Helvetica, Arial and Courier that label printers ship). A label is
drawn flat with PIL at print resolution, then photographed: placed on an item, seen in
perspective, defocused, with a specular glare patch and sometimes faded ink (low contrast),
plus sensor noise. Nothing here knows how the station finds or reads text.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

#: label typefaces installed by Debian's fonts-ocr-b, fonts-dejavu-core, fonts-liberation2
FONT_FILES: tuple[str, ...] = (
    "/usr/share/fonts/opentype/ocr-b/OCRBS.otf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationMono-Regular.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationSansNarrow-Regular.ttf",
)
_ALNUM = string.ascii_uppercase + string.digits
_ANCHORS = ("S/N: ", "S/N ", "SN: ", "Serial No. ", "SERIAL: ")


@dataclass(frozen=True)
class LabelPhoto:
    """One photograph and what is printed on it."""

    image: np.ndarray  # BGR uint8
    kind: str  # "serial" | "imei"
    value: str  # normalised, as the register holds it
    lines: tuple[str, ...]
    font: str
    effects: tuple[str, ...]


def available_fonts() -> list[str]:
    """The label faces present on this machine (the evaluation needs at least one)."""
    return [f for f in FONT_FILES if Path(f).is_file()]


def _luhn_check(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return str((10 - total % 10) % 10)


def _content(rng: np.random.Generator) -> tuple[str, str, tuple[str, ...]]:
    roll = rng.random()
    if roll < 0.55:
        serial = "".join(rng.choice(list(_ALNUM), int(rng.integers(8, 14))))
        anchor = str(rng.choice(_ANCHORS))
        if rng.random() < 0.3:
            return "serial", serial, (anchor.strip(" :"), serial)
        return "serial", serial, (anchor + serial,)
    body = "35" + "".join(str(d) for d in rng.integers(0, 10, 12))
    imei = body + _luhn_check(body)
    if rng.random() < 0.5:
        return "imei", imei, ("IMEI", imei)
    return "imei", imei, (f"IMEI: {imei}",)


def _draw_label(
    lines: tuple[str, ...], font_file: str, size: int, ink: int, paper: int
) -> np.ndarray:
    font = ImageFont.truetype(font_file, size)
    pad = size // 2
    boxes = [font.getbbox(t) for t in lines]
    width = int(max(b[2] for b in boxes)) + 2 * pad
    step = int(size * 1.35)
    height = step * len(lines) + 2 * pad
    img = Image.new("L", (width, height), paper)
    draw = ImageDraw.Draw(img)
    for i, t in enumerate(lines):
        draw.text((pad, pad + i * step), t, font=font, fill=ink)
    return np.asarray(img)


def label_photo(seed: int, width: int = 1280, height: int = 720) -> LabelPhoto:
    """One reproducible photograph of a printed label on an item."""
    rng = np.random.default_rng(seed)
    kind, value, lines = _content(rng)
    fonts = available_fonts()
    if not fonts:
        raise FileNotFoundError("no label fonts installed (fonts-ocr-b, fonts-dejavu-core, ...)")
    font = str(rng.choice(fonts))
    effects: list[str] = []
    faded = rng.random() < 0.25
    ink = int(rng.integers(90, 150)) if faded else int(rng.integers(0, 50))
    paper = int(rng.integers(175, 215)) if faded else int(rng.integers(215, 250))
    if faded:
        effects.append("low contrast")
    size = int(rng.integers(18, 40))
    flat = _draw_label(lines, font, size, ink, paper)

    item = np.full((height, width), int(rng.integers(30, 160)), np.float32)
    lh, lw = flat.shape
    scale = min(1.0, 0.8 * width / lw, 0.6 * height / lh)
    if scale < 1.0:
        flat = cv2.resize(flat, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        lh, lw = flat.shape
    x = int(rng.integers(20, max(21, width - lw - 20)))
    y = int(rng.integers(20, max(21, height - lh - 20)))
    canvas: np.ndarray = item.copy()
    canvas[y : y + lh, x : x + lw] = flat
    mask: np.ndarray = np.zeros((height, width), np.float32)
    mask[y : y + lh, x : x + lw] = 1.0

    # the camera: rotation and perspective of the item on the tray
    angle = float(rng.choice([0.0, rng.uniform(-12, 12)]))
    tilt = float(rng.choice([0.0, rng.uniform(0.02, 0.12)]))
    if angle or tilt:
        effects.append("perspective")
        src = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
        jitter = rng.uniform(-1, 1, (4, 2)).astype(np.float32) * tilt * np.array([width, height])
        rot = cv2.getRotationMatrix2D((x + lw / 2, y + lh / 2), angle, 1.0)
        dst = cv2.transform((src + jitter)[None], rot)[0].astype(np.float32)
        m = cv2.getPerspectiveTransform(src, dst)
        canvas = cv2.warpPerspective(canvas, m, (width, height), borderMode=cv2.BORDER_REPLICATE)
        mask = cv2.warpPerspective(mask, m, (width, height))
    if rng.random() < 0.4:
        sigma = float(rng.uniform(0.6, 1.6))
        canvas = cv2.GaussianBlur(canvas, (0, 0), sigma)
        effects.append(f"blur {sigma:.1f}")
    if rng.random() < 0.3:
        ys, xs = np.nonzero(mask > 0.5)
        cx, cy = int(rng.choice(xs)), int(rng.choice(ys))
        r = int(rng.integers(15, 60))
        spot: np.ndarray = np.zeros((height, width), np.float32)
        cv2.circle(spot, (cx, cy), r, 1.0, -1)
        spot = cv2.GaussianBlur(spot, (0, 0), r / 2.5)
        canvas = canvas + spot * float(rng.uniform(60, 160))
        effects.append("glare")
    canvas += rng.normal(0, float(rng.uniform(1.0, 4.0)), canvas.shape).astype(np.float32)
    grey = np.clip(canvas, 0, 255).astype(np.uint8)
    tint = rng.uniform(0.9, 1.05, 3)
    bgr = np.clip(grey[..., None].astype(np.float32) * tint, 0, 255).astype(np.uint8)
    return LabelPhoto(bgr, kind, value, lines, Path(font).stem, tuple(effects))
