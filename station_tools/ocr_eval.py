"""Score the OCR engines side by side: generated label photographs and real barcode photos.

(a) ``hw_sim.scene.labels``: serial and IMEI labels in real label typefaces, photographed
with perspective, blur, glare and faded ink. A label's identifier is *found* when the
station's OCR returns it; every other OCR identifier is *wrong*.
(b) The human-readable line printed under the 1D barcodes of a photograph set (EAN/UPC
digits, Code 128/39 text): its truth is the barcode's expected text; it is *found* when a
recognised text line contains it (spaces dropped).
In both, a wrong read is *dangerous* when the register matcher, over a register holding
every truth of the set, gives it a "match" verdict for a different entry.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hw_sim.scene.labels import label_photo
from station.errors import IdentifierRejected, ImageInputError, InputError, OcrUnavailable
from station.matcher.index import RegisterIndex
from station.matcher.records import RegisterRecord
from station.vision.barcodes import as_gray
from station.vision.io import load_image
from station.vision.isolation import DecoderRunner, shared_pool
from station.vision.ocr import TextCrop, crops_from_white, read_lines, read_text, text_line_boxes
from station.vision.ocr_engines import EngineName, rapidocr_page
from station_tools.photo_eval import samples, symbology_of

ENGINE_NAMES: tuple[EngineName, ...] = ("tesseract", "rapidocr")
#: photo-set folders whose symbols carry a human-readable line
_HRI_SYMBOLOGIES = ("ean13", "ean8", "upca", "upce", "code128", "code39", "itf")


@dataclass
class OcrTally:
    expected: int = 0
    found: int = 0
    reported: int = 0
    correct: int = 0
    dangerous: int = 0
    #: found with every character right (``found`` forgives the usual confusions)
    exact: int = 0
    seconds: list[float] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.found / self.expected if self.expected else float("nan")

    @property
    def precision(self) -> float:
        return self.correct / self.reported if self.reported else float("nan")


def _register(truths: Sequence[tuple[str, str]]) -> RegisterIndex:
    records = [
        RegisterRecord(entry_id=i + 1, identifier=v, kind=k, status="stolen")
        for i, (k, v) in enumerate(dict.fromkeys(truths))
    ]
    return RegisterIndex.build(records)


def _matches_other(index: RegisterIndex, read: str, kind: str | None, truth: str) -> bool:
    try:
        result = index.lookup(read, kind)  # type: ignore[arg-type]
    except IdentifierRejected:
        return False  # the matcher refuses it outright (too long, no usable characters)
    return result.verdict == "match" and any(c.identifier != truth for c in result.candidates[:1])


def evaluate_labels(
    n: int, seed: int = 7000, engines: Sequence[EngineName] = ENGINE_NAMES
) -> dict[str, dict[str, OcrTally]]:
    """Per engine, per identifier kind: found/expected, correct/reported, dangerous."""
    photos = [label_photo(seed + k) for k in range(n)]
    index = _register([(p.kind, p.value) for p in photos])
    runner = shared_pool()
    table: dict[str, dict[str, OcrTally]] = {}
    for engine in engines:
        per_kind = table.setdefault(engine, {})
        for p in photos:
            gray = as_gray(p.image)
            t0 = time.perf_counter()
            reads = read_text(gray, engine=engine, runner=runner)
            elapsed = time.perf_counter() - t0
            tally = per_kind.setdefault(p.kind, OcrTally())
            tally.expected += 1
            tally.seconds.append(elapsed)
            tally.found += any(r.kind == p.kind and _same(r.value, p.value) for r in reads)
            tally.exact += any(r.kind == p.kind and r.value == p.value for r in reads)
            for r in reads:
                t = per_kind.setdefault(r.kind, OcrTally())
                t.reported += 1
                if r.kind == p.kind and _same(r.value, p.value):
                    t.correct += 1
                    continue
                danger = _matches_other(index, r.value, r.kind, p.value)
                t.dangerous += danger
                t.examples.append(
                    f"{p.value} read {r.value} ({p.font}, {', '.join(p.effects) or 'clean'})"
                    + (" DANGEROUS" if danger else "")
                )
    return table


#: the reading confusions the register matcher forgives (DESIGN.md 3.4)
_CONFUSIONS = str.maketrans("OILSBZG", "0115826")


def _same(read: str, truth: str) -> bool:
    """Equal up to the usual confusions (0/O, 1/I/L, 5/S, 8/B, 2/Z, 6/G): the matcher turns
    such a read into a match with the right entry, stating the confusion it assumed."""
    return read.upper().translate(_CONFUSIONS) == truth.upper().translate(_CONFUSIONS)


def _compact(text: str) -> str:
    return re.sub(r"[^0-9A-Z]", "", text.upper())


def evaluate_hri(
    root: Path, engines: Sequence[EngineName] = ENGINE_NAMES
) -> dict[str, dict[str, OcrTally]]:
    """Per engine, per symbology: the printed line under 1D barcodes read by OCR."""
    if not root.is_dir():
        raise InputError(f"{root}: not a folder of photographs")
    chosen = [
        s
        for s in samples(root)
        if s.expected is not None and symbology_of(s.folder) in _HRI_SYMBOLOGIES
    ]
    truths = [_compact(s.expected or "") for s in chosen]
    index = _register([("serial", t) for t in truths if t])
    runner = shared_pool()
    table: dict[str, dict[str, OcrTally]] = {e: {} for e in engines}
    for s, truth in zip(chosen, truths, strict=True):
        try:
            gray = as_gray(load_image(s.path))
        except ImageInputError:
            continue
        sym = symbology_of(s.folder)
        for engine in engines:
            t0 = time.perf_counter()
            texts = [_compact(t) for t in page_text(gray, engine, runner)]
            tally = table[engine].setdefault(sym, OcrTally())
            tally.seconds.append(time.perf_counter() - t0)
            tally.expected += 1
            hit = bool(truth) and any(
                truth in t or t.lstrip("0") == truth.lstrip("0") for t in texts
            )
            tally.found += hit
            tally.exact += hit
            for t in texts:
                if len(t) < 6:
                    continue
                tally.reported += 1
                if truth and truth in t:
                    tally.correct += 1
                elif _matches_other(index, t, "serial", truth):
                    tally.dangerous += 1
                    tally.examples.append(f"{s.folder}/{s.path.name}: {t} DANGEROUS")
    return table


def page_text(gray: np.ndarray, engine: EngineName, runner: DecoderRunner) -> list[str]:
    """Every text line an engine reads in a photograph, however it finds them: PP-OCR with
    its own detector; Tesseract on the station's line crops plus the whole photograph."""
    if engine == "rapidocr":
        outcome = runner.run("ocr", rapidocr_page, gray, 1.0, False)  # the engine alone
        return [text for _, text, _ in outcome.value_or([])]
    crops = crops_from_white(gray, text_line_boxes(gray))
    h, w = gray.shape[:2]
    crops.append(TextCrop((0, 0, w, h), "white", gray, scale=1.0))
    try:
        return [ln.text for ln in read_lines(crops, engine, runner)]
    except OcrUnavailable:
        return []


