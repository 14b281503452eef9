"""Printed serials and UV-pen postcodes by Tesseract, reported only when they can be trusted.

Text lines are found cheaply (dark strokes on light labels under white light; pen marks
already found under UV), cut out, stacked into one image and read by a single Tesseract
call, so the process start-up is paid once per check. A serial is only taken after an
anchor ("S/N", "Serial", "IMEI"); an IMEI must pass its Luhn check; a pen mark must be a
house number or name plus a well-formed postcode. Anything below the confidence floor is
dropped: a wrong serial can match someone else's stolen item.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np

from station.domain import BBox, Identifier, IdentifierKind
from station.errors import IdentifierRejected, OcrUnavailable
from station.identifiers import classify, parse_postcode_mark
from station.vision.isolation import DecoderRunner, InProcess, Job, Outcome, run_all
from station.vision.marks import GlowSource
from station.vision.ocr_engines import (
    ENGINES,
    EngineName,
    page_image,
    page_regions,
    rapidocr_regions,
)

_LINE_HEIGHT = 56
_GAP = 24
#: Tesseract page segmentation: 6 = one uniform block of text (each crop is its own page)
_PSM = "6"
_MAX_LINES = 6
#: mean word confidence (0..1) below which a reading is dropped
MIN_CONFIDENCE = 0.6
#: a serial has no check digit, so it needs a clearer reading than an IMEI or a postcode
#: (measured on generated labels: every misread beyond the usual 0/O-style confusions lay
#: below this word confidence)
MIN_SERIAL_CONFIDENCE = 0.75
#: OCR is never as sure as a checksummed barcode: its confidences are scaled below this
_OCR_CEILING = 0.85
#: a serial has no check digit to catch a misread (4 read as A): it never rates as high
#: confidence (>= 0.8); IMEIs (Luhn) and postcode marks (format) may
_SERIAL_CEILING = 0.75
#: the confidence from which a reading counts as high (used by the evaluation)
HIGH_CONFIDENCE = 0.8

_ANCHOR = re.compile(
    r"^(?P<anchor>S\s*[/|I1]\s*N|SN|SER(?:[I1L]?AL)?(?:\s*(?:N[O0]|NUMBER|NUM|#))?|IMEI\s*[12]?)"
    r"\s*[.:#]*\s*(?P<value>[A-Z0-9][A-Z0-9\-]{3,})?$"
)


@dataclass(frozen=True)
class TextCrop:
    """A piece of a frame to read: where it came from and its pixels (dark text on light)."""

    box: BBox
    frame: str  # "white" or "uv"
    image: np.ndarray  # grey uint8
    #: enlargement for Tesseract; each crop is read at two scales that must agree
    scale: float = 2.0


@dataclass(frozen=True)
class OcrLine:
    crop: TextCrop
    text: str
    confidence: float
    word_confidences: tuple[float, ...]


def text_line_boxes(gray: np.ndarray, exclude: Sequence[BBox] = ()) -> list[BBox]:
    """Candidate printed-text lines: rows of small dark strokes on a light background."""
    h, w = gray.shape[:2]
    factor = max(1, round(w / 1280))  # integer: INTER_AREA's fast path
    scale = float(factor)
    small = (
        cv2.resize(gray, (w // factor, h // factor), interpolation=cv2.INTER_AREA)
        if factor > 1
        else gray
    )
    blackhat = cv2.morphologyEx(
        small, cv2.MORPH_BLACKHAT, cv2.getStructuringElement(cv2.MORPH_RECT, (15, 15))
    )
    _, mask = cv2.threshold(blackhat, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    if float(blackhat.max()) < 20:  # faded print still stands out by 20 grey levels
        return []
    mask = cv2.morphologyEx(
        mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (17, 3))
    )
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    boxes: list[tuple[float, BBox]] = []
    for i in range(1, n):
        x, y, bw, bh, area = (int(v) for v in stats[i])
        if not (8 <= bh <= 130 and bw >= 1.8 * bh and bw <= 0.8 * small.shape[1]):
            continue
        fill = area / float(bw * bh)
        if fill < 0.3:
            continue
        pad = max(3, bh // 3)
        box = (
            int(max(0, x - pad) * scale),
            int(max(0, y - pad) * scale),
            int((bw + 2 * pad) * scale),
            int((bh + 2 * pad) * scale),
        )
        if any(_overlap_fraction(box, e) > 0.3 for e in exclude):
            continue
        boxes.append((bw * bh, box))
    boxes.sort(key=lambda t: -t[0])
    return [b for _, b in boxes[:_MAX_LINES]]


def _overlap_fraction(a: BBox, b: BBox) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / float(max(1, a[2] * a[3]))


def crops_from_white(gray: np.ndarray, boxes: Sequence[BBox]) -> list[TextCrop]:
    return [TextCrop(b, "white", gray[b[1] : b[1] + b[3], b[0] : b[0] + b[2]]) for b in boxes]


def crops_from_glow(glow: GlowSource, boxes: Sequence[BBox]) -> list[TextCrop]:
    """UV pen writing glows bright on dark: invert to dark-on-light for Tesseract."""
    out: list[TextCrop] = []
    h, w = glow.shape[:2]
    for x, y, bw, bh in boxes:
        pad = max(4, bh // 4)
        x0, y0 = max(0, x - pad), max(0, y - pad)
        x1, y1 = min(w, x + bw + pad), min(h, y + bh + pad)
        if x1 <= x0 or y1 <= y0:
            continue
        b, g, r = cv2.split(glow.crop(x0, y0, x1, y1))
        crop = cv2.max(cv2.max(b, g), r)
        lo, hi = float(crop.min()), float(crop.max())
        crop = cv2.convertScaleAbs(
            crop, alpha=255.0 / max(1.0, hi - lo), beta=-lo * 255.0 / max(1.0, hi - lo)
        )
        out.append(TextCrop((x0, y0, x1 - x0, y1 - y0), "uv", 255 - crop))
    return out


def _stretch(crop: np.ndarray) -> np.ndarray:
    """Paper to white, ink to black: a grey label on the white montage otherwise reads as
    one dark block to Tesseract's global threshold."""
    lo, hi = np.percentile(crop, (2.0, 98.0))
    if hi - lo < 8:
        return crop
    return cv2.convertScaleAbs(crop, alpha=255.0 / (hi - lo), beta=-lo * 255.0 / (hi - lo))


