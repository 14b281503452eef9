"""Text recognition engines behind one interface: Tesseract and RapidOCR (PP-OCRv4 on ONNX).

An engine turns prepared text-line crops (dark text on white, one line or a small block
each) into text with confidences; everything about what the text means stays in
``station.vision.ocr``. Both engines run inside decoder workers (``isolation``): Tesseract
as its own process per call, RapidOCR's model loaded once per worker on first use, so a
command that never reads text never loads it.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Sequence
from typing import Any, Literal

import cv2
import numpy as np

from station.errors import OcrUnavailable
from station.vision.boxes import merge_overlapping

#: one recognised crop: its lines in reading order, each (text, confidence 0..1) per word
CropText = list[list[tuple[str, float]]]
EngineName = Literal["tesseract", "rapidocr"]


# --- Tesseract ----------------------------------------------------------------------------

#: Tesseract page segmentation: 6 = one uniform block of text (each crop is its own page)
_PSM = "6"


def tesseract_read(images: Sequence[np.ndarray]) -> list[CropText]:
    """Run Tesseract once over several images (one page each); words per line per page.

    One process for all pages pays Tesseract's start-up (~80 ms) once per check, while each
    crop stays its own page so one line can never swallow or hide another.
    ``OMP_THREAD_LIMIT=1``: Tesseract's own threads halve its speed on a busy two-core box.
    """
    import pytesseract

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
            proc = subprocess.run(cmd, capture_output=True, env=env, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise OcrUnavailable(f"tesseract could not run: {exc}") from exc
    if proc.returncode != 0:
        raise OcrUnavailable(f"tesseract failed: {proc.stderr.decode(errors='replace')[:200]}")
    rows = proc.stdout.decode("utf-8", errors="replace").splitlines()
    pages: list[dict[int, list[tuple[int, str, float]]]] = [{} for _ in images]
    if not rows:
        return [[] for _ in images]
    header = rows[0].split("\t")
    for raw in rows[1:]:
        row = dict(zip(header, raw.split("\t"), strict=False))
        text = row.get("text", "").strip()
        try:
            conf = float(row.get("conf", "-1"))
            page = int(row["page_num"]) - 1
            line = int(row["block_num"]) * 1000 + int(row["line_num"])
            left = int(row["left"])
        except (KeyError, ValueError):
            continue
        if not text or conf < 0 or not 0 <= page < len(images):
            continue
        pages[page].setdefault(line, []).append((left, text, conf / 100.0))
    return [
        [[(t, c) for _, t, c in sorted(words)] for _, words in sorted(page.items())]
        for page in pages
    ]


# --- RapidOCR -----------------------------------------------------------------------------

_rapid: Any = None


def _rapid_engine() -> Any:
    """The RapidOCR recogniser of this process, loaded on first use (~1-2 s, ~20 MB)."""
    global _rapid
    if _rapid is None:
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError as exc:
            raise OcrUnavailable(
                "rapidocr_onnxruntime is not installed: run scripts/setup.sh, or set "
                "STATION_VISION__OCR_ENGINE=tesseract"
            ) from exc
        _rapid = RapidOCR(
            intra_op_num_threads=1,
            inter_op_num_threads=1,
            det_limit_side_len=_PAGE_SIDE,
            det_limit_type="max",
        )
    return _rapid


def load_rapidocr() -> None:
    """Load this worker's RapidOCR model now (sent to each worker ahead of a scan, so the
    model loads while the station captures instead of after)."""
    _rapid_engine()


#: the white frame is searched for text at most this many pixels on its longer side
_PAGE_SIDE = 960


def page_image(gray: np.ndarray) -> tuple[np.ndarray, float]:
    """The frame at the size the text detector reads it, and that size's scale: made before
    the frame goes to a worker, so a 12 Mpx frame is never copied there whole."""
    h, w = gray.shape[:2]
    k = min(1.0, _PAGE_SIDE / max(h, w))
    small = cv2.resize(gray, None, fx=k, fy=k, interpolation=cv2.INTER_AREA) if k < 1 else gray
    return small, k


def rapidocr_page(
    gray: np.ndarray,
    scale: float = 1.0,
    localise: bool = True,
    exclude: Sequence[tuple[int, int, int, int]] = (),
) -> list[tuple[tuple[int, int, int, int], str, float]]:
    """Every text line PP-OCR detects and recognises in a frame: (box, text, confidence).

    The detector finds lines in perspective, blurred, faded or under glare that a cheap
    morphological line finder misses; boxes come back in the frame's pixels (``scale`` is
    how much a caller already reduced the frame with ``page_image``). It costs about a
    millisecond per thousand pixels, so with ``localise`` it only looks where
    ``text_regions`` finds strokes crossing both ways (a few percent of a tray frame),
    leaving out ``exclude`` (codes already decoded; boxes in the frame's pixels, like the
    boxes returned).
    """
    small, k = page_image(gray)
    regions = page_regions(small, k * scale, exclude) if localise else [(0, 0, *small.shape[::-1])]
    return [line for lines in rapidocr_regions(small, k * scale, regions) for line in lines]


def page_regions(
    small: np.ndarray, k: float, exclude: Sequence[tuple[int, int, int, int]] = ()
) -> list[tuple[int, int, int, int]]:
    """Where the detector reads a page (``page_image``'s output, ``k`` its scale from the
    frame): the text regions, or the whole page when they cover most of it."""
    h, w = small.shape[:2]
    regions = text_regions(small, [_box_scaled(b, k) for b in exclude])
    if sum(bw * bh for _, _, bw, bh in regions) > _WHOLE_PAGE_SHARE * w * h:
        return [(0, 0, w, h)]  # text everywhere: one look at the page costs less
    return regions


def rapidocr_regions(
    small: np.ndarray, k: float, regions: Sequence[tuple[int, int, int, int]]
) -> list[list[tuple[tuple[int, int, int, int], str, float]]]:
    """PP-OCR's lines in each region of a page (boxes in page pixels), per region, in the
    frame's pixels (``k``: the page's scale from the frame)."""
    engine = _rapid_engine()
    out: list[list[tuple[tuple[int, int, int, int], str, float]]] = []
    for x, y, bw, bh in regions:
        crop = cv2.cvtColor(small[y : y + bh, x : x + bw], cv2.COLOR_GRAY2BGR)
        result, _ = engine(crop, use_cls=False)
        lines = []
        for quad, text, score in result or []:
            pts = (np.asarray(quad, np.float32) + np.array([x, y], np.float32)) / k
            x0, y0 = pts.min(axis=0)
            x1, y1 = pts.max(axis=0)
            box = (int(x0), int(y0), max(1, int(x1 - x0)), max(1, int(y1 - y0)))
            lines.append((box, str(text), float(score)))
        out.append(lines)
    return out


#: above this share of the page, the detector reads the whole page instead of its regions
_WHOLE_PAGE_SHARE = 0.5
#: margin around a text region (page pixels): the detector needs some ground around a line
_REGION_PAD = 16


def _box_scaled(box: tuple[int, int, int, int], k: float) -> tuple[int, int, int, int]:
    x, y, w, h = box
    return int(x * k), int(y * k), max(1, round(w * k)), max(1, round(h * k))


def text_regions(
    small: np.ndarray, exclude: Sequence[tuple[int, int, int, int]] = ()
) -> list[tuple[int, int, int, int]]:
    """Where a page may hold text: places dense in both vertical and horizontal edges.

    Characters have strokes in both directions within a few pixels; the straight edge of a
    label, an item or a shadow has one direction only and is ignored; so are the ``exclude``
    boxes (decoded codes: dense both ways, but no text). Regions are grown by a margin and
    merged where they touch, so no line is split between two crops.
    """
    h, w = small.shape[:2]
    sx = cv2.convertScaleAbs(cv2.Sobel(small, cv2.CV_16S, 1, 0, ksize=3), alpha=0.25)
    sy = cv2.convertScaleAbs(cv2.Sobel(small, cv2.CV_16S, 0, 1, ksize=3), alpha=0.25)
    # above the noise: a flat page's typical gradient is noise, strokes stand well above it
    floor = max(10.0, 3.0 * float(np.median(cv2.max(sx, sy)[::4, ::4])))
    dense_x = cv2.blur((sx > floor).astype(np.uint8) * 255, (11, 11))
    dense_y = cv2.blur((sy > floor).astype(np.uint8) * 255, (11, 11))
    mask = ((dense_x > 50) & (dense_y > 50)).astype(np.uint8)
    for x, y, bw, bh in exclude:
        mask[max(0, y) : max(0, y + bh), max(0, x) : max(0, x + bw)] = 0
    grown = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_RECT, (31, 17)))
    n, _, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
    boxes: list[tuple[int, int, int, int]] = []
    for i in range(1, n):
        x, y, bw, bh = (int(v) for v in stats[i][:4])
        if bh < 20 or bw < 34:
            continue  # smaller than one character after the dilation: a speck or a corner
        x0, y0 = max(0, x - _REGION_PAD), max(0, y - _REGION_PAD)
        x1, y1 = min(w, x + bw + _REGION_PAD), min(h, y + bh + _REGION_PAD)
        boxes.append((x0, y0, x1 - x0, y1 - y0))
    return merge_overlapping(boxes)


def rapidocr_read(images: Sequence[np.ndarray]) -> list[CropText]:
    """PP-OCRv4 recognition of each crop, split into lines by a cheap row profile.

    Detection is skipped: the crops are already text lines (or a label's few lines, split
    here), and the detector's upscaling of small crops costs seconds. The recogniser gives
    one confidence per line; each word of the line carries it.
    """
    engine = _rapid_engine()
    out: list[CropText] = []
    for img in images:
        lines: list[list[tuple[str, float]]] = []
        for band in _line_bands(img):
            bgr = cv2.cvtColor(band, cv2.COLOR_GRAY2BGR) if band.ndim == 2 else band
            result, _ = engine(bgr, use_det=False, use_cls=False, use_rec=True)
            for text, score in result or []:
                words = str(text).split()
                if words:
                    lines.append([(w, float(score)) for w in words])
        out.append(lines)
    return out


def _line_bands(img: np.ndarray) -> list[np.ndarray]:
    """Horizontal bands of a crop that hold ink, one per text line (at least the crop)."""
    gray = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    ink = (gray < 128).mean(axis=1)
    rows = ink > 0.01
    bands: list[tuple[int, int]] = []
    start = None
    for y, on in enumerate(rows):
        if on and start is None:
            start = y
        elif not on and start is not None:
            bands.append((start, y))
            start = None
    if start is not None:
        bands.append((start, len(rows)))
    tall = [(a, b) for a, b in bands if b - a >= 6]
    if len(tall) <= 1:
        return [gray]
    h = gray.shape[0]
    out = []
    for a, b in tall:
        pad = max(3, (b - a) // 3)
        out.append(gray[max(0, a - pad) : min(h, b + pad)])
    return out


ENGINES = {"tesseract": tesseract_read, "rapidocr": rapidocr_read}
