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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np
import zxingcpp
from pyzbar import pyzbar
from stdnum import ean

from station.domain import BBox
from station.vision import zbar
from station.vision.isolation import DecoderFailed, DecoderRunner, InProcess, Job, run_all

#: zxing-cpp format name -> the station's symbology name (used in ``barcode:<SYMBOLOGY>``)
ZXING_NAMES: dict[str, str] = {
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
    #: a symbol zxing-cpp located but whose check failed: never reported, only a sign that a
    #: code is there (a place for a second look, a longer symbol around a shorter read)
    failed: bool = False

    @property
    def family(self) -> str:
        return _FAMILY.get(self.symbology, self.symbology)

    @property
    def key(self) -> str:
        """What two decoders must agree on: the text, EAN/UPC compared as GTIN-13."""
        return gtin13(self.symbology, self.text) if self.family == "EANUPC" else self.text


def upce_to_upca(upce: str) -> str:
    """Expand an 8-digit UPC-E (number system, six digits, check) to its 12-digit UPC-A."""
    ns, d, check = upce[0], upce[1:7], upce[7]
    last = d[5]
    if last in "012":
        body = d[0:2] + last + "0000" + d[2:5]
    elif last == "3":
        body = d[0:3] + "00000" + d[3:5]
    elif last == "4":
        body = d[0:4] + "00000" + d[4]
    else:
        body = d[0:5] + "0000" + last
    return ns + body + check


def gtin13(symbology: str, text: str) -> str:
    """EAN/UPC content in one comparable form (EAN-8 stays 8 digits)."""
    if symbology == "UPCE" and len(text) == 8 and text.isdigit():
        return "0" + upce_to_upca(text)
    if symbology in ("UPCA", "EAN13", "UPCE") and text.isdigit():
        return text.zfill(13)
    return text


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
    errors: bool = False,
    rotate: bool = True,
) -> list[BarcodeRead]:
    """All symbols zxing-cpp finds, text as encoded (GS1 separators kept as GS); with
    ``errors`` also those failing their check, marked ``failed``. ``rotate`` also tries the
    image turned by 90 degrees (needed for 1D symbols standing upright)."""
    found = zxingcpp.read_barcodes(
        gray,
        formats=zxingcpp.barcode_formats_from_str(formats),
        try_rotate=rotate,
        text_mode=zxingcpp.TextMode.Plain,
        binarizer=binarizer,
        return_errors=errors,
    )
    reads: list[BarcodeRead] = []
    for r in found:
        name = r.format.name
        symbology = ZXING_NAMES.get(name, name.upper())
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
                failed=r.error is not None,
            )
        )
    return reads


def read_zbar(gray: np.ndarray) -> list[BarcodeRead]:
    """All symbols zbar finds; bytes decoded as UTF-8 (others are dropped, not guessed)."""
    return _zbar_symbols(gray, _ZBAR_SYMBOLS)


def _zbar_symbols(gray: np.ndarray, symbols: list[pyzbar.ZBarSymbol]) -> list[BarcodeRead]:
    reads: list[BarcodeRead] = []
    for r in zbar.scan(gray, symbols):
        symbology = _ZBAR_NAMES.get(r.type_name, r.type_name)
        try:
            text = _normalise_text(r.data.decode("utf-8"))
        except UnicodeDecodeError:
            continue
        if _FAMILY.get(symbology) == "EANUPC":
            symbology, text = _canonical_eanupc(symbology, text)
            if symbology == "UPCE" and len(text) == 8 and text.isdigit():
                text = "0" + upce_to_upca(text)  # the expanded form, as zxing-cpp reports it
        if not r.points:
            continue  # zbar always locates what it decodes; a symbol without place is noise
        reads.append(
            BarcodeRead(
                symbology=symbology,
                text=text,
                bbox=_bbox_of(r.points),
                decoders=("zbar",),
                confidence=0.8,
            )
        )
    return reads


