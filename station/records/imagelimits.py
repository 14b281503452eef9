"""Image dimensions from the header bytes, so a decompression bomb is refused before decoding.

A 100 KB PNG can declare 30000x30000 pixels; decoding it first and checking afterwards costs
gigabytes. These readers look only at the format's own header fields (PNG IHDR, JPEG SOFn,
WebP VP8/VP8L/VP8X, BMP info header, TIFF first IFD, PNM header) and never decode pixels.
"""

from __future__ import annotations

import struct
from pathlib import Path

from station.errors import ImageInputError

#: bytes read from the start of a file: enough for every header below bar JPEG's segments
HEAD_BYTES = 64 * 1024
#: a JPEG's SOF marker may follow large EXIF/ICC segments; never scan further than this
JPEG_SCAN_LIMIT = 4 * 1024 * 1024


def dimensions(data: bytes) -> tuple[str, int, int] | None:
    """(format, width, height) declared by the header, or None when no known header is found."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return _png(data)
    if data.startswith(b"\xff\xd8"):
        return _jpeg(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp(data)
    if data.startswith(b"BM"):
        return _bmp(data)
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return _tiff(data)
    if data[:2] in (b"P1", b"P2", b"P3", b"P4", b"P5", b"P6"):
        return _pnm(data)
    return None


def _png(data: bytes) -> tuple[str, int, int] | None:
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    w, h = struct.unpack(">II", data[16:24])
    return "PNG", w, h


def _jpeg(data: bytes) -> tuple[str, int, int] | None:
    i = 2
    end = min(len(data), JPEG_SCAN_LIMIT)
    while i + 4 <= end:
        if data[i] != 0xFF:
            i += 1  # tolerate fill bytes and garbage between segments
            continue
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        # SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC) carry the frame size
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if i + 9 > len(data):
                return None
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return "JPEG", w, h
        if marker == 0xDA:  # start of scan before any frame header: not a usable JPEG
            return None
        i += 2 + length
    return None


def _webp(data: bytes) -> tuple[str, int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        w = 1 + int.from_bytes(data[24:27], "little")
        h = 1 + int.from_bytes(data[27:30], "little")
        return "WebP", w, h
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return "WebP", 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        w = int.from_bytes(data[26:28], "little") & 0x3FFF
        h = int.from_bytes(data[28:30], "little") & 0x3FFF
        return "WebP", w, h
    return None


def _bmp(data: bytes) -> tuple[str, int, int] | None:
    if len(data) < 26:
        return None
    (header_size,) = struct.unpack("<I", data[14:18])
    if header_size == 12:  # OS/2 BITMAPCOREHEADER
        w, h = struct.unpack("<HH", data[18:22])
        return "BMP", w, h
    w, h = struct.unpack("<ii", data[18:26])
    return "BMP", abs(w), abs(h)  # a negative height means top-down rows


def _tiff(data: bytes) -> tuple[str, int, int] | None:
    order = "<" if data[:2] == b"II" else ">"
    (ifd,) = struct.unpack(order + "I", data[4:8])
    if ifd + 2 > len(data):
        return None
    (count,) = struct.unpack(order + "H", data[ifd : ifd + 2])
    width = height = None
    for n in range(count):
        at = ifd + 2 + 12 * n
        if at + 12 > len(data):
            break
        tag, kind = struct.unpack(order + "HH", data[at : at + 4])
        if kind == 3:  # SHORT
            (value,) = struct.unpack(order + "H", data[at + 8 : at + 10])
        elif kind == 4:  # LONG
            (value,) = struct.unpack(order + "I", data[at + 8 : at + 12])
        else:
            continue
        if tag == 256:
            width = value
        elif tag == 257:
            height = value
    if width is None or height is None:
        return None
    return "TIFF", width, height


def _pnm(data: bytes) -> tuple[str, int, int] | None:
    fields: list[bytes] = []
    for line in data[2:4096].splitlines():
        fields.extend(line.split(b"#", 1)[0].split())
        if len(fields) >= 2:
            break
    try:
        return "PNM", int(fields[0]), int(fields[1])
    except (IndexError, ValueError):
        return None


def check_header(data: bytes, max_pixels: int, name: str) -> tuple[str, int, int]:
    """Refuse an image whose header declares more than ``max_pixels`` (or no known header)."""
    found = dimensions(data)
    if found is None:
        raise ImageInputError(
            f"{name}: corrupt or truncated: no PNG, JPEG, WebP, BMP, TIFF or PNM header "
            "with the image size"
        )
    kind, w, h = found
    if w <= 0 or h <= 0:
        raise ImageInputError(f"{name}: {kind} header declares an empty image ({w}x{h})")
    if w * h > max_pixels:
        raise ImageInputError(
            f"{name}: {kind} header declares {w}x{h} = {w * h / 1e6:.0f} Mpx, over the "
            f"{max_pixels / 1e6:.0f} Mpx limit (refused before decoding)"
        )
    return found


def check_file(path: Path, max_pixels: int, name: str | None = None) -> tuple[str, int, int]:
    """:func:`check_header` on the first bytes of a file (more for a JPEG with big metadata)."""
    with open(path, "rb") as fh:
        head = fh.read(HEAD_BYTES)
        if head.startswith(b"\xff\xd8") and dimensions(head) is None:
            head += fh.read(JPEG_SCAN_LIMIT - len(head))
    return check_header(head, max_pixels, name or path.name)
