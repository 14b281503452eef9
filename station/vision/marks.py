"""Fluorescent regions from UV minus dark, classed by colour, shape and the white frame.

Two maps are thresholded: overall glow (any fluorescence) and yellow-green excess (the
forensic liquid's colour, which stays visible even on top of a glowing brightener). Each
region is then classed: forensic liquid is yellow-green, UV pen/ink is saturated blue-violet,
optical brighteners are pale blue-white and usually large and diffuse. Every region is
reported with a score; brighteners score low so they do not read as markings, but they are
not hidden.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from station.domain import BBox, FluorescentMark, MarkClass

#: work at most this wide: marks are millimetres across, full resolution adds only time
_WORK_WIDTH = 1000


@dataclass(frozen=True)
class MarkParams:
    """Detection thresholds; the glow floor scales with the measured lamp strength."""

    min_area_px: int = 12
    #: threshold as a fraction of the reference patch glow (when the patch was measured)
    relative_threshold: float = 0.06
    #: never threshold below this many grey levels, whatever the lamp
    min_threshold: float = 5.0
    #: multiple of the background noise the glow must exceed
    noise_k: float = 6.0
    #: a region larger than this fraction of the frame is a diffuse glow (paper, fabric)
    diffuse_fraction: float = 0.02


@dataclass(frozen=True)
class _Region:
    box: BBox  # full-resolution pixels
    area: int  # full-resolution pixels
    mask: np.ndarray  # bool, work resolution, cropped to the box
    x0: int
    y0: int


def glow_image(uv: np.ndarray, dark: np.ndarray | None) -> np.ndarray:
    """UV emission alone: UV frame minus the lamps-off frame, clipped at zero."""
    if dark is None:
        return uv.copy()
    return cv2.subtract(uv, dark)


@dataclass(frozen=True)
class GlowSource:
    """UV minus dark, computed only where it is needed (a 12 Mpx difference costs time)."""

    uv: np.ndarray
    dark: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.uv.shape)

    def crop(self, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
        dark = None if self.dark is None else self.dark[y0:y1, x0:x1]
        return glow_image(self.uv[y0:y1, x0:x1], dark)

    def reduced(self, factor: int) -> np.ndarray:
        """The glow shrunk by an integer factor (each frame shrunk first: same result)."""
        if factor <= 1:
            return glow_image(self.uv, self.dark)
        h, w = self.uv.shape[:2]
        size = (w // factor, h // factor)
        uv = cv2.resize(self.uv, size, interpolation=cv2.INTER_AREA)
        dark = (
            None if self.dark is None else cv2.resize(self.dark, size, interpolation=cv2.INTER_AREA)
        )
        return glow_image(uv, dark)


def _robust_noise(values: np.ndarray) -> tuple[float, float]:
    sample = values[::3, ::3].ravel()
    med = float(np.median(sample))
    mad = float(np.median(np.abs(sample - med)))
    return med, 1.4826 * mad


def _regions(mask: np.ndarray, scale: float, min_area: int, join_px: int) -> list[_Region]:
    joined = mask
    if join_px > 0:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * join_px + 1, 2 * join_px + 1))
        joined = cv2.dilate(mask, k)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    out: list[_Region] = []
    for i in range(1, n):
        x, y, w, h, _ = (int(v) for v in stats[i])
        sub = (labels[y : y + h, x : x + w] == i) & (mask[y : y + h, x : x + w] > 0)
        area_work = int(sub.sum())
        area = round(area_work * scale * scale)
        if area < min_area:
            continue
        box = (
            int(x * scale),
            int(y * scale),
            max(1, round(w * scale)),
            max(1, round(h * scale)),
        )
        out.append(_Region(box=box, area=area, mask=sub, x0=x, y0=y))
    return out


def _overlaps(a: BBox, b: BBox) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _classify(
    bgr: np.ndarray, area: int, frame_area: int, white_level: float | None, params: MarkParams
) -> tuple[MarkClass, float]:
    """Colour class and marking score of one region from its mean glow colour."""
    b, g, r = (float(v) for v in bgr)
    peak = max(b, g, r, 1e-6)
    sat = 1.0 - min(b, g, r) / peak
    diffuse = area > params.diffuse_fraction * frame_area
    if white_level is not None and white_level > 245:
        return "unknown", 0.15  # lamp glare: saturated under white light too
    if g >= b and g >= r * 0.9 and b < 0.75 * g:
        score = 0.65 + 0.3 * min(1.0, (g - b) / (0.75 * g))
        return "forensic_liquid", min(score, 0.98)
    if b >= g and b >= r:
        if sat >= 0.4 and not diffuse:
            return "uv_pen", 0.55 + 0.35 * min(1.0, (sat - 0.4) / 0.3)
        if sat < 0.35 or diffuse:
            score = 0.08 if diffuse else 0.2
            return "brightener", score
    return "unknown", 0.45


def find_marks(
    uv: np.ndarray,
    dark: np.ndarray | None,
    white: np.ndarray | None = None,
    reference_level: float | None = None,
    exclude: tuple[BBox, ...] = (),
    params: MarkParams | None = None,
) -> list[FluorescentMark]:
    """Every fluorescent region in the capture, with class and score, biggest first."""
    p = params or MarkParams()
    h, w = uv.shape[:2]
    factor = max(1, round(w / _WORK_WIDTH))  # integer (ideally 2 or 4): INTER_AREA fast path
    small = GlowSource(uv, dark).reduced(factor)
    scale = w / small.shape[1]
    smooth = cv2.GaussianBlur(small, (0, 0), 1.0).astype(np.float32)
    b, g, r = cv2.split(smooth)
    value = np.maximum(np.maximum(b, g), r)
    yellow_green = g - np.maximum(b, 0.55 * r)

    base, sigma = _robust_noise(value)
    floor = max(p.min_threshold, base + p.noise_k * max(sigma, 0.5))
    if reference_level is not None and reference_level > 0:
        floor = max(floor, base + p.relative_threshold * reference_level * 255.0)
    blue_excess = b - 1.25 * np.maximum(g, r)

    def colour_floor(img: np.ndarray) -> float:
        base_c, sigma_c = _robust_noise(img)
        f = max(p.min_threshold, base_c + p.noise_k * max(sigma_c, 0.5))
        if reference_level is not None and reference_level > 0:
            f = max(f, base_c + 0.5 * p.relative_threshold * reference_level * 255.0)
        return f

    glow_mask = (value > floor).astype(np.uint8)
    yg_mask = (yellow_green > colour_floor(yellow_green)).astype(np.uint8)
    pen_mask = (blue_excess > colour_floor(blue_excess)).astype(np.uint8)
    join = max(1, round(6 / scale))
    forensic = _regions(yg_mask, scale, p.min_area_px, join)
    pens = _regions(pen_mask, scale, p.min_area_px, join)
    others = _regions(glow_mask, scale, p.min_area_px, join)

    frame_area = h * w
    marks: list[FluorescentMark] = []
    forensic_boxes: list[BBox] = []

    def mean_colour(reg: _Region) -> np.ndarray:
        ys, xs = np.nonzero(reg.mask)
        return small[ys + reg.y0, xs + reg.x0].reshape(-1, 3).astype(np.float32).mean(axis=0)

    def white_level(reg: _Region) -> float | None:
        if white is None:
            return None
        ys, xs = np.nonzero(reg.mask)
        # point samples of the full-size white frame at the region's pixels
        wy = np.minimum((ys + reg.y0) * factor, h - 1)
        wx = np.minimum((xs + reg.x0) * factor, w - 1)
        return float(white[wy, wx].max(axis=-1).mean())

    for colour_regions, expected in ((forensic, "forensic_liquid"), (pens, "uv_pen")):
        for reg in colour_regions:
            if any(_overlaps(reg.box, e) for e in exclude):
                continue
            if any(_contains(fb, reg.box) for fb in forensic_boxes):
                continue
            cls, score = _classify(mean_colour(reg), reg.area, frame_area, white_level(reg), p)
            if cls != expected:
                # the colour excess on top of another glow (a brightener): still its signature
                cls, score = expected, 0.6  # type: ignore[assignment]
            forensic_boxes.append(reg.box)
            marks.append(_mark(reg, cls, score))
    for reg in others:
        if any(_overlaps(reg.box, e) for e in exclude):
            continue
        if any(_contains(fb, reg.box) for fb in forensic_boxes):
            continue
        cls, score = _classify(mean_colour(reg), reg.area, frame_area, white_level(reg), p)
        marks.append(_mark(reg, cls, score))
    marks.sort(key=lambda m: -m.area_px)
    return marks


def _contains(outer: BBox, inner: BBox, slack: int = 4) -> bool:
    ox, oy, ow, oh = outer
    ix, iy, iw, ih = inner
    return (
        ix >= ox - slack
        and iy >= oy - slack
        and ix + iw <= ox + ow + slack
        and iy + ih <= oy + oh + slack
    )


def _mark(reg: _Region, cls: MarkClass, score: float) -> FluorescentMark:
    return FluorescentMark(
        bbox=reg.box, area_px=reg.area, score=round(float(score), 3), **{"class": cls}
    )