def _prepared(crop: TextCrop) -> np.ndarray:
    """The crop as Tesseract should see it: stretched, scaled to its line height, framed."""
    ch, cw = crop.image.shape[:2]
    lines_in_crop = max(1, round(ch / 45))
    s = crop.scale * 30.0 * lines_in_crop / max(1, ch)
    img = cv2.resize(
        _stretch(crop.image),
        (max(1, int(cw * s)), max(1, int(ch * s))),
        interpolation=cv2.INTER_CUBIC,
    )
    return cv2.copyMakeBorder(img, _GAP, _GAP, _GAP, _GAP, cv2.BORDER_CONSTANT, value=255)


def read_lines(
    crops: Sequence[TextCrop],
    engine: EngineName = "tesseract",
    runner: DecoderRunner | None = None,
) -> list[OcrLine]:
    """One engine call over all crops (in a decoder worker); the words of each crop.

    Raises OcrUnavailable when the engine is missing or failed, naming why.
    """
    if not crops:
        return []
    run = runner if runner is not None else InProcess()
    outcome = run.run("ocr", ENGINES[engine], [_prepared(c) for c in crops])
    if outcome.failure is not None or outcome.value is None:
        reason = outcome.failure.reason if outcome.failure else "no answer"
        raise OcrUnavailable(f"{engine} failed ({reason})")
    out: list[OcrLine] = []
    for crop, lines in zip(crops, outcome.value, strict=True):
        words = [w for line in lines for w in line]
        if not words:
            continue
        confs = tuple(c for _, c in words)
        text = " ".join(t for t, _ in words)
        out.append(OcrLine(crop, text, float(np.mean(confs)), confs))
    return out


