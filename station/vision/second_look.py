"""A second look where a code probably is but the first pass read nothing it trusts.

Places come from the first pass itself (a symbol a decoder read but the rules dropped, or
one zxing-cpp located but could not check) and from the cheap localiser
(``station.vision.localise``). Each place is cut out, turned so that its bars stand upright,
enlarged, contrast-stretched, and decoded by both decoders in a few variants (two scales,
one sharpened; zbar also on the inverted crop, zxing-cpp inverts by itself and also
binarises the first crop by its global histogram). Only the few
best places of a frame get this look, none where the first pass already read a code, and
in a frame where it read one only places where a decoder saw something; so a frame whose
codes were read costs just the localiser.

A read found only by the second look must be confirmed by it: the same text in at least
two looks and no other text of its kind at that place; both decoders for the
weakly checked symbologies (Code 39, Codabar; an ITF, which needs quiet zones in every look,
may instead be read by zxing-cpp alone in three looks); the usual
per-symbology lengths and check digits; and never a UPC-E or EAN-8 where a longer EAN/UPC
symbol was seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np
import zxingcpp
from pyzbar import pyzbar

from station.domain import BBox
from station.vision import localise
from station.vision.barcodes import (
    _LONG_EANUPC,
    _SHORT_EANUPC,
    BarcodeRead,
    _near,
    _plausible_alone,
    _zbar_symbols,
    long_enough,
    quiet_zones,
    read_zxing,
)
from station.vision.isolation import DecoderFailed, DecoderRunner, InProcess, Job, run_all

#: places given a second look per frame
MAX_PLACES = 3
#: a bars crop is enlarged until the symbol spans about this many pixels across its bars
_TARGET_LENGTH = 640.0
_MAX_ENLARGE = 4.0
#: no variant image is larger than this on its longer side
_MAX_SIDE = 1400
BARS_ZXING = "Code128,Code39,Code93,Codabar,EAN13,EAN8,UPCA,UPCE,ITF,PDF417"
MATRIX_ZXING = "QRCode,MicroQRCode,DataMatrix,Aztec"
_BARS_ZBAR = ["CODE128", "CODE39", "CODE93", "EAN13", "EAN8", "UPCA", "UPCE", "I25"]
_MATRIX_ZBAR = ["QRCODE"]
#: no error correction and no mandatory check character: both decoders must agree
_WEAK = frozenset({"CODE39", "CODE32", "PZN", "CODABAR", "ITF"})
_ERROR_CORRECTED = frozenset({"QRCODE", "DATAMATRIX", "PDF417", "AZTEC"})


@dataclass(frozen=True)
class Place:
    """Where to look (frame pixels) and how the symbol lies there."""

    cx: float
    cy: float
    length: float
    height: float
    #: degrees; cv2.getRotationMatrix2D(centre, angle) stands the bars upright
    angle: float
    kind: str  # "bars" or "matrix"
    #: found by the localiser alone (no decoder saw anything there)
    localised: bool = False

    @property
    def bbox(self) -> BBox:
        return localise.Region(
            self.cx, self.cy, self.length, self.height, self.angle, self.kind, 0.0
        ).bbox


def _grown(box: BBox, frac: float, pad: int = 8) -> BBox:
    x, y, w, h = box
    dx, dy = int(w * frac) + pad, int(h * frac) + pad
    return x - dx, y - dy, w + 2 * dx, h + 2 * dy


def _squared(box: BBox) -> BBox:
    """A box at least half as thick as it is long, about the same centre."""
    x, y, w, h = box
    w2, h2 = max(w, h // 2), max(h, w // 2)
    return x + w // 2 - w2 // 2, y + h // 2 - h2 // 2, w2, h2


def _inside(px: float, py: float, box: BBox) -> bool:
    x, y, w, h = box
    return x <= px <= x + w and y <= py <= y + h


def _centre(box: BBox) -> tuple[float, float]:
    return box[0] + box[2] / 2, box[1] + box[3] / 2


def places(
    gray: np.ndarray,
    raw: Sequence[BarcodeRead],
    trusted: Sequence[BarcodeRead],
    limit: int = MAX_PLACES,
) -> list[Place]:
    """Where a code probably is but nothing trusted was read, most likely first."""
    # a 1D read's box may be a thin band of scan lines: grow it by its longer side
    taken = [_grown(_squared(r.bbox), 0.1) for r in trusted]
    chosen: list[Place] = []

    def free(cx: float, cy: float) -> bool:
        return not any(_inside(cx, cy, b) for b in taken) and not any(
            _inside(cx, cy, _grown(p.bbox, 0.1)) for p in chosen
        )

    leftover = [r for r in raw if free(*_centre(r.bbox))]
    if trusted and not leftover:
        return []  # every code seen was read: not even the localiser runs
    regions = localise.candidates(gray, limit=2 * limit)
    for r in leftover:
        if len(chosen) >= limit:
            break
        cx, cy = _centre(r.bbox)
        if not free(cx, cy):
            continue
        kind = "matrix" if r.symbology in ("QRCODE", "DATAMATRIX", "AZTEC") else "bars"
        side = float(max(r.bbox[2], r.bbox[3]))
        # the localiser's reading of this place gives its angle and extent, when it has one
        match = next((g for g in regions if _inside(g.cx, g.cy, _grown(r.bbox, 0.3))), None)
        if match is not None and match.kind == kind:
            chosen.append(
                Place(
                    cx,
                    cy,
                    max(match.length, side),
                    max(match.height, side / 3),
                    match.angle,
                    kind,
                )
            )
        else:
            chosen.append(Place(cx, cy, side, side, 0.0, kind))
    for g in regions if not trusted else ():
        # where the first pass read codes, a patch no decoder saw anything in is mostly
        # print beside them (an add-on, the digits): looked at only in a frame with no read
        if len(chosen) >= limit:
            break
        if free(g.cx, g.cy):
            chosen.append(Place(g.cx, g.cy, g.length, g.height, g.angle, g.kind, localised=True))
    return chosen


def _stretch(img: np.ndarray) -> np.ndarray:
    """Grey levels from the crop's 1st to 99th percentile spread over 0..255."""
    lo, hi = np.percentile(img[::3, ::3], (1, 99))
    if hi - lo < 12:
        return img
    out = (img.astype(np.float32) - lo) * (255.0 / (hi - lo))
    return np.clip(out, 0, 255).astype(np.uint8)


