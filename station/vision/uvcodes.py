"""2D codes printed in UV-fluorescent ink (the marking kit's labels), read from the UV frame.

Under UV the ink glows and the label does not, so the code appears bright on dark: the glow
(UV minus dark) is reduced to its brightest channel, stretched, inverted to dark-on-light,
and given to zxing-cpp restricted to the 2D symbologies kits use. Regions already found as
fluorescent marks are also tried enlarged, which rescues small labels.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from station.domain import BBox
from station.vision.barcodes import BarcodeRead, read_zxing
from station.vision.isolation import DecoderFailed, DecoderRunner, InProcess
from station.vision.marks import GlowSource

_UV_FORMATS = "QRCode,MicroQRCode,DataMatrix,Aztec"


def _prepare(glow: np.ndarray) -> np.ndarray:
    """Brightest channel, contrast-stretched and inverted: ink becomes dark modules."""
    value = _brightest_channel(glow)
    lo, hi = np.percentile(value[::2, ::2], (1.0, 99.8))
    if hi - lo < 4:
        return np.full(value.shape, 255, np.uint8)
    stretched = cv2.convertScaleAbs(value, alpha=255.0 / (hi - lo), beta=-lo * 255.0 / (hi - lo))
    return 255 - stretched


def _brightest_channel(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        return img
    b, g, r = cv2.split(img)
    return cv2.max(cv2.max(b, g), r)


def read_zxing_many(images: Sequence[np.ndarray], formats: str) -> list[list[BarcodeRead]]:
    """zxing-cpp over several crops in one worker job (one round trip per frame)."""
    return [read_zxing(img, formats) for img in images]


def read_uv_codes(
    glow: np.ndarray | GlowSource,
    regions: Sequence[BBox] | None = None,
    max_regions: int = 8,
    runner: DecoderRunner | None = None,
    failures: list[DecoderFailed] | None = None,
) -> list[BarcodeRead]:
    """Every 2D code in the UV glow image.

    ``regions`` are the glowing areas (from the mark finder): ink only shows where there is
    glow, so when they are given only they are searched (enlarged), which is much faster
    than the whole frame. A region too large to be a label falls back to the whole frame.
    """
    run = runner if runner is not None else InProcess()

    def decode(images: list[np.ndarray]) -> list[list[BarcodeRead]]:
        outcome = run.run("zxing (UV)", read_zxing_many, images, _UV_FORMATS)
        if outcome.failure is not None and failures is not None:
            failures.append(outcome.failure)
        return outcome.value_or([[] for _ in images])

    source = glow if isinstance(glow, GlowSource) else GlowSource(glow)
    h, w = source.shape[:2]
    boxes = list(regions) if regions is not None else []
    whole = regions is None or any(bw > w // 2 or bh > h // 2 for _, _, bw, bh in boxes)
    reads: list[BarcodeRead] = []
    if whole:
        factor = max(1, w // 2000)
        for r in decode([_prepare(source.reduced(factor))])[0]:
            x, y, bw, bh = r.bbox
            box = (x * factor, y * factor, bw * factor, bh * factor)
            reads.append(BarcodeRead(r.symbology, r.text, box, r.decoders, r.confidence, r.gs1))
    found_boxes = [r.bbox for r in reads]
    regions = boxes
    crops: list[tuple[int, int, float, np.ndarray]] = []
    for x, y, bw, bh in list(regions)[:max_regions]:
        if any(_inside((x, y, bw, bh), fb) for fb in found_boxes):
            continue
        if min(bw, bh) < 20 or max(bw, bh) > 3 * min(bw, bh) or bw > w // 2 or bh > h // 2:
            continue
        pad = max(bw, bh) // 3 + 8
        x0, y0 = max(0, x - pad), max(0, y - pad)
        x1, y1 = min(w, x + bw + pad), min(h, y + bh + pad)
        crop = _prepare(source.crop(x0, y0, x1, y1))
        scale = max(1.0, min(4.0, 240.0 / max(1, max(bw, bh))))
        if scale > 1.0:
            crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        crops.append((x0, y0, scale, crop))
    found = decode([c for *_, c in crops]) if crops else []
    for (x0, y0, scale, _), crop_reads in zip(crops, found, strict=True):
        for r in crop_reads:
            rx, ry, rw, rh = r.bbox
            box = (
                int(x0 + rx / scale),
                int(y0 + ry / scale),
                max(1, int(rw / scale)),
                max(1, int(rh / scale)),
            )
            if all(o.text != r.text for o in reads):
                reads.append(BarcodeRead(r.symbology, r.text, box, r.decoders, r.confidence, r.gs1))
                found_boxes.append(box)
    return reads


def _inside(inner: BBox, outer: BBox, slack: int = 10) -> bool:
    ix, iy, iw, ih = inner
    ox, oy, ow, oh = outer
    cx, cy = ix + iw / 2, iy + ih / 2
    return ox - slack <= cx <= ox + ow + slack and oy - slack <= cy <= oy + oh + slack