def identifiers_from_lines(lines: Sequence[OcrLine]) -> list[Identifier]:
    """Anchored serials/IMEIs from white-frame lines, postcode marks from UV lines."""
    found: list[Identifier] = []
    white = sorted(
        (ln for ln in lines if ln.crop.frame == "white"), key=lambda ln: ln.crop.box[1::-1]
    )
    for ln in white:
        m = _ANCHOR.match(ln.text.upper().strip())
        if not m:
            continue
        value = m.group("value")
        conf = min(ln.word_confidences)
        box = ln.crop.box
        if value is None:
            # anchor alone: the value is the line to its right on the same row or the line
            # below it on the same label (line finders split a row at a wide gap)
            nxt = next((o for o in white if o is not ln and _value_place(box, o.crop.box)), None)
            if nxt is not None:
                value = nxt.text.upper().split()[0] if nxt.text.strip() else None
                conf = min(conf, *nxt.word_confidences)
                box = _union(box, nxt.crop.box)
        if not value or conf < MIN_CONFIDENCE:
            continue
        # the anchor says what the value is: never let a serial pass for a mark code
        hint: IdentifierKind = "imei" if m.group("anchor").startswith("IMEI") else "serial"
        if hint == "serial" and conf < MIN_SERIAL_CONFIDENCE:
            continue  # no check digit behind it: only a clearly printed serial is taken
        try:
            c = classify(value, hint)
        except IdentifierRejected:
            continue
        if c.kind == "imei" and not c.valid:
            continue  # a misread digit: Luhn fails, and a guess is worse than a miss
        found.append(
            Identifier(
                kind=c.kind,
                value=c.value,
                raw=value,
                source="ocr",
                confidence=round(
                    (_OCR_CEILING if c.kind == "imei" and c.valid else _SERIAL_CEILING) * conf, 3
                ),
                valid=c.valid,
                bbox=box,
                frame="white",
            )
        )
    for ln in lines:
        if ln.crop.frame != "uv" or min(ln.word_confidences) < MIN_CONFIDENCE:
            continue
        pm = parse_postcode_mark(ln.text.upper())
        if pm is None:
            continue
        found.append(
            Identifier(
                kind="postcode_mark",
                value=pm,
                raw=ln.text,
                source="ocr",
                confidence=round(_OCR_CEILING * min(ln.word_confidences), 3),
                valid=True,
                bbox=ln.crop.box,
                frame="uv",
            )
        )
    return found


def _value_place(anchor: BBox, other: BBox) -> bool:
    """Whether ``other`` sits where an anchor's value is printed: right of it on its row,
    or on the next line below it, left-aligned with it."""
    ax, ay, aw, ah = anchor
    ox, oy, _, oh = other
    same_row = abs((oy + oh / 2) - (ay + ah / 2)) < 0.6 * ah and 0 < ox - ax < aw + 6 * ah
    below = abs(ox - ax) < 3 * ah and 0 < oy - ay < 4 * ah
    return same_row or below


def _union(a: BBox, b: BBox) -> BBox:
    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
    x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return x0, y0, x1 - x0, y1 - y0


#: the enlargements every crop is read at, per engine; a reading must come out the same in
#: all of them (Tesseract's misreads move with the size; PP-OCR reads at its own line height)
_SCALES: dict[str, tuple[float, ...]] = {"tesseract": (1.6, 2.6), "rapidocr": (2.0,)}


