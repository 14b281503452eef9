"""One capture in, one ReadResult out: barcodes, UV marks, UV codes and printed serials."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, TypeVar

import cv2
import numpy as np
from stdnum import ean

from station.domain import BBox, FluorescentMark, FrameName, Identifier, ReadResult
from station.errors import IdentifierRejected, OcrUnavailable
from station.identifiers import classify
from station.settings import VisionSettings
from station.vision import gs1
from station.vision.barcodes import BarcodeRead, as_gray, combine, read_zbar, read_zxing
from station.vision.frames import CaptureFrames
from station.vision.isolation import DecoderFailed, DecoderRunner, Outcome, runner_for
from station.vision.marks import GlowSource, MarkParams, find_marks
from station.vision.ocr import read_page, read_text
from station.vision.reference import measure_reference_patch, patch_box
from station.vision.second_look import second_look
from station.vision.uvcodes import read_uv_codes

T = TypeVar("T")


#: the white-frame decoders, each run in its own worker call (tests add a failing one here)
WHITE_DECODERS: dict[str, Callable[[np.ndarray], list[BarcodeRead]]] = {
    "zxing": read_zxing,
    "zbar": read_zbar,
}


def decoder_runner(cfg: VisionSettings) -> DecoderRunner:
    """Where native decoders run: isolated worker processes unless the settings say not."""
    return runner_for(cfg.isolate_decoders, cfg.decoder_workers, cfg.decoder_timeout_s)


def _timed(timings: dict[str, float], name: str, fn: Callable[[], T]) -> T:
    t0 = time.perf_counter()
    try:
        return fn()
    finally:
        timings[name] = round((time.perf_counter() - t0) * 1000.0, 2)


def identifiers_from_barcode(
    read: BarcodeRead, frame: FrameName = "white", source_kind: str = "barcode"
) -> list[Identifier]:
    """What a decoded symbol means: GS1 serial/GTIN, IMEI, mark code, serial or plain barcode."""
    source = f"{source_kind}:{read.symbology}"
    common = {"raw": read.text, "source": source, "bbox": read.bbox, "frame": frame}
    conf = read.confidence
    if read.gs1:
        try:
            serial, gtin = gs1.serial_and_gtin(read.text)
        except gs1.GS1ParseError:
            serial, gtin = None, None
        out: list[Identifier] = []
        if serial:
            c = _classify_or_none(serial)
            if c is not None:
                out.append(Identifier(kind=c[0], value=c[1], valid=c[2], confidence=conf, **common))
        if gtin:
            out.append(
                Identifier(
                    kind="barcode", value=gtin, valid=ean.is_valid(gtin), confidence=conf, **common
                )
            )
        if out:
            return out
    if read.family == "EANUPC":
        return [
            Identifier(
                kind="barcode",
                value=read.text,
                valid=ean.is_valid(read.text) if read.symbology != "UPCE" else True,
                confidence=conf,
                **common,
            )
        ]
    c = _classify_or_none(read.text)
    if c is None:
        # long or non-Latin content (a URL, a vCard): keep it, as a plain barcode value
        value = " ".join(read.text.split())
        return [Identifier(kind="barcode", value=value, valid=True, confidence=conf, **common)]
    return [Identifier(kind=c[0], value=c[1], valid=c[2], confidence=conf, **common)]


def _classify_or_none(text: str) -> tuple[str, str, bool] | None:
    try:
        c = classify(text)
    except IdentifierRejected:
        return None
    return c.kind, c.value, c.valid


def read_item(frames: CaptureFrames, settings: VisionSettings | None = None) -> ReadResult:
    """Everything the station can read from one capture; pure given its inputs.

    zbar and Tesseract run beside the main thread (both release the GIL), so on two cores
    the slowest of them, not their sum, sets the time.
    """
    cfg = settings or VisionSettings()
    frames.validate()
    timings: dict[str, float] = {}
    warnings: list[str] = []
    t_start = time.perf_counter()
    gray = as_gray(frames.white)
    # above ~4 Mpx the codes are big in pixels: decode at half size, boxes scaled back
    factor = 2 if gray.size > _FULL_RES_DECODE_PX else 1
    dec = (
        cv2.resize(gray, None, fx=1 / factor, fy=1 / factor, interpolation=cv2.INTER_AREA)
        if factor > 1
        else gray
    )
    marks: list[FluorescentMark] = []
    glow: GlowSource | None = None
    uv_reads: list[BarcodeRead] = []
    runner = decoder_runner(cfg)
    failures: list[DecoderFailed] = []
    names = [n for n in WHITE_DECODERS if n == "zxing" or cfg.combine_decoders]
    with ThreadPoolExecutor(max_workers=len(names) + 2) as pool:
        # the decoders run in worker processes; these threads only wait on them. RapidOCR's
        # page reading needs only the frame and where zxing-cpp found codes (no text to look
        # for there): it starts as soon as zxing-cpp answers, while zbar and the UV-code
        # search share the other worker
        decoder_jobs = {
            n: pool.submit(_timed, timings, n, lambda n=n: runner.run(n, WHITE_DECODERS[n], dec))
            for n in names
        }

        def page() -> Outcome[Any]:
            codes = [_scaled(r, factor).bbox for r in decoder_jobs["zxing"].result().value_or([])]
            return read_page(gray, runner, codes)

        page_job = (
            pool.submit(_timed, timings, "ocr_page", page)
            if cfg.ocr_enabled and cfg.ocr_engine == "rapidocr"
            else None
        )
        if frames.uv is not None:
            short = frames.uv
            level = _timed(
                timings,
                "reference",
                lambda: measure_reference_patch(short, frames.dark, cfg.reference_patch),
            )
            uv = short
            if frames.uv_long is not None:
                uv = _timed(timings, "uv_merge", lambda: merge_exposures(frames, level, cfg))
            glow = GlowSource(uv, frames.dark)
            if level < cfg.reference_weak_fraction * cfg.reference_nominal:
                warnings.append(
                    f"UV lamp weak: reference patch glows at {level / cfg.reference_nominal:.0%} "
                    "of nominal; thresholds adapted, service the lamp"
                )
            params = MarkParams(min_area_px=cfg.min_mark_area_px)
            ref_box = patch_box(uv.shape, cfg.reference_patch)
            marks = _timed(
                timings,
                "marks",
                lambda: find_marks(
                    uv,
                    frames.dark,
                    frames.white,
                    reference_level=level if level > 0.02 else None,
                    exclude=(ref_box,),
                    params=params,
                ),
            )
        raw: dict[str, list[BarcodeRead]] = {}

        def collect(name: str) -> list[BarcodeRead]:
            outcome = decoder_jobs[name].result()
            if outcome.failure is not None:
                failures.append(outcome.failure)
            return outcome.value_or([])

        raw["zxing"] = collect("zxing")  # OCR needs only its boxes: start it before zbar ends
        ocr_job = None
        if cfg.ocr_enabled:
            pens = [m.bbox for m in marks if m.mark_class == "uv_pen" and m.score >= 0.3]
            code_boxes = [_scaled(r, factor).bbox for r in raw["zxing"]]
            ocr_job = pool.submit(
                _timed,
                timings,
                "ocr",
                lambda: _ocr(
                    gray,
                    glow,
                    pens,
                    code_boxes,
                    warnings,
                    cfg,
                    runner,
                    page_job.result if page_job is not None else None,
                ),
            )
        if glow is not None:
            g = glow
            # every glow shaped like a label is tried, whatever colour class it got: kit inks
            # glow blue, yellow-green (like forensic liquid) or blue-white (like brighteners)
            regions = [m.bbox for m in marks]
            uv_reads = _timed(
                timings,
                "uv_codes",
                lambda: read_uv_codes(g, regions, runner=runner, failures=failures),
            )
            marks = label_glow_as_ink(marks, uv_reads)
        for n in decoder_jobs:
            if n not in raw:
                raw[n] = collect(n)
        every = [r for reads_of in raw.values() for r in reads_of]
        voted = _timed(
            timings, "barcode_vote", lambda: combine(every, dec, runner=runner, failures=failures)
        )
        if cfg.barcode_second_look > 0 and cfg.combine_decoders:
            voted += _timed(
                timings,
                "barcode_second_look",
                lambda: second_look(
                    dec, every, voted, runner, failures, limit=cfg.barcode_second_look
                ),
            )
        reads = [_scaled(r, factor) for r in voted]
        ocr_ids = ocr_job.result() if ocr_job is not None else []
    warnings.extend(f.note() for f in dict.fromkeys(failures))
    identifiers: list[Identifier] = []
    for r in reads:
        identifiers.extend(identifiers_from_barcode(r, "white"))
    for r in uv_reads:
        identifiers.extend(identifiers_from_barcode(r, "uv", "uv_code"))
    identifiers.extend(ocr_ids)
    timings["total"] = round((time.perf_counter() - t_start) * 1000.0, 2)
    return ReadResult(identifiers=identifiers, marks=marks, timings_ms=timings, warnings=warnings)


def label_glow_as_ink(
    marks: list[FluorescentMark], uv_reads: list[BarcodeRead]
) -> list[FluorescentMark]:
    """A glow that is a decoded kit label is UV ink (the label), never forensic liquid or a
    brightener, whatever its colour: its marks are reclassed ``uv_pen``."""
    if not uv_reads:
        return marks
    out: list[FluorescentMark] = []
    for m in marks:
        if any(_mostly_inside(m.bbox, r.bbox) for r in uv_reads):
            m = m.model_copy(update={"mark_class": "uv_pen", "score": max(m.score, 0.6)})
        out.append(m)
    return out


def _mostly_inside(inner: BBox, outer: BBox) -> bool:
    """At least 60 % of ``inner`` lies within ``outer`` grown by a quiet-zone margin."""
    ox, oy, ow, oh = outer
    pad = max(ow, oh) // 6 + 4
    ox, oy, ow, oh = ox - pad, oy - pad, ow + 2 * pad, oh + 2 * pad
    ix, iy, iw, ih = inner
    dx = max(0, min(ix + iw, ox + ow) - max(ix, ox))
    dy = max(0, min(iy + ih, oy + oh) - max(iy, oy))
    return dx * dy >= 0.6 * iw * ih


def merge_exposures(frames: CaptureFrames, level: float, cfg: VisionSettings) -> np.ndarray:
    """One UV frame from the short and the long exposure: the long one (less noise, faint
    marks lifted) scaled down to the short one's level, except where it saturates.

    The exposure ratio is measured on the reference patch, so no exposure setting has to
    be trusted. Returns the short frame unchanged when the ratio cannot be measured.
    """
    if frames.uv is None or frames.uv_long is None:
        raise ValueError("merge_exposures needs both UV exposures")
    long_level = measure_reference_patch(frames.uv_long, frames.dark, cfg.reference_patch)
    if level <= 0.02 or long_level >= 0.97:
        return frames.uv  # patch too dim or saturated in the long exposure: no ratio
    ratio = long_level / level
    if ratio < 1.2:
        return frames.uv
    dark = frames.dark if frames.dark is not None else np.zeros_like(frames.uv)
    glow_long = cv2.subtract(frames.uv_long, dark)
    scaled = cv2.add(cv2.convertScaleAbs(glow_long, alpha=1.0 / ratio), dark)
    saturated = cv2.inRange(frames.uv_long, (0, 0, 0), (250, 250, 250)) == 0
    merged = scaled.copy()
    merged[saturated] = frames.uv[saturated]
    return merged


#: frames above this many pixels are decoded for barcodes at half size
_FULL_RES_DECODE_PX = 4_200_000


def _scaled(read: BarcodeRead, factor: int) -> BarcodeRead:
    if factor == 1:
        return read
    x, y, w, h = read.bbox
    return replace(read, bbox=(x * factor, y * factor, w * factor, h * factor))


def _ocr(
    gray: np.ndarray,
    glow: GlowSource | None,
    pens: list[BBox],
    exclude: list[BBox],
    warnings: list[str],
    cfg: VisionSettings,
    runner: DecoderRunner,
    page: Callable[[], Outcome[Any]] | None = None,
) -> list[Identifier]:
    try:
        return read_text(gray, glow, pens, exclude, cfg.ocr_engine, runner, page)
    except OcrUnavailable as exc:
        warnings.append(f"OCR skipped: {exc}")
        return []