def _f(x: float) -> str:
    return "   -" if x != x else f"{x:.3f}"


def format_ocr(table: dict[str, dict[str, OcrTally]], title: str) -> str:
    """Both engines side by side: found/n, recall, correct/reported, precision, dangerous."""
    engines = list(table)
    keys = sorted({k for t in table.values() for k in t})
    head = f"{'class':12s}" + "".join(f"{e:>44s}" for e in engines)
    sub = f"{'':12s}" + "".join(
        f"{'found/n':>10s}{'recall':>8s}{'ok/reported':>12s}{'prec':>7s}{'danger':>7s}"
        for _ in engines
    )
    lines = [
        title + " (found = equal up to the matcher's 0/O 1/I/L 5/S 8/B 2/Z 6/G confusions)",
        head,
        sub,
    ]
    for k in keys:
        row = f"{k:12s}"
        for e in engines:
            t = table[e].get(k, OcrTally())
            row += (
                f"{f'{t.found}/{t.expected}':>10s}{_f(t.recall):>8s}"
                f"{f'{t.correct}/{t.reported}':>12s}{_f(t.precision):>7s}{t.dangerous:>7d}"
            )
        lines.append(row)
    row = f"{'exact':12s}"
    for e in engines:
        n = sum(t.exact for t in table[e].values())
        row += f"{n:>44d}"
    lines.append(row)
    row = f"{'median ms':12s}"
    for e in engines:
        secs = [x for t in table[e].values() for x in t.seconds]
        row += f"{(statistics.median(secs) * 1000 if secs else 0.0):>44.1f}"
    lines.append(row)
    for e in engines:
        wrong = [x for t in table[e].values() for x in t.examples]
        for w in wrong[:6]:
            lines.append(f"  {e} wrong: {w}")
    return "\n".join(lines)


def ocr_summary(table: dict[str, dict[str, OcrTally]]) -> dict[str, dict[str, dict[str, float]]]:
    return {
        e: {
            k: {
                "expected": t.expected,
                "found": t.found,
                "reported": t.reported,
                "correct": t.correct,
                "dangerous": t.dangerous,
                "exact": t.exact,
                "median_ms": round(float(np.median(t.seconds)) * 1000, 1) if t.seconds else 0.0,
            }
            for k, t in per.items()
        }
        for e, per in table.items()
    }
