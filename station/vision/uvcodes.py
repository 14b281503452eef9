"""2D codes printed in UV-fluorescent ink (the marking kit's labels), read from the UV frame.

Kit inks glow in different colours (blue, yellow-green, blue-white, red), on label stock
that may glow itself (brightened paper) or straight on the item, under a lamp whose light
falls off across the tray. So the reader does not trust the mark classifier to say where a
label is: every glowing region of label size and shape is tried, whatever its colour class,
and the whole frame is tried once at a reduced size. Each place is given to zxing-cpp
(restricted to the 2D symbologies kits use, both polarities) as several grey images, the
first that decodes wins: the brightest channel of the glow (UV minus dark), each colour
channel alone (an ink and a glowing ground differ most in one channel), and the raw UV frame.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace

import cv2
import numpy as np
import zxingcpp

from station.domain import BBox
from station.vision.barcodes import BarcodeRead, read_zxing
from station.vision.boxes import enclosing, merge_overlapping
from station.vision.isolation import DecoderFailed, DecoderRunner, InProcess
from station.vision.marks import GlowSource

_UV_FORMATS = "QRCode,MicroQRCode,DataMatrix,Aztec"
#: a glowing region is tried as a label when its shorter side is at least this (pixels)
_MIN_LABEL_SIDE = 14
#: crops are enlarged so the label is about this many pixels across
_TARGET_SIDE = 260.0


def _stretch(value: np.ndarray) -> np.ndarray | None:
    """Contrast-stretched grey, or None when the image is flat (nothing to decode)."""
    lo, hi = percentiles_u8(value[::2, ::2], (1.0, 99.8))
    if hi - lo < 4:
        return None
    return cv2.convertScaleAbs(value, alpha=255.0 / (hi - lo), beta=-lo * 255.0 / (hi - lo))


def percentiles_u8(img: np.ndarray, qs: Sequence[float]) -> tuple[float, ...]:
    """``np.percentile(img, qs)`` (linear interpolation) from a 256-bin histogram: the same
    numbers for 8-bit images without sorting them (a full-frame sort costs ~20 ms)."""
    if img.dtype != np.uint8:
        return tuple(float(v) for v in np.percentile(img, qs))
    hist = cv2.calcHist([np.ascontiguousarray(img)], [0], None, [256], [0, 256]).ravel()
    cdf = np.cumsum(hist)
    n = int(cdf[-1])
    if n == 0:
        raise ValueError("percentiles of an empty image")
    out = []
    for q in qs:
        pos = q / 100.0 * (n - 1)
        below = int(np.floor(pos))
        lo = int(np.searchsorted(cdf, below, side="right"))
        hi = int(np.searchsorted(cdf, min(n - 1, below + 1), side="right"))
        out.append(lo + (pos - below) * (hi - lo))
    return tuple(out)


def _views(glow: np.ndarray, raw: np.ndarray | None) -> list[np.ndarray]:
    """The grey images one place is tried as, most likely first."""
    out: list[np.ndarray] = []
    b, g, r = cv2.split(glow)
    brightest = cv2.max(cv2.max(b, g), r)
    for value in (brightest, g, b, r):
        if value is not brightest and np.array_equal(value, brightest):
            continue  # the channel that is the brightest everywhere: the same image again
        s = _stretch(value)
        if s is not None:
            out.append(s)
    if raw is not None:
        rb, rg, rr = cv2.split(raw)
        s = _stretch(cv2.max(cv2.max(rb, rg), rr))
        if s is not None:
            out.append(s)
    return out


def read_first_of(
    view_sets: Sequence[Sequence[np.ndarray]],
    scales: Sequence[float],
    formats: str,
    geometry: Sequence[tuple[int, int, float, BBox | None]] | None = None,
) -> list[list[BarcodeRead]]:
    """For each place, the reads of the first attempt that decodes, boxes in the view's
    pixels (one worker job per frame). Each view is tried enlarged to its place's scale with
    both binarisers (a local threshold fails on glowing grounds a global one handles, and
    back), then as it is.

    ``geometry`` gives each place's origin and factor in the frame and the glowing region it
    was cut around: a region lying within a code already decoded at an earlier place is that
    same label, so it is skipped (most of the search's cost on a frame whose label the whole
    frame view already read)."""
    out: list[list[BarcodeRead]] = []
    decoded: list[BBox] = []
    for i, (views, scale) in enumerate(zip(view_sets, scales, strict=True)):
        found: list[BarcodeRead] = []
        place = geometry[i] if geometry is not None else None
        if place is not None and place[3] is not None:
            region = place[3]
            if any(_within(region, d) for d in decoded):
                out.append(found)
                continue
        for view, (enlarge, binarizer) in itertools.product(views, _ATTEMPTS):
            if enlarge and scale <= 1.0:
                continue
            img = _enlarge(view, scale) if enlarge else view
            found = read_zxing(img, formats, binarizer, rotate=False)  # 2D: any way up
            if found:
                k = scale if enlarge else 1.0
                found = [_shrunk(r, k) for r in found]
                break
        if place is not None:
            x0, y0, f, _ = place
            decoded += [_in_frame(r.bbox, x0, y0, f) for r in found]
        out.append(found)
    return out


def _in_frame(box: BBox, x0: int, y0: int, k: float) -> BBox:
    """A box in a place's pixels mapped to the frame's."""
    rx, ry, rw, rh = box
    return (int(x0 + rx * k), int(y0 + ry * k), max(1, int(rw * k)), max(1, int(rh * k)))


def _within(inner: BBox, outer: BBox) -> bool:
    """``inner`` lies wholly within ``outer`` grown by a small margin (a decoded symbol's
    box can be a few pixels tighter than its glow)."""
    ix, iy, iw, ih = inner
    ox, oy, ow, oh = outer
    pad = max(ow, oh) // 10 + 2
    return (
        ix >= ox - pad and iy >= oy - pad and ix + iw <= ox + ow + pad and iy + ih <= oy + oh + pad
    )


#: (enlarged?, binariser) in the order they are tried on each view. zxing-cpp's 2D detectors
#: find a symbol at any angle, so its 90-degree turned passes (a third of the search's time)
#: are not asked for: on 1726 attempts from 70 tuning and speed scenes they decoded nothing
#: the upright passes did not
_ATTEMPTS = (
    (True, zxingcpp.Binarizer.LocalAverage),
    (True, zxingcpp.Binarizer.GlobalHistogram),
    (False, zxingcpp.Binarizer.LocalAverage),
    (False, zxingcpp.Binarizer.GlobalHistogram),
)


def _shrunk(read: BarcodeRead, k: float) -> BarcodeRead:
    if k == 1.0:
        return read
    x, y, w, h = read.bbox
    return replace(read, bbox=(int(x / k), int(y / k), max(1, int(w / k)), max(1, int(h / k))))


def _enlarge(img: np.ndarray, scale: float) -> np.ndarray:
    if scale <= 1.0:
        return img
    return cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)


#: a place is searched when its rows and columns cross between dark and bright more than
#: this many times on average (a smooth glow's outline is crossed twice; a code's modules
#: many times; measured on tuning scenes: every decoded label crossed >= 7 times)
_MIN_MODULE_EDGES = 3.0


def module_edges(view: np.ndarray) -> float:
    """How often a scan line through the place crosses between dark and bright (the view
    split at mid-grey), averaged over the lines that cross at all; the fewer of rows and
    columns."""
    bright = (view > 127).astype(np.int8)
    counts = []
    for lines in (bright, bright.T):
        crossings = np.count_nonzero(np.diff(lines, axis=1), axis=1)
        crossed = crossings[crossings > 0]
        counts.append(float(crossed.mean()) if crossed.size else 0.0)
    return min(counts)


def label_like(box: BBox, frame_shape: tuple[int, ...]) -> bool:
    """Whether a glowing region could be a code label: big enough, squarish, not huge."""
    h, w = frame_shape[:2]
    _, _, bw, bh = box
    return (
        min(bw, bh) >= _MIN_LABEL_SIDE
        and max(bw, bh) <= 3 * min(bw, bh)
        and bw <= w // 2
        and bh <= h // 2
    )


def read_uv_codes(
    glow: np.ndarray | GlowSource,
    regions: Sequence[BBox] | None = None,
    max_regions: int = 12,
    runner: DecoderRunner | None = None,
    failures: list[DecoderFailed] | None = None,
    whole_frame: bool = True,
) -> list[BarcodeRead]:
    """Every kit code in the UV frame, boxes in frame pixels.

    ``regions`` are the glowing areas from the mark finder; those shaped like a label are
    cropped (with a margin), enlarged and tried first. The rest of the glow (regions too big,
    too long or too small to be a label alone: a label the mark finder merged with other glow
    or split into pieces) is then tried on one frame-wide view at most ~2000 px wide, cut to
    those regions and a label's size around them (``whole_frame``); glow lying within a code
    already read is not searched again. Without ``regions`` the whole view is tried.
    """
    run = runner if runner is not None else InProcess()
    source = glow if isinstance(glow, GlowSource) else GlowSource(glow)
    h, w = source.shape[:2]
    raw_uv = source.uv if source.dark is not None else None

    places: list[tuple[int, int, float, float, list[np.ndarray]]] = []
    regions_of: list[BBox | None] = []
    given = list(regions or [])
    labels = [b for b in given if label_like(b, source.shape)][:max_regions]
    smooth: list[BBox] = []
    for x, y, bw, bh in labels:
        pad = max(bw, bh) // 3 + 8
        x0, y0 = max(0, x - pad), max(0, y - pad)
        x1, y1 = min(w, x + bw + pad), min(h, y + bh + pad)
        scale = max(1.0, min(4.0, _TARGET_SIDE / max(1, max(bw, bh))))
        raw = raw_uv[y0:y1, x0:x1] if raw_uv is not None else None
        views = _views(source.crop(x0, y0, x1, y1), raw)
        if not any(module_edges(v) >= _MIN_MODULE_EDGES for v in views):
            # a smooth glow (a splash, a smear, the lamp's patch): no modules to read at the
            # crop's own contrast; a label glowing as brightly as its ground can look smooth
            # so, so it is still tried at the frame's contrast below
            smooth.append((x0, y0, x1 - x0, y1 - y0))
            continue
        places.append((x0, y0, 1.0, scale, views))
        regions_of.append((x, y, bw, bh))
    rest = [b for b in given if b not in labels]
    if regions is None or (whole_frame and (rest or smooth)):
        factor = max(1, w // 2000)
        small = source.reduced(factor)
        sb, sg, sr = cv2.split(small)
        s = _stretch(cv2.max(cv2.max(sb, sg), sr))
        if s is not None:
            pieces = [(0, 0, w, h)] if regions is None else rest_of_glow(rest, (h, w), smooth)
            for px, py, pw, ph in pieces:
                x0, y0 = px // factor, py // factor
                x1, y1 = (px + pw) // factor, (py + ph) // factor
                places.append((x0 * factor, y0 * factor, float(factor), 1.0, [s[y0:y1, x0:x1]]))
                regions_of.append(None if regions is None else _glow_within(rest, (px, py, pw, ph)))
    if not places:
        return []
    geometry = [(p[0], p[1], p[2], box) for p, box in zip(places, regions_of, strict=True)]
    outcome = run.run(
        "zxing (UV)",
        read_first_of,
        [p[4] for p in places],
        [p[3] for p in places],
        _UV_FORMATS,
        geometry,
    )
    if outcome.failure is not None and failures is not None:
        failures.append(outcome.failure)
    found = outcome.value_or([[] for _ in places])
    reads: list[BarcodeRead] = []
    for (x0, y0, k, _, _), place_reads in zip(places, found, strict=True):
        for r in place_reads:
            box = _in_frame(r.bbox, x0, y0, k)
            if all(o.text != r.text for o in reads):
                reads.append(BarcodeRead(r.symbology, r.text, box, r.decoders, r.confidence, r.gs1))
    return reads


#: the rest of the glow is searched this far around it, as a fraction of the frame's
#: shorter side: a kit label's size (a piece of a split label is somewhere inside its label)
_REST_MARGIN = 1 / 8
#: above this share of the frame, the rest of the glow is searched as the whole frame
_REST_WHOLE_SHARE = 0.5


def rest_of_glow(
    boxes: Sequence[BBox], shape: tuple[int, int], crops: Sequence[BBox] = ()
) -> list[BBox]:
    """Where the frame-wide view is searched: each glow region grown by a label's size,
    clipped to the frame, and ``crops`` as they are (label crops that looked smooth),
    overlapping ones merged; the whole frame when that is most of it.

    A label the mark finder merged with other glow lies within that region; one it split
    into pieces lies within a label's size of each piece."""
    h, w = shape
    margin = max(16, round(min(h, w) * _REST_MARGIN))
    grown = []
    for x, y, bw, bh in boxes:
        x0, y0 = max(0, x - margin), max(0, y - margin)
        x1, y1 = min(w, x + bw + margin), min(h, y + bh + margin)
        grown.append((x0, y0, x1 - x0, y1 - y0))
    merged = merge_overlapping(grown + list(crops))
    if sum(bw * bh for _, _, bw, bh in merged) > _REST_WHOLE_SHARE * w * h:
        return [(0, 0, w, h)]
    return merged


def _glow_within(boxes: Sequence[BBox], piece: BBox) -> BBox:
    """The bounding box of the glow regions a piece of the frame was cut around (the piece
    is not searched when that lies within a code already read)."""
    inside = [b for b in boxes if _within(b, piece)]
    return enclosing(inside) if inside else piece
