"""Score barcode readers on a folder of real photographs with expected text.

Layout (the zxing-cpp test-suite layout): one folder per symbology, ``<symbology>-<n>``; an
image ``NAME.png|jpg|webp`` has its expected text in ``NAME.txt``. ``falsepositives-*``
folders hold images without a code, where any read is wrong. Every reader runs its native
decoders in the isolated worker pool, so a photograph that crashes a decoder is a miss for
that reader, not the end of the evaluation. An image counts as *found* when
a reader returns its expected text, and as *wrong* when the reader returned text but never
the expected one (a second genuine code beside the expected one is not counted wrong).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from station.errors import ImageInputError
from station.vision.barcodes import as_gray, read_barcodes, read_zbar, read_zxing
from station.vision.io import load_image
from station.vision.isolation import shared_pool

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
#: label errors documented in the test set's README: (folder, image stem) -> corrected text
KNOWN_LABEL_ERRORS: dict[tuple[str, str], str] = {("ean13-2", "23"): "9784872348880"}

#: a reader turns a BGR image into (symbology, text) pairs
Reader = Callable[[np.ndarray], list[tuple[str, str]]]


def pipeline_reader(image: np.ndarray) -> list[tuple[str, str]]:
    return [(r.symbology, r.text) for r in read_barcodes(image, runner=shared_pool())]


def zxing_reader(image: np.ndarray) -> list[tuple[str, str]]:
    reads = shared_pool().run("zxing", read_zxing, as_gray(image)).value_or([])
    return [(r.symbology, r.text) for r in reads]


def zbar_reader(image: np.ndarray) -> list[tuple[str, str]]:
    reads = shared_pool().run("zbar", read_zbar, as_gray(image)).value_or([])
    return [(r.symbology, r.text) for r in reads]


def union_reader(image: np.ndarray) -> list[tuple[str, str]]:
    """Everything either decoder alone reports (the bar the station must clear)."""
    return [*zxing_reader(image), *zbar_reader(image)]


DEFAULT_READERS: dict[str, Reader] = {
    "station": pipeline_reader,
    "zxing-cpp": zxing_reader,
    "pyzbar": zbar_reader,
    "zxing+pyzbar": union_reader,
}


@dataclass(frozen=True)
class Sample:
    folder: str
    path: Path
    expected: str | None  # None: no code in the image


@dataclass
class Tally:
    images: int = 0
    found: int = 0
    wrong: int = 0
    seconds: list[float] = field(default_factory=list)
    wrong_examples: list[str] = field(default_factory=list)


def symbology_of(folder: str) -> str:
    return folder.rsplit("-", 1)[0]


def samples(root: Path) -> Iterator[Sample]:
    """Every scorable image under ``root``: with expected text, or in a false-positive folder."""
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        negative = folder.name.startswith("falsepositives")
        for img in sorted(folder.iterdir()):
            if img.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            txt = img.with_suffix(".txt")
            if negative:
                yield Sample(folder.name, img, None)
            elif txt.is_file():
                expected = KNOWN_LABEL_ERRORS.get((folder.name, img.stem))
                if expected is None:
                    expected = txt.read_text(encoding="utf-8", errors="replace")
                yield Sample(folder.name, img, expected.replace("\r\n", "\n"))


def _same(read: str, expected: str) -> bool:
    if read == expected:
        return True
    # EAN-13 with a leading 0 is UPC-A; the test set writes either form
    return read.isdigit() and expected.isdigit() and read.lstrip("0") == expected.lstrip("0")


def score(
    root: Path, readers: dict[str, Reader] | None = None
) -> tuple[dict[str, dict[str, Tally]], list[str]]:
    """Per reader, per symbology tallies; plus the images that could not be loaded."""
    use = readers or DEFAULT_READERS
    table: dict[str, dict[str, Tally]] = {name: {} for name in use}
    unreadable: list[str] = []
    for s in samples(root):
        try:
            image = load_image(s.path)
        except ImageInputError as exc:
            unreadable.append(str(exc))
            continue
        sym = symbology_of(s.folder)
        for name, reader in use.items():
            t0 = time.perf_counter()
            reads = reader(image)
            elapsed = time.perf_counter() - t0
            tally = table[name].setdefault(sym, Tally())
            tally.images += 1
            tally.seconds.append(elapsed)
            texts = [t for _, t in reads]
            ok = s.expected is not None and any(_same(t, s.expected) for t in texts)
            tally.found += ok
            if texts and not ok:
                tally.wrong += 1
                tally.wrong_examples.append(f"{s.folder}/{s.path.name}: {texts[0][:40]!r}")
    return table, unreadable


def format_table(table: dict[str, dict[str, Tally]], title: str) -> str:
    """found/expected and wrong per symbology, one column group per reader."""
    names = list(table)
    syms = sorted({s for t in table.values() for s in t})
    head = f"{'symbology':16s}" + "".join(f"{n:>22s}" for n in names)
    lines = [title, head, f"{'':16s}" + "".join(f"{'found/n  wrong':>22s}" for _ in names)]
    totals = {n: [0, 0, 0] for n in names}
    for sym in syms:
        row = f"{sym:16s}"
        for n in names:
            t = table[n].get(sym, Tally())
            row += f"{f'{t.found}/{t.images}':>15s}{t.wrong:>7d}"
            totals[n][0] += t.found
            totals[n][1] += t.images
            totals[n][2] += t.wrong
        lines.append(row)
    row = f"{'TOTAL':16s}"
    for n in names:
        f, i, w = totals[n]
        row += f"{f'{f}/{i}':>15s}{w:>7d}"
    lines.append(row)
    row = f"{'median ms':16s}"
    for n in names:
        secs = [x for t in table[n].values() for x in t.seconds]
        row += f"{(float(np.median(secs)) * 1000 if secs else 0.0):>22.1f}"
    lines.append(row)
    return "\n".join(lines)
