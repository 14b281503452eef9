"""Barcodes on the white frame: two decoders, combined so that a wrong read is never reported.

zxing-cpp reads more symbologies (Data Matrix, PDF417, Code 39 full ASCII, ECI charsets);
zbar (pyzbar) finds some worn EAN/UPC codes zxing-cpp misses but slips on charsets and
full-ASCII Code 39. Reads of one symbol are grouped by place and family; agreement is
trusted, and a disagreement or an unverifiable single read is dropped where the symbology
has no error correction to vouch for it. A wrong serial at a custody desk can match someone
else's stolen item, so a miss is preferred to a guess.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np
import zxingcpp
from pyzbar import pyzbar
from stdnum import ean

from station.domain import BBox

#: zxing-cpp format name -> the station's symbology name (used in ``barcode:<SYMBOLOGY>``)
_ZXING_NAMES: dict[str, str] = {
    "Code128": "CODE128",
    "Code39": "CODE39",
    "Code39Std": "CODE39",
    "Code39Ext": "CODE39",
    "Code32": "CODE32",
    "PZN": "PZN",
    "Code93": "CODE93",
    "Codabar": "CODABAR",
    "EAN13": "EAN13",
    "EAN8": "EAN8",
    "UPCA": "UPCA",
    "UPCE": "UPCE",
    "ISBN": "EAN13",
    "ITF": "ITF",
    "ITF14": "ITF",
    "QRCode": "QRCODE",
    "QRCodeModel1": "QRCODE",
    "QRCodeModel2": "QRCODE",
    "MicroQRCode": "QRCODE",
    "RMQRCode": "QRCODE",
    "DataMatrix": "DATAMATRIX",
    "PDF417": "PDF417",
    "CompactPDF417": "PDF417",
    "MicroPDF417": "PDF417",
    "Aztec": "AZTEC",
    "AztecCode": "AZTEC",
}
_ZBAR_NAMES: dict[str, str] = {
    "CODE128": "CODE128",
    "CODE39": "CODE39",
    "CODE93": "CODE93",
    "CODABAR": "CODABAR",
    "EAN13": "EAN13",
    "ISBN13": "EAN13",
    "EAN8": "EAN8",
    "UPCA": "UPCA",
    "UPCE": "UPCE",
    "I25": "ITF",
    "QRCODE": "QRCODE",
    "PDF417": "PDF417",
}
#: symbologies whose reads are grouped together (one physical symbol, several readings)
_FAMILY: dict[str, str] = {
    "EAN13": "EANUPC",
    "EAN8": "EANUPC",
    "UPCA": "EANUPC",
    "UPCE": "EANUPC",
    "CODE39": "CODE39",
    "CODE32": "CODE39",
    "PZN": "CODE39",
}
#: 2D symbologies: Reed-Solomon protected, a disagreement is a charset question
_ERROR_CORRECTED = frozenset({"QRCODE", "DATAMATRIX", "PDF417", "AZTEC"})
#: the symbologies a check station looks for (DESIGN.md 3.3) plus close relatives
DEFAULT_ZXING_FORMATS = (
    "Code128,Code39,Code93,Codabar,EAN13,EAN8,UPCA,UPCE,ITF,QRCode,MicroQRCode,"
    "DataMatrix,PDF417,Aztec"
)
_ZBAR_SYMBOLS = [
    pyzbar.ZBarSymbol.CODE128,
    pyzbar.ZBarSymbol.CODE39,
    pyzbar.ZBarSymbol.CODE93,
    pyzbar.ZBarSymbol.EAN13,
    pyzbar.ZBarSymbol.EAN8,
    pyzbar.ZBarSymbol.UPCA,
    pyzbar.ZBarSymbol.UPCE,
    pyzbar.ZBarSymbol.I25,
    pyzbar.ZBarSymbol.QRCODE,
]


@dataclass(frozen=True)
class BarcodeRead:
    """One decoded symbol."""

    symbology: str
    text: str
    bbox: BBox
    decoders: tuple[str, ...]
    confidence: float
    #: GS1 element string (FNC1 in first position): parse it with station.vision.gs1
    gs1: bool = False
    #: zxing-cpp's variant name, e.g. Code39Ext, when it reinterpreted the raw symbol
    variant: str = ""

    @property
    def family(self) -> str:
        return _FAMILY.get(self.symbology, self.symbology)

    @property
    def key(self) -> str:
        """What two decoders must agree on: the text, EAN/UPC compared as GTIN-13."""
        if self.family == "EANUPC" and self.symbology in ("UPCA", "EAN13"):
            return self.text.zfill(13)
        return self.text


def _normalise_text(text: str) -> str:
    return text.replace("\r\n", "\n")


def _canonical_eanupc(symbology: str, text: str) -> tuple[str, str]:
    """An EAN-13 with a leading 0 is a UPC-A: report it as such, whichever decoder read it."""
    if symbology == "EAN13" and len(text) == 13 and text.startswith("0"):
        return "UPCA", text[1:]
    return symbology, text


def _bbox_of(points: Iterable[tuple[float, float]]) -> BBox:
    pts = np.array(list(points), np.float32).reshape(-1, 2)
    x0, y0 = np.floor(pts.min(axis=0))
    x1, y1 = np.ceil(pts.max(axis=0))
    return int(x0), int(y0), int(max(1, x1 - x0)), int(max(1, y1 - y0))


def as_gray(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image


def read_zxing(
    gray: np.ndarray,
    formats: str = DEFAULT_ZXING_FORMATS,
    binarizer: zxingcpp.Binarizer = zxingcpp.Binarizer.LocalAverage,
) -> list[BarcodeRead]:
    """All symbols zxing-cpp finds, text as encoded (GS1 separators kept as GS)."""
    found = zxingcpp.read_barcodes(
        gray,
        formats=zxingcpp.barcode_formats_from_str(formats),
        text_mode=zxingcpp.TextMode.Plain,
        binarizer=binarizer,
    )
    reads: list[BarcodeRead] = []
    for r in found:
        name = r.format.name
        symbology = _ZXING_NAMES.get(name, name.upper())
        text = _normalise_text(r.text)
        if _FAMILY.get(symbology) == "EANUPC":
            symbology, text = _canonical_eanupc(symbology, text)
        pos = r.position
        box = _bbox_of(
            (p.x, p.y) for p in (pos.top_left, pos.top_right, pos.bottom_right, pos.bottom_left)
        )
        reads.append(
            BarcodeRead(
                symbology=symbology,
                text=text,
                bbox=box,
                decoders=("zxing",),
                confidence=0.9,
                gs1=r.content_type == zxingcpp.ContentType.GS1,
                variant=name if name in ("Code39Ext", "Code32", "PZN") else "",
            )
        )
    return reads


def read_zbar(gray: np.ndarray) -> list[BarcodeRead]:
    """All symbols zbar finds; bytes decoded as UTF-8 (others are dropped, not guessed)."""
    reads: list[BarcodeRead] = []
    for r in pyzbar.decode(gray, symbols=_ZBAR_SYMBOLS):
        symbology = _ZBAR_NAMES.get(r.type, r.type)
        try:
            text = _normalise_text(r.data.decode("utf-8"))
        except UnicodeDecodeError:
            continue
        if _FAMILY.get(symbology) == "EANUPC":
            symbology, text = _canonical_eanupc(symbology, text)
        if r.polygon:
            box = _bbox_of((p.x, p.y) for p in r.polygon)
        else:
            box = (r.rect.left, r.rect.top, max(1, r.rect.width), max(1, r.rect.height))
        reads.append(
            BarcodeRead(
                symbology=symbology, text=text, bbox=box, decoders=("zbar",), confidence=0.8
            )
        )
    return reads


def _near(a: BBox, b: BBox) -> bool:
    """True when two boxes plausibly belong to one symbol (zbar's 1D boxes are thin lines)."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    mx = max(8, min(aw, bw) // 4)
    my = max(8, max(ah, bh) // 2)
    return ax - mx < bx + bw and bx - mx < ax + aw and ay - my < by + bh and by - my < ay + ah


def _group(reads: Sequence[BarcodeRead]) -> list[list[BarcodeRead]]:
    groups: list[list[BarcodeRead]] = []
    for r in reads:
        for g in groups:
            if any(o.family == r.family and _near(o.bbox, r.bbox) for o in g):
                g.append(r)
                break
        else:
            groups.append([r])
    return groups


def _full_ascii_shifts(text: str) -> bool:
    """Code 39 text that may hide full-ASCII pairs (``+A`` = ``a``): ambiguous when raw."""
    return any(c in "$%/+" and n.isalpha() for c, n in itertools.pairwise(text))


def _plausible_alone(read: BarcodeRead) -> bool:
    """Whether a read seen by one decoder only may be reported."""
    if read.family == "EANUPC":
        digits = read.text
        if not digits.isdigit():
            return False
        if read.symbology in ("EAN13", "UPCA", "EAN8") and not ean.is_valid(digits):
            return False
    if read.decoders == ("zbar",):
        if not read.text.isascii():
            return False  # zbar guesses charsets (Shift-JIS for Latin-1 and back)
        if read.family == "CODE39" and _full_ascii_shifts(read.text):
            return False
    return bool(read.text)


def _merge(group: list[BarcodeRead]) -> BarcodeRead | None:
    """One read for one symbol, or None when the readings cannot be trusted."""
    by_key: dict[str, list[BarcodeRead]] = {}
    for r in group:
        by_key.setdefault(r.key, []).append(r)
    zx = [r for r in group if "zxing" in r.decoders]
    zb = [r for r in group if "zbar" in r.decoders]
    agreed = [
        rs
        for rs in by_key.values()
        if any("zxing" in r.decoders for r in rs) and any("zbar" in r.decoders for r in rs)
    ]
    if len(agreed) == 1:
        rs = agreed[0]
        best = next(r for r in rs if "zxing" in r.decoders)
        return replace(best, decoders=("zxing", "zbar"), confidence=0.99)
    if agreed:
        return None  # two different agreed texts at one place: not one symbol we can trust
    if len(by_key) == 1:
        single = group[0]
        return single if _plausible_alone(single) else None
    # decoders (or one decoder's scan lines) disagree
    if zx and len({r.key for r in zx}) == 1:
        z = zx[0]
        if z.symbology in _ERROR_CORRECTED:
            return replace(z, confidence=0.85)  # zbar's differing text is a charset slip
        if z.family == "CODE39" and z.variant:
            return replace(z, confidence=0.85)  # zbar cannot apply full ASCII / Code 32 / PZN
        if (
            z.symbology == "CODE128"
            and not z.text.isascii()
            and all(len(r.text) == len(z.text) for r in zb)
        ):
            # mod-103 checked symbol characters; only the FNC4/Latin-1 mapping differs
            return replace(z, confidence=0.85)
    return None


def combine(reads: Sequence[BarcodeRead]) -> list[BarcodeRead]:
    """Trusted reads from the raw reads of all decoders and passes."""
    out: list[BarcodeRead] = []
    for group in _group(reads):
        merged = _merge(group)
        if merged is not None:
            out.append(merged)
    return out


def read_barcodes(image: np.ndarray, use_zbar: bool = True) -> list[BarcodeRead]:
    """Decode every barcode in a white-light frame (BGR or grey)."""
    gray = as_gray(image)
    reads = read_zxing(gray)
    if use_zbar:
        reads += read_zbar(gray)
    return combine(reads)
