"""Barcode reading: generated symbols of every symbology, the combination rules, and a few
real photographs from the shared test set (expected text from their .txt files)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import zxingcpp

from station.vision.barcodes import BarcodeRead, combine, read_barcodes
from station.vision.io import load_image

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "barcodes"
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason=f"real photographs not at {REAL}")


def _symbol(text: str, fmt: str, scale: int = 3) -> np.ndarray:
    code = zxingcpp.create_barcode(text, zxingcpp.barcode_format_from_str(fmt))
    return np.asarray(code.to_image(scale=scale, add_quiet_zones=True))


def _canvas(*symbols: np.ndarray, gap: int = 40) -> np.ndarray:
    h = max(s.shape[0] for s in symbols) + 2 * gap
    w = sum(s.shape[1] for s in symbols) + gap * (len(symbols) + 1)
    img = np.full((h, w), 255, np.uint8)
    x = gap
    for s in symbols:
        img[gap : gap + s.shape[0], x : x + s.shape[1]] = s
        x += s.shape[1] + gap
    return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)


@pytest.mark.parametrize(
    ("fmt", "text", "symbology"),
    [
        ("Code128", "C02XK1ABJGH5", "CODE128"),
        ("Code39", "SN-12345", "CODE39"),
        ("EAN13", "4006381333931", "EAN13"),
        ("EAN8", "96385074", "EAN8"),
        ("UPCA", "036000291452", "UPCA"),
        ("QRCode", "SW-7K3M-9QXA-H", "QRCODE"),
        ("DataMatrix", "354712345678906", "DATAMATRIX"),
        ("ITF", "12345678901231", "ITF"),
        ("PDF417", "SERIAL 99887766", "PDF417"),
    ],
)
def test_generated_symbols_are_read(fmt: str, text: str, symbology: str) -> None:
    reads = read_barcodes(_canvas(_symbol(text, fmt)))
    assert [(r.symbology, r.text) for r in reads] == [(symbology, text)]


def test_two_decoders_agree_on_common_symbols() -> None:
    reads = read_barcodes(_canvas(_symbol("4006381333931", "EAN13")))
    assert reads[0].decoders == ("zxing", "zbar") and reads[0].confidence > 0.95


def test_several_rotated_symbols() -> None:
    a = _symbol("ABC-123-XYZ", "Code128")
    b = cv2.rotate(_symbol("354712345678906", "QRCode", 4), cv2.ROTATE_90_CLOCKWISE)
    img = _canvas(a, b, gap=150)
    centre = (img.shape[1] / 2, img.shape[0] / 2)
    m = cv2.getRotationMatrix2D(centre, 17, 0.9)
    img = cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), borderValue=(255, 255, 255))
    assert sorted(r.text for r in read_barcodes(img)) == ["354712345678906", "ABC-123-XYZ"]


def test_gs1_content_is_flagged() -> None:
    code = zxingcpp.create_barcode(
        "(01)09504000059101(21)SN778899", zxingcpp.BarcodeFormat.DataMatrix, gs1=True
    )
    img = _canvas(np.asarray(code.to_image(scale=4, add_quiet_zones=True)))
    (read,) = read_barcodes(img)
    assert read.gs1 and "21SN778899" in read.text


def _read(
    sym: str,
    text: str,
    decoder: str,
    box: tuple[int, int, int, int] = (10, 10, 200, 60),
    variant: str = "",
) -> BarcodeRead:
    return BarcodeRead(
        sym, text, box, (decoder,), 0.9 if decoder == "zxing" else 0.8, variant=variant
    )


def test_disagreeing_ean_reads_are_dropped() -> None:
    reads = [_read("EAN13", "4006381333931", "zxing"), _read("EAN13", "4006381333948", "zbar")]
    assert combine(reads) == []


def test_agreement_wins_over_a_stray_scanline() -> None:
    reads = [
        _read("UPCA", "752050200137", "zxing"),
        _read("UPCA", "752050200137", "zbar"),
        _read("EAN13", "9711010200137", "zbar", (12, 40, 190, 8)),
    ]
    (merged,) = combine(reads)
    assert merged.text == "752050200137" and merged.decoders == ("zxing", "zbar")


def test_zbar_only_reads_with_charset_or_full_ascii_doubt_are_dropped() -> None:
    assert combine([_read("CODE39", "A+A-1234", "zbar")]) == []
    assert combine([_read("QRCODE", "MECARD:N:皜祈岫;;", "zbar")]) == []
    assert combine([_read("EAN13", "4006381333932", "zbar")]) == []  # bad check digit
    assert [r.text for r in combine([_read("CODE39", "SN-12345", "zbar")])] == ["SN-12345"]


def test_zxing_interpretation_wins_for_full_ascii_code39() -> None:
    reads = [
        _read("CODE39", "Aa-1234", "zxing", variant="Code39Ext"),
        _read("CODE39", "A+A-1234", "zbar"),
    ]
    assert [r.text for r in combine(reads)] == ["Aa-1234"]


def test_separate_symbols_are_not_merged() -> None:
    reads = [
        _read("CODE128", "AAA111", "zxing", (0, 0, 100, 40)),
        _read("CODE128", "BBB222", "zxing", (0, 300, 100, 40)),
    ]
    assert sorted(r.text for r in combine(reads)) == ["AAA111", "BBB222"]


def _expected(image: Path) -> str:
    return image.with_suffix(".txt").read_text(encoding="utf-8").replace("\r\n", "\n")


@needs_real
@pytest.mark.parametrize(
    "name",
    [
        "code128-1/1.png",
        "code39-2/1.png",
        "code39-2/wide.png",
        "code128-1/6.png",
        "datamatrix-1/#378.png",
        "qrcode-2/30.png",
        "ean8-1/1.png",
        "upca-2/25.webp",
    ],
)
def test_real_photographs_read_correctly(name: str) -> None:
    path = REAL / name
    reads = read_barcodes(load_image(path))
    expected = _expected(path)
    texts = [("0" + r.text if r.symbology == "UPCA" else r.text) for r in reads]
    assert expected in texts or expected.lstrip("0") in [t.lstrip("0") for t in texts]
    assert len(reads) == 1


@needs_real
def test_no_reads_on_false_positive_photographs() -> None:
    folder = REAL / "falsepositives-1"
    images = sorted(p for p in folder.iterdir() if p.suffix in (".png", ".webp", ".jpg"))[:6]
    assert images
    for p in images:
        assert read_barcodes(load_image(p)) == [], p.name


@pytest.mark.parametrize(
    ("symbology", "text", "kept"),
    [
        ("CODE39", "A", False),  # a one-character Code 39 is never a read
        ("CODE39", "AB1", True),
        ("ITF", "12", False),  # a fragment
        ("ITF", "1515", True),  # short, but both decoders read it
        ("ITF", "12345", False),  # ITF carries digit pairs
        ("ITF", "123456", True),
        ("CODE128", "X", False),
    ],
)
def test_fragments_of_weakly_checked_symbologies_are_never_reported(
    symbology: str, text: str, kept: bool
) -> None:
    both = [
        BarcodeRead(symbology, text, (10, 10, 200, 60), (decoder,), 0.9)
        for decoder in ("zxing", "zbar")
    ]
    assert [r.text for r in combine(both)] == ([text] if kept else [])


def test_a_short_itf_seen_by_one_decoder_alone_is_not_reported() -> None:
    alone = BarcodeRead("ITF", "1515", (10, 10, 200, 60), ("zxing",), 0.9)
    assert combine([alone]) == []
    long_alone = BarcodeRead("ITF", "00123456", (10, 10, 200, 60), ("zxing",), 0.9)
    assert [r.text for r in combine([long_alone])] == ["00123456"]


def test_a_upce_inside_a_upca_is_not_reported() -> None:
    """Both decoders "agree" on a UPC-E, but a decoder saw a UPC-A around it (its check digit
    failing): the UPC-E is a piece of the longer symbol, a class of wrong read."""
    upce = [_read("UPCE", "01234565", d, (60, 20, 120, 50)) for d in ("zxing", "zbar")]
    assert [r.text for r in combine(upce)] == ["01234565"]
    longer = BarcodeRead("UPCA", "036000291453", (10, 10, 220, 70), ("zbar",), 0.8)
    assert combine([*upce, longer]) == []
    failed = BarcodeRead("UPCA", "036000291453", (10, 10, 220, 70), ("zxing",), 0.9, failed=True)
    assert combine([*upce, failed]) == []


def test_a_failed_check_is_never_reported() -> None:
    failed = BarcodeRead("QRCODE", "HELLO", (10, 10, 100, 100), ("zxing",), 0.9, failed=True)
    assert combine([failed]) == []


def _itf_frame() -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A 14-digit ITF on white, and its box (x, y, w, h)."""
    code = zxingcpp.create_barcode("12345678901231", zxingcpp.BarcodeFormat.ITF)
    sym = np.asarray(code.to_image(scale=3, add_quiet_zones=False))
    frame = np.full((sym.shape[0] + 80, sym.shape[1] + 200), 255, np.uint8)
    frame[40 : 40 + sym.shape[0], 100 : 100 + sym.shape[1]] = sym
    return frame, (100, 40, sym.shape[1], sym.shape[0])


def test_an_itf_without_quiet_zones_is_a_fragment() -> None:
    gray, (x, y, w, h) = _itf_frame()
    whole = [
        BarcodeRead("ITF", "12345678901231", (x, y, w, h), (d,), 0.9) for d in ("zxing", "zbar")
    ]
    assert [r.text for r in combine(whole, gray)] == ["12345678901231"]
    # six digits read by both decoders from the middle of the symbol: bars run on either side
    piece = (x + w // 3, y, w // 3, h)
    fragment = [BarcodeRead("ITF", "567890", piece, (d,), 0.9) for d in ("zxing", "zbar")]
    assert combine(fragment, gray) == []