#: shortest text a symbology carries on a real label; anything shorter is a fragment (a
#: one-character Code 39 "found" in a photograph of a wall, a partial ITF inside a longer one)
MIN_LENGTH: dict[str, int] = {
    "CODE39": 3,
    "CODE93": 3,
    "CODE128": 2,
    "CODABAR": 4,
    "ITF": 4,
}
#: an ITF shorter than this must be read by both decoders (zxing-cpp's own default minimum)
_ITF_SINGLE_MIN = 6


def long_enough(read: BarcodeRead) -> bool:
    """Length discipline for weakly checked symbologies: a minimum per symbology, and ITF
    (digit pairs, no check character of its own) must have an even number of digits."""
    if len(read.text) < MIN_LENGTH.get(read.symbology, 1):
        return False
    return not (read.symbology == "ITF" and (len(read.text) % 2 or not read.text.isdigit()))


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
        if read.symbology == "UPCE" and not ean.is_valid(read.key):
            return False
    if read.symbology == "ITF" and len(read.text) < _ITF_SINGLE_MIN and len(read.decoders) < 2:
        return False  # a short ITF seen by one decoder alone may be a piece of a longer one
    if read.decoders == ("zbar",):
        if read.symbology == "ITF":
            return False  # zbar's ITF has no length or quiet-zone check: partial reads
        if not read.text.isascii():
            return False  # zbar guesses charsets (Shift-JIS for Latin-1 and back)
        if read.family == "CODE39" and _full_ascii_shifts(read.text):
            return False
    return bool(read.text)


def _split_agreed(group: list[BarcodeRead]) -> list[list[BarcodeRead]]:
    """Two texts each read by both decoders at one place are two neighbouring symbols.

    Such a group is split by text; readings of a text only one decoder saw are dropped,
    since they cannot be told apart from a misread of either neighbour.
    """
    by_key: dict[str, list[BarcodeRead]] = {}
    for r in group:
        by_key.setdefault(r.key, []).append(r)
    agreed = [
        rs for rs in by_key.values() if {d for r in rs for d in r.decoders} >= {"zxing", "zbar"}
    ]
    if len(agreed) < 2 or group[0].symbology in _ERROR_CORRECTED:
        return [group]
    return agreed


def _merge_error_corrected(group: list[BarcodeRead]) -> list[BarcodeRead]:
    """2D symbols: Reed-Solomon vouches for every zxing-cpp read (two codes may nest);
    zbar's differing text at the same place is a charset slip and is dropped."""
    zx: dict[str, BarcodeRead] = {}
    for r in group:
        if "zxing" in r.decoders:
            zx.setdefault(r.key, r)
    zb_keys = {r.key for r in group if "zbar" in r.decoders}
    if zx:
        return [
            replace(r, decoders=("zxing", "zbar"), confidence=0.99) if k in zb_keys else r
            for k, r in zx.items()
        ]
    zb = [r for r in group if "zbar" in r.decoders]
    if len(zb_keys) == 1 and _plausible_alone(zb[0]):
        return [zb[0]]
    return []


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