def _sharpen(img: np.ndarray) -> np.ndarray:
    soft = cv2.GaussianBlur(img, (0, 0), 1.5)
    return cv2.addWeighted(img, 1.8, soft, -0.8, 0)


def view(gray: np.ndarray, place: Place, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """The place cut out, turned upright and scaled, with quiet-zone margins; and the 2x3
    matrix that maps frame pixels into it."""
    angle = place.angle if place.kind == "bars" else 0.0
    mu = 0.3 * place.length + 16
    mv = 0.35 * place.height + 16
    w = (place.length + 2 * mu) * scale
    h = (place.height + 2 * mv) * scale
    if max(w, h) > _MAX_SIDE:
        shrink = _MAX_SIDE / max(w, h)
        scale, w, h = scale * shrink, w * shrink, h * shrink
    m = cv2.getRotationMatrix2D((place.cx, place.cy), angle, scale)
    m[0, 2] += w / 2 - place.cx
    m[1, 2] += h / 2 - place.cy
    img = cv2.warpAffine(
        gray,
        m,
        (max(8, int(w)), max(8, int(h))),
        flags=cv2.INTER_CUBIC,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return _stretch(img), m


#: a bars place is decoded only when a scan line across it turns between dark and light at
#: least this often: every symbology's shortest symbol has more than 10 bars (20 turns), a
#: lone edge (an item's outline, the tray's reference patch) turns once
_MIN_TURNS = 10
#: a turn counts when the grey level moves back by this share of the view's range (0..255)
_TURN_STEP = 0.12


def turns(profile: np.ndarray, step: float) -> int:
    """How often a grey-level profile turns (dark to light or back) by at least ``step``."""
    values = profile.tolist()
    count, direction = 0, 0  # direction: +1 rising, -1 falling, 0 not yet known
    lo = hi = values[0]
    for v in values:
        if direction == 0:
            lo, hi = min(lo, v), max(hi, v)
            if hi - v >= step:
                direction, lo = -1, v
            elif v - lo >= step:
                direction, hi = 1, v
        elif direction > 0:
            if v > hi:
                hi = v
            elif hi - v >= step:
                direction, lo, count = -1, v, count + 1
        elif v < lo:
            lo = v
        elif v - lo >= step:
            direction, hi, count = 1, v, count + 1
    return count


def bar_like(view_img: np.ndarray) -> bool:
    """Whether an upright view may hold bars: some scan line across it (a band of rows
    averaged, at a quarter, half and three quarters of its height) turns often enough."""
    h = view_img.shape[0]
    band = max(1, h // 16)
    for frac in (0.25, 0.5, 0.75):
        y = int(h * frac)
        rows = view_img[max(0, y - band) : y + band + 1].astype(np.float32)
        if turns(rows.mean(axis=0), _TURN_STEP * 255.0) >= _MIN_TURNS:
            return True
    return False


def _bars_seen(gray: np.ndarray, place: Place) -> bool:
    """Whether a place turns like bars at the frame's own scale, either way up (a lone edge,
    an item's outline or the tray's reference patch, is not worth the decoders' look)."""
    img, _ = view(gray, place, 1.0)
    return bar_like(img) or bar_like(img.T)


def variants(gray: np.ndarray, place: Place) -> list[tuple[np.ndarray, np.ndarray]]:
    """The images a place is decoded in, each with its frame-to-image matrix."""
    if place.kind == "bars":
        s = min(_MAX_ENLARGE, max(1.0, _TARGET_LENGTH / max(place.length, 1.0)))
    else:
        s = min(3.0, max(1.0, 480.0 / max(place.length, place.height, 1.0)))
    big, m = view(gray, place, s)
    small, m2 = view(gray, place, max(0.5, s * 0.6))
    return [(big, m), (small, m2), (_sharpen(big), m)]


def look_zxing(images: Sequence[np.ndarray], formats: str) -> list[list[BarcodeRead]]:
    """zxing-cpp's reads (failed checks included, marked) of each image, and of the first
    one binarised by its global histogram (blurred bars survive it better) (a worker job)."""
    out = [read_zxing(img, formats, errors=True) for img in images]
    out.append(read_zxing(images[0], formats, zxingcpp.Binarizer.GlobalHistogram, errors=True))
    return out


def look_zbar(images: Sequence[np.ndarray], symbols: Sequence[str]) -> list[list[BarcodeRead]]:
    """zbar's reads of each image and of its inverse (a worker job)."""
    syms = [pyzbar.ZBarSymbol[n] for n in symbols]
    out = [_zbar_symbols(img, syms) for img in images]
    out.append(_zbar_symbols(cv2.bitwise_not(images[0]), syms))
    return out


def _to_frame(box: BBox, m: np.ndarray) -> BBox:
    inv = cv2.invertAffineTransform(m)
    x, y, w, h = box
    pts = np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float32)
    mapped = pts @ inv[:, :2].T + inv[:, 2]
    x0, y0 = np.floor(mapped.min(axis=0))
    x1, y1 = np.ceil(mapped.max(axis=0))
    return int(x0), int(y0), int(max(1, x1 - x0)), int(max(1, y1 - y0))


@dataclass(frozen=True)
class Seen:
    """One read in one look at a place."""

    look: tuple[str, int]  # decoder, variant
    read: BarcodeRead  # in frame pixels


def confirm(seen: Sequence[Seen], place: Place) -> list[BarcodeRead]:
    """The reads at one place that the looks confirm (see the module's rules)."""
    area = _grown(place.bbox, 0.2)
    here = [s for s in seen if _inside(*_centre(s.read.bbox), area)]
    long_seen = any(s.read.symbology in _LONG_EANUPC for s in here)
    out: list[BarcodeRead] = []
    families = {s.read.family for s in here if not s.read.failed}
    for family in sorted(families):
        looks: dict[str, set[tuple[str, int]]] = {}
        reads: dict[str, list[BarcodeRead]] = {}
        for s in here:
            r = s.read
            if r.failed or r.family != family:
                continue
            looks.setdefault(r.key, set()).add(s.look)
            reads.setdefault(r.key, []).append(r)
        ranked = sorted(looks.items(), key=lambda kv: -len(kv[1]))
        key, marks = ranked[0]
        rival = max((len(v) for _, v in ranked[1:]), default=0)
        decoders = tuple(d for d in ("zxing", "zbar") if any(m[0] == d for m in marks))
        rs = reads[key]
        best = next((r for r in rs if "zxing" in r.decoders), rs[0])
        best = replace(best, decoders=decoders)
        if not long_enough(best):
            continue
        if best.symbology in _ERROR_CORRECTED and "zxing" in decoders:
            if rival == 0:
                out.append(replace(best, confidence=0.9))  # Reed-Solomon vouches for it
            continue
        if len(marks) < 2 or rival > 0:
            continue  # no second look confirms it, or another text at the place
        # zbar reads no short or damaged ITF; zxing-cpp's own quiet-zone rule, ours in every
        # look, its even length and three agreeing looks stand in for the second decoder
        itf_alone = best.symbology == "ITF" and decoders == ("zxing",) and len(marks) >= 3
        if best.symbology in _WEAK and len(decoders) < 2 and not itf_alone:
            continue
        if best.symbology in _SHORT_EANUPC and long_seen:
            continue  # a UPC-E or EAN-8 inside a longer EAN/UPC symbol
        if not itf_alone and not _plausible_alone(best):
            continue
        out.append(replace(best, confidence=0.95 if len(decoders) == 2 else 0.85))
    return out


def second_look(
    gray: np.ndarray,
    raw: Sequence[BarcodeRead],
    trusted: Sequence[BarcodeRead],
    runner: DecoderRunner | None = None,
    failures: list[DecoderFailed] | None = None,
    limit: int = MAX_PLACES,
) -> list[BarcodeRead]:
    """New reads from a second look at the places the first pass left unread.

    ``raw`` are the first pass's reads of every decoder (failed checks included), ``trusted``
    what it reported; the returned reads are only those at new places, confirmed.
    """
    run = runner if runner is not None else InProcess()
    todo = places(gray, raw, trusted, limit)
    if not todo:
        return []
    jobs: list[Job] = []
    mats: list[list[np.ndarray]] = []
    views: list[list[np.ndarray]] = []
    todo = [p for p in todo if not p.localised or p.kind != "bars" or _bars_seen(gray, p)]
    for p in todo:
        vs = variants(gray, p)
        imgs = [v[0] for v in vs]
        mats.append([v[1] for v in vs])
        views.append(imgs)
        bars = p.kind == "bars"
        jobs.append(("zxing", look_zxing, (imgs, BARS_ZXING if bars else MATRIX_ZXING)))
        jobs.append(("zbar", look_zbar, (imgs, _BARS_ZBAR if bars else _MATRIX_ZBAR)))
    outcomes = run_all(run, jobs)
    found: list[BarcodeRead] = []
    for i, p in enumerate(todo):
        seen: list[Seen] = []
        for outcome in outcomes[2 * i : 2 * i + 2]:
            if outcome.failure is not None:
                if failures is not None:
                    failures.append(outcome.failure)
                continue
            for v, reads in enumerate(outcome.value_or([])):
                k = v if v < len(mats[i]) else 0  # the extra looks are of the first image
                for r in reads:
                    if r.symbology == "ITF" and not quiet_zones(views[i][k], r):
                        continue  # checked upright, in the image it was read in
                    fr = replace(r, bbox=_to_frame(r.bbox, mats[i][k]))
                    seen.append(Seen((r.decoders[0], v), fr))
        for r in confirm(seen, p):
            if any(r.family == o.family and _near(r.bbox, o.bbox) for o in [*trusted, *found]):
                continue  # read already, or a rival of a read at the same place
            if r.symbology in _SHORT_EANUPC and any(
                o.symbology in _LONG_EANUPC and _near(r.bbox, o.bbox) for o in raw
            ):
                continue
            found.append(r)
    return found
