"""Score the vision pipeline on generated scenes against their ground truth.

A reported mark is a *marking* when its score reaches the settings' threshold; a truth mark
is found when a marking overlaps its box (and found with its class when the classes agree).
A marking that overlaps no truth mark is a false mark. Codes are found when an identifier's
raw text equals the truth text; any other code text is a wrong read.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hw_sim.scene import Lighting, Scene, SceneLayers, build_layers, render
from hw_sim.scene.generate import random_scene
from station.domain import ReadResult
from station.settings import VisionSettings
from station.vision.barcodes import ZXING_NAMES
from station.vision.frames import CaptureFrames
from station.vision.ocr import HIGH_CONFIDENCE
from station.vision.pipeline import read_item


def _num(truth: dict[str, object], key: str, default: float) -> float:
    value = truth.get(key, default)
    return float(value) if isinstance(value, int | float) else default


def capture(scene: Scene, layers: SceneLayers, rng: np.random.Generator) -> CaptureFrames:
    """The frames the station's capture sequence would take of this scene."""
    t = scene.truth
    uv_ms = _num(t, "uv_exposure_ms", 40.0)
    sigma = scene.noise_sigma
    white = render(layers, Lighting(white=_num(t, "white_level", 1.0)), 8.0, 1.0, rng, sigma)
    uv = render(layers, Lighting(uv=_num(t, "uv_level", 1.0)), uv_ms, 1.0, rng, sigma)
    dark = render(layers, Lighting(), uv_ms, 1.0, rng, sigma)
    return CaptureFrames(white=white, uv=uv, dark=dark)


def _station_naming(o: dict[str, Any]) -> dict[str, Any]:
    """Truth in the pipeline's terms: its symbology names, UPC-A for EAN-13 with a leading 0."""
    sym = ZXING_NAMES.get(o["symbology"], o["symbology"].upper())
    text = o["text"]
    if sym == "EAN13" and text.startswith("0"):
        sym, text = "UPCA", text[1:]
    return {**o, "symbology": sym, "text": text}