def read_text(
    gray_white: np.ndarray,
    glow: GlowSource | None = None,
    pen_boxes: Sequence[BBox] = (),
    exclude: Sequence[BBox] = (),
    engine: EngineName = "tesseract",
    runner: DecoderRunner | None = None,
    page: Callable[[], Outcome[Any]] | None = None,
) -> list[Identifier]:
    """Every trusted serial, IMEI and postcode mark in the printed/pen text of a capture.

    ``page`` (RapidOCR only) waits for the white frame's page reading when the caller
    started it early, beside the barcode decoders; without it the page is read here.

    Each crop is read at two scales in the same Tesseract run; a value is kept only when
    both readings give it, since a misread (4 as A, 1 as L) rarely survives a change of size.
    """
    if engine == "rapidocr":
        return _read_text_rapid(gray_white, glow, pen_boxes, exclude, runner, page)
    crops = crops_from_white(gray_white, text_line_boxes(gray_white, exclude))
    if glow is not None and pen_boxes:
        crops += crops_from_glow(glow, pen_boxes)
    if not crops:
        return []
    scales = _SCALES[engine]
    lines = read_lines([replace(c, scale=s) for s in scales for c in crops], engine, runner)
    readings = [identifiers_from_lines([ln for ln in lines if ln.crop.scale == s]) for s in scales]
    out: list[Identifier] = []
    for ident in readings[0]:
        twins = [
            next((o for o in other if o.kind == ident.kind and o.value == ident.value), None)
            for other in readings[1:]
        ]
        if all(t is not None for t in twins):
            low = min([ident.confidence, *(t.confidence for t in twins if t is not None)])
            out.append(ident.model_copy(update={"confidence": low}))
    return out


def _read_text_rapid(
    gray_white: np.ndarray,
    glow: GlowSource | None,
    pen_boxes: Sequence[BBox],
    exclude: Sequence[BBox],
    runner: DecoderRunner | None,
    page: Callable[[], Outcome[Any]] | None = None,
) -> list[Identifier]:
    """PP-OCR finds and reads the white frame's lines itself; pen marks are read as crops."""
    run = runner if runner is not None else InProcess()
    outcome = page() if page is not None else read_page(gray_white, run, exclude)
    if outcome.failure is not None or outcome.value is None:
        reason = outcome.failure.reason if outcome.failure else "no answer"
        raise OcrUnavailable(f"rapidocr failed ({reason})")
    lines: list[OcrLine] = []
    for box, text, score in outcome.value:
        if any(_overlap_fraction(box, e) > 0.5 for e in exclude):
            continue  # the digits printed under a barcode are the barcode's, already read
        words = text.split()
        if words:
            crop = TextCrop(box, "white", np.zeros((1, 1), np.uint8))
            lines.append(OcrLine(crop, " ".join(words), score, tuple(score for _ in words)))
    if glow is not None and pen_boxes:
        lines += read_lines(crops_from_glow(glow, pen_boxes), "rapidocr", run)
    return identifiers_from_lines(lines)


def read_page(
    gray_white: np.ndarray, runner: DecoderRunner, codes: Sequence[BBox] = ()
) -> Outcome[Any]:
    """RapidOCR's detection and recognition of the white frame's text, in decoder workers.

    Needs nothing but the frame and the boxes of codes already decoded (``codes``: no text
    to look for there), so the pipeline starts it as soon as zxing-cpp has answered. The
    text regions are found here and, when there are several, shared between two worker
    calls of about equal area (the two cores read them side by side); the lines come back
    in region order, as one call would give them."""
    small, scale = page_image(gray_white)
    regions = page_regions(small, scale, list(codes))
    if not regions:
        return Outcome(value=[])
    halves = split_by_area(regions)
    jobs: list[Job] = [
        ("ocr", rapidocr_regions, (small, scale, [regions[i] for i in half])) for half in halves
    ]
    outcomes = run_all(runner, jobs)
    failed = next((o for o in outcomes if o.failure is not None), None)
    if failed is not None:
        return failed
    per_region: dict[int, list[Any]] = {}
    for half, outcome in zip(halves, outcomes, strict=True):
        for i, lines in zip(half, outcome.value_or([]), strict=True):
            per_region[i] = lines
    return Outcome(value=[line for i in sorted(per_region) for line in per_region[i]])


def split_by_area(regions: Sequence[BBox]) -> list[list[int]]:
    """Region indices in one or two groups of about equal area (the biggest first, each to
    the lighter group), each group in region order."""
    if len(regions) < 2:
        return [list(range(len(regions)))]
    groups: list[list[int]] = [[], []]
    load = [0, 0]
    for i in sorted(range(len(regions)), key=lambda j: -regions[j][2] * regions[j][3]):
        g = 0 if load[0] <= load[1] else 1
        groups[g].append(i)
        load[g] += regions[i][2] * regions[i][3]
    return [sorted(g) for g in groups]
