"""One capture in, one ReadResult out: barcodes, UV marks, UV codes and printed serials."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from stdnum import ean

from station.domain import FrameName, Identifier, ReadResult
from station.errors import IdentifierRejected
from station.identifiers import classify
from station.settings import VisionSettings
from station.vision import gs1
from station.vision.barcodes import BarcodeRead, read_barcodes
from station.vision.frames import CaptureFrames
from station.vision.marks import MarkParams, find_marks
from station.vision.reference import measure_reference_patch, patch_box

T = TypeVar("T")


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
    """Everything the station can read from one capture; pure given its inputs."""
    cfg = settings or VisionSettings()
    frames.validate()
    timings: dict[str, float] = {}
    warnings: list[str] = []
    t_start = time.perf_counter()

    reads = _timed(
        timings, "barcodes", lambda: read_barcodes(frames.white, use_zbar=cfg.combine_decoders)
    )
    identifiers: list[Identifier] = []
    for r in reads:
        identifiers.extend(identifiers_from_barcode(r, "white"))

    marks = []
    if frames.uv is not None:
        uv = frames.uv
        ref_box = patch_box(uv.shape, cfg.reference_patch)
        level = _timed(
            timings,
            "reference",
            lambda: measure_reference_patch(uv, frames.dark, cfg.reference_patch),
        )
        if level < cfg.reference_weak_fraction * cfg.reference_nominal:
            warnings.append(
                f"UV lamp weak: reference patch glows at {level / cfg.reference_nominal:.0%} "
                "of nominal; thresholds adapted, service the lamp"
            )
        params = MarkParams(min_area_px=cfg.min_mark_area_px)
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
    timings["total"] = round((time.perf_counter() - t_start) * 1000.0, 2)
    return ReadResult(identifiers=identifiers, marks=marks, timings_ms=timings, warnings=warnings)
