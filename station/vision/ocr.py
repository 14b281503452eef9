"""Printed serials and UV-pen postcodes by Tesseract, reported only when they can be trusted.

Text lines are found cheaply (dark strokes on light labels under white light; pen marks
already found under UV), cut out, stacked into one image and read by a single Tesseract
call, so the process start-up is paid once per check. A serial is only taken after an
anchor ("S/N", "Serial", "IMEI"); an IMEI must pass its Luhn check; a pen mark must be a
house number or name plus a well-formed postcode. Anything below the confidence floor is
dropped: a wrong serial can match someone else's stolen item.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np
import pytesseract

from station.domain import BBox, Identifier, IdentifierKind
from station.errors import IdentifierRejected, OcrUnavailable
from station.identifiers import classify, parse_postcode_mark
from station.vision.marks import GlowSource

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
    r"^(?P<anchor>S\s*/\s*N|SN|SER(?:IAL)?(?:\s*(?:NO|NUMBER|NUM|#))?|IMEI\s*[12]?)"
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
    if float(blackhat.max()) < 40:
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


def _tesseract_pages(images: Sequence[np.ndarray]) -> list[dict[str, str]]:
    """Run Tesseract once over several images (one page each); its TSV word table.

    One process for all pages pays Tesseract's start-up (~80 ms) once per check, while each
    crop stays its own page so one line can never swallow or hide another. Run as a
    subprocess (pytesseract only names the binary) to give ``OMP_THREAD_LIMIT=1`` to this
    process alone: Tesseract's own threads halve its speed on a busy two-core box.
    """
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    with tempfile.TemporaryDirectory(prefix="station-ocr-") as tmp:
        names = []
        for i, img in enumerate(images):
            name = os.path.join(tmp, f"{i:03d}.png")
            if not cv2.imwrite(name, img):
                raise OcrUnavailable("could not write a text crop for Tesseract")
            names.append(name)
        listing = os.path.join(tmp, "pages.txt")
        with open(listing, "w", encoding="utf-8") as fh:
            fh.write("\n".join(names) + "\n")
        cmd = [
            pytesseract.pytesseract.tesseract_cmd,
            listing,
            "stdout",
            "--psm",
            _PSM,
            "--oem",
            "1",
            "-c",
            "tessedit_do_invert=0",
            "-c",
            "load_system_dawg=0",  # serials are not words: no dictionary pull towards words
            "-c",
            "load_freq_dawg=0",
            "tsv",
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, env=env, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise OcrUnavailable(f"tesseract could not run: {exc}") from exc
    if proc.returncode != 0:
        raise OcrUnavailable(f"tesseract failed: {proc.stderr.decode(errors='replace')[:200]}")
    rows = proc.stdout.decode("utf-8", errors="replace").splitlines()
    if not rows:
        return []
    header = rows[0].split("\t")
    return [dict(zip(header, r.split("\t"), strict=False)) for r in rows[1:]]


def read_lines(crops: Sequence[TextCrop]) -> list[OcrLine]:
    """One Tesseract run over all crops; the words of each crop, with their confidences."""
    if not crops:
        return []
    words: list[list[tuple[int, int, str, float]]] = [[] for _ in crops]
    for row in _tesseract_pages([_prepared(c) for c in crops]):
        t = row.get("text", "").strip()
        try:
            c = float(row.get("conf", "-1"))
            page = int(row["page_num"]) - 1
            line, left = int(row["line_num"]), int(row["left"])
        except (KeyError, ValueError):
            continue
        if not t or c < 0 or not 0 <= page < len(crops):
            continue
        words[page].append((line, left, t, c / 100.0))
    out: list[OcrLine] = []
    for crop, ws in zip(crops, words, strict=True):
        if not ws:
            continue
        ws.sort()
        confs = tuple(c for _, _, _, c in ws)
        text = " ".join(t for _, _, t, _ in ws)
        out.append(OcrLine(crop, text, float(np.mean(confs)), confs))
    return out


def identifiers_from_lines(lines: Sequence[OcrLine]) -> list[Identifier]:
    """Anchored serials/IMEIs from white-frame lines, postcode marks from UV lines."""
    found: list[Identifier] = []
    white = sorted(
        (ln for ln in lines if ln.crop.frame == "white"), key=lambda ln: ln.crop.box[1::-1]
    )
    for i, ln in enumerate(white):
        m = _ANCHOR.match(ln.text.upper().strip())
        if not m:
            continue
        value = m.group("value")
        conf = min(ln.word_confidences)
        box = ln.crop.box
        if value is None and i + 1 < len(white):
            # anchor alone on its line: the value is the line below it on the same label
            nxt = white[i + 1]
            if (
                abs(nxt.crop.box[0] - box[0]) < 3 * box[3]
                and 0 < nxt.crop.box[1] - box[1] < 4 * box[3]
            ):
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


def _union(a: BBox, b: BBox) -> BBox:
    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
    x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return x0, y0, x1 - x0, y1 - y0


#: the two enlargements every crop is read at; a reading must come out the same in both
_SCALES = (1.6, 2.6)


def read_text(
    gray_white: np.ndarray,
    glow: GlowSource | None = None,
    pen_boxes: Sequence[BBox] = (),
    exclude: Sequence[BBox] = (),
) -> list[Identifier]:
    """Every trusted serial, IMEI and postcode mark in the printed/pen text of a capture.

    Each crop is read at two scales in the same Tesseract run; a value is kept only when
    both readings give it, since a misread (4 as A, 1 as L) rarely survives a change of size.
    """
    crops = crops_from_white(gray_white, text_line_boxes(gray_white, exclude))
    if glow is not None and pen_boxes:
        crops += crops_from_glow(glow, pen_boxes)
    if not crops:
        return []
    both = [replace(c, scale=s) for s in _SCALES for c in crops]
    lines = read_lines(both)
    first = identifiers_from_lines([ln for ln in lines if ln.crop.scale == _SCALES[0]])
    second = identifiers_from_lines([ln for ln in lines if ln.crop.scale == _SCALES[1]])
    out: list[Identifier] = []
    for ident in first:
        twin = next((o for o in second if o.kind == ident.kind and o.value == ident.value), None)
        if twin is not None:
            out.append(
                ident.model_copy(update={"confidence": min(ident.confidence, twin.confidence)})
            )
    return out