def _intersects(a: list[int] | tuple[int, ...], b: list[int] | tuple[int, ...]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


@dataclass
class Counts:
    expected: int = 0
    found: int = 0
    reported: int = 0
    correct: int = 0

    @property
    def recall(self) -> float:
        return self.found / self.expected if self.expected else float("nan")

    @property
    def precision(self) -> float:
        return self.correct / self.reported if self.reported else float("nan")


@dataclass
class SceneReport:
    scenes: int = 0
    mark_classes: dict[str, Counts] = field(default_factory=dict)
    markings: Counts = field(default_factory=Counts)
    false_marks: int = 0
    codes: dict[str, Counts] = field(default_factory=dict)
    wrong_codes: int = 0
    wrong_examples: list[str] = field(default_factory=list)
    confounders_flagged: Counter[str] = field(default_factory=Counter)
    confounders: Counter[str] = field(default_factory=Counter)
    seconds: list[float] = field(default_factory=list)
    ocr: dict[str, Counts] = field(default_factory=dict)
    ocr_wrong: list[tuple[str, float]] = field(default_factory=list)
    #: wrong OCR reads that equal the truth up to the usual confusions (0/O, 1/I/L, ...)
    ocr_confusable: int = 0


def score_scene(
    report: SceneReport, objects: list[dict[str, Any]], result: ReadResult, threshold: float
) -> None:
    """Add one scene's result to ``report``."""
    report.scenes += 1
    truth_marks = [o for o in objects if o["type"] == "mark"]
    markings = [m for m in result.marks if m.score >= threshold]
    for t in truth_marks:
        c = report.mark_classes.setdefault(t["class"], Counts())
        c.expected += 1
        report.markings.expected += 1
        hits = [m for m in markings if _intersects(m.bbox, t["bbox"])]
        report.markings.found += bool(hits)
        c.found += any(m.mark_class == t["class"] for m in hits)
    for m in markings:
        c = report.mark_classes.setdefault(m.mark_class, Counts())
        c.reported += 1
        report.markings.reported += 1
        over = [t for t in truth_marks if _intersects(m.bbox, t["bbox"])]
        c.correct += any(t["class"] == m.mark_class for t in over)
        report.markings.correct += bool(over)
        if not over:
            report.false_marks += 1
    for o in objects:
        if o["type"] == "confounder":
            report.confounders[o["class"]] += 1
            if any(_intersects(m.bbox, o["bbox"]) for m in markings) and not any(
                _intersects(o["bbox"], t["bbox"]) for t in truth_marks
            ):
                report.confounders_flagged[o["class"]] += 1

    _score_ocr(report, objects, result)
    truth_codes = [_station_naming(o) for o in objects if o["type"] in ("barcode", "uv_code")]
    read_codes = [i for i in result.identifiers if i.source.startswith(("barcode:", "uv_code:"))]
    for t in truth_codes:
        key = f"{'uv:' if t['type'] == 'uv_code' else ''}{t['symbology']}"
        c = report.codes.setdefault(key, Counts())
        c.expected += 1
        c.found += any(i.raw == t["text"] for i in read_codes)
    seen_raw: set[str] = set()
    for i in read_codes:
        if i.raw in seen_raw:
            continue  # a GS1 code yields a serial and a GTIN from one symbol
        seen_raw.add(i.raw)
        sym = i.source.split(":", 1)[1]
        key = f"{'uv:' if i.source.startswith('uv_code') else ''}{sym}"
        c = report.codes.setdefault(key, Counts())
        c.reported += 1
        ok = any(i.raw == t["text"] for t in truth_codes)
        c.correct += ok
        if not ok:
            report.wrong_codes += 1
            report.wrong_examples.append(f"{i.source} {i.raw!r}")


def _ocr_truth(objects: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(kind, value) the OCR should find: anchored serials/IMEIs and UV-pen postcodes."""
    out: list[tuple[str, str]] = []
    for o in objects:
        text = str(o.get("text", ""))
        if o["type"] == "text" and text.startswith("S/N: "):
            out.append(("serial", text[5:]))
        elif o["type"] == "text" and text.startswith("IMEI\n"):
            out.append(("imei", text[5:]))
        elif o["type"] == "mark" and text:
            out.append(("postcode_mark", " ".join(text.split())))
    return out


_CONFUSIONS = str.maketrans("OILSBZG", "0115826")


def _fold(value: str) -> str:
    """A serial with each usual reading confusion (0/O, 1/I/L, 5/S, 8/B, 2/Z, 6/G) folded."""
    return value.upper().translate(_CONFUSIONS)


def _score_ocr(report: SceneReport, objects: list[dict[str, Any]], result: ReadResult) -> None:
    truth = _ocr_truth(objects)
    read = [i for i in result.identifiers if i.source == "ocr"]
    for kind, value in truth:
        c = report.ocr.setdefault(kind, Counts())
        c.expected += 1
        c.found += any(i.kind == kind and i.value == value for i in read)
    for i in read:
        c = report.ocr.setdefault(i.kind, Counts())
        c.reported += 1
        ok = (i.kind, i.value) in truth
        c.correct += ok
        if not ok:
            report.ocr_wrong.append((f"{i.kind} {i.value!r}", i.confidence))
            folded = _fold(i.value)
            report.ocr_confusable += any(_fold(v) == folded for _, v in truth)


def evaluate_scenes(
    n: int,
    seed: int = 1000,
    width: int = 1280,
    height: int = 720,
    settings: VisionSettings | None = None,
) -> SceneReport:
    """Generate ``n`` seeded scenes, capture, read, and score each against its truth."""
    cfg = settings or VisionSettings()
    report = SceneReport()
    for k in range(n):
        scene = random_scene(seed + k, width, height)
        layers = build_layers(scene)
        frames = capture(scene, layers, np.random.default_rng(seed + k))
        t0 = time.perf_counter()
        result = read_item(frames, cfg)
        report.seconds.append(time.perf_counter() - t0)
        score_scene(report, list(layers.objects), result, cfg.mark_score_threshold)
    return report


def _f(x: float) -> str:
    return "   -" if x != x else f"{x:.3f}"


_HEAD = (
    "{:18s}"
    + "".join(f"{h:>{w}s}" for h, w in (("expected", 9), ("found", 7), ("recall", 8)))
    + f"{'reported':>9s}{'precision':>10s}"
)


def _row(name: str, c: Counts) -> str:
    return (
        f"{name:18s}{c.expected:9d}{c.found:7d}{_f(c.recall):>8s}{c.reported:9d}"
        f"{_f(c.precision):>10s}"
    )


def format_report(report: SceneReport) -> str:
    """The scene evaluation as plain-text tables."""
    lines = [f"generated scenes: {report.scenes}", "", "marks (truth = forensic_liquid, uv_pen)"]
    lines.append(_HEAD.format("class"))
    for cls, c in sorted(report.mark_classes.items()):
        lines.append(_row(cls, c))
    lines.append(_row("any marking", report.markings))
    per = report.false_marks / report.scenes if report.scenes else 0.0
    lines.append(f"false marks: {report.false_marks} ({per:.3f} per scene)")
    conf = ", ".join(
        f"{k} {report.confounders_flagged[k]}/{v}" for k, v in sorted(report.confounders.items())
    )
    lines.append(f"look-alikes flagged as markings: {conf or 'none present'}")
    lines += ["", "codes (uv: = read from the UV frame)"]
    lines.append(_HEAD.format("symbology"))
    for sym, c in sorted(report.codes.items()):
        lines.append(_row(sym, c))
    lines.append(f"wrong code reads: {report.wrong_codes}")
    for w in report.wrong_examples[:10]:
        lines.append(f"  wrong: {w}")
    lines += ["", "OCR (printed S/N and IMEI labels under white light, UV-pen postcodes)"]
    lines.append(_HEAD.format("kind"))
    for kind, c in sorted(report.ocr.items()):
        lines.append(_row(kind, c))
    top = max((c_ for _, c_ in report.ocr_wrong), default=0.0)
    high = sum(c_ >= HIGH_CONFIDENCE for _, c_ in report.ocr_wrong)
    lines.append(
        f"wrong OCR reads: {len(report.ocr_wrong)}, of them with high confidence "
        f"(>= {HIGH_CONFIDENCE}): {high}; highest confidence of a wrong read {top:.2f}"
    )
    lines.append(
        f"  of the wrong OCR reads, {report.ocr_confusable} equal the truth up to the usual "
        "confusions (0/O, 1/I/L, 5/S, 8/B, 2/Z, 6/G) the matcher tolerates"
    )
    for w, c_ in report.ocr_wrong[:10]:
        lines.append(f"  wrong: {w} confidence {c_:.2f}")
    if report.seconds:
        lines.append(f"median vision time: {np.median(report.seconds) * 1000:.1f} ms")
    return "\n".join(lines)