def combine(
    reads: Sequence[BarcodeRead],
    gray: np.ndarray | None = None,
    runner: DecoderRunner | None = None,
    failures: list[DecoderFailed] | None = None,
) -> list[BarcodeRead]:
    """Trusted reads from the raw reads of all decoders.

    With ``gray`` (the image decoded) EAN/UPC reads are re-read around their place and
    voted on, because their single check digit lets a blurred 1 read as 7 (or 2 as 8) in a
    way both decoders can share; without it an EAN/UPC read needs both decoders to agree.
    The re-reads go through ``runner`` (isolated workers in the pipeline); a decoder that
    fails there is noted in ``failures`` and the vote goes on with the other one.
    """
    run = runner if runner is not None else InProcess()
    out: list[BarcodeRead] = []
    groups: list[list[BarcodeRead]] = []
    longer = [r.bbox for r in reads if r.symbology in _LONG_EANUPC]
    for group in _group([r for r in reads if not r.failed and long_enough(r)]):
        groups.extend(_split_agreed(group))
    for group in groups:
        if group[0].symbology in _ERROR_CORRECTED:
            out.extend(_merge_error_corrected(group))
            continue
        merged: BarcodeRead | None
        if group[0].family == "EANUPC" and gray is not None:
            merged = _vote_eanupc(gray, group, run, failures)
        else:
            merged = _merge(group)
        if merged is None:
            continue
        if merged.symbology in _SHORT_EANUPC and any(_near(merged.bbox, b) for b in longer):
            continue  # a UPC-E or EAN-8 "found" inside an EAN-13/UPC-A some decoder saw
        if merged.symbology == "ITF" and gray is not None and not quiet_zones(gray, merged):
            continue  # bars run on beyond it: a piece of a longer symbol
        out.append(merged)
    return out


#: EAN/UPC symbols that fit inside a longer one, and the longer ones
_SHORT_EANUPC = frozenset({"EAN8", "UPCE"})
_LONG_EANUPC = frozenset({"EAN13", "UPCA"})


def _modules(read: BarcodeRead) -> int:
    """Roughly how many narrow-bar widths a 1D symbol of this text spans."""
    n = len(read.text)
    if read.symbology == "ITF":
        return 8 * n + 8  # a digit is 2 wide and 3 narrow bars (wide 2-3 x narrow), plus guards
    if read.symbology == "CODABAR":
        return 11 * n
    return 13 * n + 26  # Code 39 (characters of 12-16 modules)


def quiet_zones(gray: np.ndarray, read: BarcodeRead, modules: float = 5.0) -> bool:
    """Whether the ends of a 1D read have quiet zones: no bar within ``modules`` narrow-bar
    widths on either side along its axis. A piece of a longer symbol fails (its neighbours'
    bars run on); the frame's edge counts as quiet, since nothing can be seen beyond it."""
    x, y, w, h = read.bbox
    img = gray
    inner = gray[max(0, y) : y + h, max(0, x) : x + w].astype(np.int16)
    if inner.size == 0:
        return True
    across_x = int(np.abs(np.diff(inner, axis=1)).sum())
    across_y = int(np.abs(np.diff(inner, axis=0)).sum())
    if across_y > across_x:  # the bars lie across the y axis: the symbol stands on its side
        img = gray.T
        x, y, w, h = y, x, h, w
    rows, cols = img.shape[:2]
    module = w / max(1, _modules(read))
    band = img[max(0, y + h // 2 - max(1, h // 4)) : min(rows, y + h // 2 + max(1, h // 4) + 1)]
    if band.size == 0:
        return True
    profile = band.astype(np.float32).mean(axis=0)
    inside = profile[max(0, x) : min(cols, x + w)]
    if inside.size < 4:
        return True
    contrast = float(np.percentile(inside, 95) - np.percentile(inside, 5))
    if contrast < 10:
        return True  # too flat to tell; the decoders' own checks stand
    gap = max(1, round(module))
    reach = max(3, round(modules * module))
    zones = (
        profile[max(0, x - gap - reach) : max(0, x - gap)],
        profile[min(cols, x + w + gap) : min(cols, x + w + gap + reach)],
    )
    for zone in zones:
        if zone.size < 2:
            continue
        if float(zone.max() - zone.min()) > 0.5 * contrast:
            return False
    return True


#: (scale, blur sigma) variants an EAN/UPC symbol is re-read at
_EAN_VARIANTS: tuple[tuple[float, float], ...] = tuple(
    (scale, blur)
    for scale in (0.75, 1.0, 1.5, 2.0, 3.0)
    for blur in (0.0, 0.8, 1.5)
    if (scale, blur) != (1.0, 0.0)
)
#: crops are not enlarged beyond this many pixels on their longer side
_EAN_MAX_SIDE = 1400
_EAN_ZXING_FORMATS = "EAN13,EAN8,UPCA,UPCE"
_EAN_ZBAR_SYMBOLS = [
    pyzbar.ZBarSymbol.EAN13,
    pyzbar.ZBarSymbol.EAN8,
    pyzbar.ZBarSymbol.UPCA,
    pyzbar.ZBarSymbol.UPCE,
]


def _union(boxes: Iterable[BBox]) -> BBox:
    bs = list(boxes)
    x0 = min(b[0] for b in bs)
    y0 = min(b[1] for b in bs)
    x1 = max(b[0] + b[2] for b in bs)
    y1 = max(b[1] + b[3] for b in bs)
    return x0, y0, x1 - x0, y1 - y0


def _longer_symbol_seen(crop: np.ndarray, runner: DecoderRunner) -> bool:
    """Whether zxing-cpp sees an EAN-13/UPC-A here, even one failing its check digit
    (a failed look counts as seen: the short read is then dropped, not trusted)."""
    return runner.run("zxing", count_long_eanupc, crop).value_or(1) > 0


def count_long_eanupc(crop: np.ndarray) -> int:
    """How many EAN-13/UPC-A symbols zxing-cpp sees, check digit failing or not."""
    found = zxingcpp.read_barcodes(
        crop,
        formats=zxingcpp.barcode_formats_from_str("EAN13,UPCA"),
        return_errors=True,
    )
    return len(found)


def _majority(counts: dict[str, int]) -> str | None:
    """The text one decoder clearly insists on: at least 2 readings and twice any other."""
    if not counts:
        return None
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    top, n = ranked[0]
    second = ranked[1][1] if len(ranked) > 1 else 0
    return top if n >= 2 and n >= 2 * second else None


def reread_zxing(
    crop: np.ndarray, variants: Sequence[tuple[float, float]]
) -> list[list[BarcodeRead]]:
    """zxing-cpp's EAN/UPC reads of each (scale, blur) variant of a crop (a worker job)."""
    return [read_zxing(img, _EAN_ZXING_FORMATS) for img in _variant_images(crop, variants)]


def reread_zbar(
    crop: np.ndarray, variants: Sequence[tuple[float, float]]
) -> list[list[BarcodeRead]]:
    """zbar's EAN/UPC reads of each (scale, blur) variant of a crop (a worker job)."""
    return [_zbar_symbols(img, _EAN_ZBAR_SYMBOLS) for img in _variant_images(crop, variants)]


def _variant_images(
    crop: np.ndarray, variants: Sequence[tuple[float, float]]
) -> Iterable[np.ndarray]:
    for scale, blur in variants:
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        img = (
            cv2.resize(crop, None, fx=scale, fy=scale, interpolation=interp) if scale != 1 else crop
        )
        if blur > 0:
            img = cv2.GaussianBlur(img, (0, 0), blur)
        yield img


#: the re-read job of each decoder
REREADERS: dict[str, Callable[..., list[list[BarcodeRead]]]] = {
    "zxing": reread_zxing,
    "zbar": reread_zbar,
}


def _vote_eanupc(
    gray: np.ndarray,
    group: list[BarcodeRead],
    runner: DecoderRunner,
    failures: list[DecoderFailed] | None,
) -> BarcodeRead | None:
    """Re-read an EAN/UPC symbol at several scales and blurs and let each decoder vote.

    Blur turns 1 into 7 and 2 into 8 consistently enough that both decoders can share a
    misread at one scale, but a true read dominates across scales. A text is kept when
    some decoder clearly insists on it and no decoder clearly insists on another.
    """
    h, w = gray.shape[:2]
    bx, by, bw, bh = _union(r.bbox for r in group)
    half = max(bw, bh) + 0.1 * max(h, w) + 20
    cx, cy = bx + bw / 2, by + bh / 2
    x0, y0 = max(0, int(cx - half)), max(0, int(cy - half))
    x1, y1 = min(w, int(cx + half)), min(h, int(cy + half))
    crop = gray[y0:y1, x0:x1]
    # a re-read counts only near the symbol (not a neighbouring code in the crop)
    reach = max(bw, bh) * 0.25 + 10
    near = (bx - reach, by - reach, bx + bw + reach, by + bh + reach)
    seen: dict[str, set[tuple[str, int]]] = {}
    first: dict[str, BarcodeRead] = {}
    for r in group:
        seen.setdefault(r.key, set()).add((r.decoders[0], -1))
        first.setdefault(r.key, r)
    longest = max(crop.shape[:2])
    variants = [(s, b) for s, b in _EAN_VARIANTS if longest * s <= _EAN_MAX_SIDE]
    names = list(REREADERS)
    outcomes = run_all(runner, [(n, REREADERS[n], (crop, variants)) for n in names])
    for outcome in outcomes:
        if outcome.failure is not None:
            if failures is not None:
                failures.append(outcome.failure)
            continue
        for variant, rereads in zip(variants, outcome.value_or([]), strict=False):
            i, scale = _EAN_VARIANTS.index(variant), variant[0]
            for r in rereads:
                rx, ry, rw, rh = r.bbox
                ox, oy = x0 + (rx + rw / 2) / scale, y0 + (ry + rh / 2) / scale
                if near[0] <= ox <= near[2] and near[1] <= oy <= near[3]:
                    seen.setdefault(r.key, set()).add((r.decoders[0], i))
    per_decoder: dict[str, dict[str, int]] = {"zxing": {}, "zbar": {}}
    for key, marks in seen.items():
        for decoder, _ in marks:
            per_decoder[decoder][key] = per_decoder[decoder].get(key, 0) + 1
    insisted = {d: _majority(c) for d, c in per_decoder.items()}
    chosen = {k for k in insisted.values() if k is not None}
    if len(chosen) != 1:
        return None  # nobody sure, or the decoders insist on different texts
    key = chosen.pop()
    if key not in first:
        return None  # the majority text was never read in the frame itself
    best = first[key]
    backers = tuple(d for d in ("zxing", "zbar") if insisted[d] == key)
    if best.symbology in _SHORT_EANUPC and _longer_symbol_seen(crop, runner):
        return None  # a short symbol read inside a longer one (a UPC-E within a UPC-A)
    if not _plausible_alone(best):
        return None
    rivals = sum(n for c in per_decoder.values() for k, n in c.items() if k != key)
    return replace(
        best,
        decoders=backers,
        confidence=0.99 if len(backers) == 2 and rivals == 0 else 0.9,
    )


def read_barcodes(
    image: np.ndarray,
    use_zbar: bool = True,
    runner: DecoderRunner | None = None,
    failures: list[DecoderFailed] | None = None,
    second_look: int = 3,
) -> list[BarcodeRead]:
    """Decode every barcode in a white-light frame (BGR or grey).

    Each decoder runs through ``runner`` (in-process when None); one that fails is noted in
    ``failures`` and the other's reads are still combined. Then up to ``second_look`` places
    where a code probably is but nothing was read get a second look
    (``station.vision.second_look``; 0 turns it off).
    """
    from station.vision.second_look import second_look as look_again

    gray = as_gray(image)
    run = runner if runner is not None else InProcess()
    jobs: list[Job] = [("zxing", read_zxing, (gray,))]
    if use_zbar:
        jobs.append(("zbar", read_zbar, (gray,)))
    reads: list[BarcodeRead] = []
    for outcome in run_all(run, jobs):
        if outcome.failure is not None and failures is not None:
            failures.append(outcome.failure)
        reads += outcome.value_or([])
    trusted = combine(reads, gray, run, failures)
    if second_look > 0 and use_zbar:
        trusted += look_again(gray, reads, trusted, run, failures, limit=second_look)
    return trusted
