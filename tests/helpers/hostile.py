"""Hostile inputs shared by the security tests: decompression bombs, overlapping zips."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zipfile
import zlib
from collections.abc import Callable


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def bomb_png(width: int, height: int) -> bytes:
    """A valid 1-bit greyscale PNG of ``width`` x ``height`` zero pixels: tiny on disk, huge
    when decoded (30000x30000 is about 110 KB and 2.7 GB as a BGR frame)."""
    row = b"\x00" * (1 + (width + 7) // 8)
    packer = zlib.compressobj(9)
    parts = []
    block = row * 256
    for _ in range(height // 256):
        parts.append(packer.compress(block))
    parts.append(packer.compress(row * (height % 256)))
    parts.append(packer.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", b"".join(parts))
        + _chunk(b"IEND", b"")
    )


def zip_of(members: dict[str, bytes], stored: bool = True) -> bytes:
    buf = io.BytesIO()
    mode = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(buf, "w", mode) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def overlapping_zip(member: bytes, copies: int) -> bytes:
    """A zip whose central directory lists ``copies`` entries that all point at the one stored
    member's local header: every entry extracts the same bytes again."""
    one = zip_of({"item.png": member})
    with zipfile.ZipFile(io.BytesIO(one)) as zf:
        info = zf.infolist()[0]
    local = one[: info.header_offset + 30 + len(info.filename) + len(member)]
    assert local[:4] == b"PK\x03\x04"
    central = b""
    for _n in range(copies):
        name = b"item.png"
        central += (
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                20,
                20,
                0,
                0,
                0,
                0,
                zlib.crc32(member),
                len(member),
                len(member),
                len(name),
                0,
                0,
                0,
                0,
                0,
                0,
            )
            + name
        )
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, copies, copies, len(central), len(local), 0)
    return local + central + end


def forge_bundle(bundle: bytes, change: Callable[[dict[str, bytes]], None]) -> bytes:
    """What someone without the station key does to an evidence bundle: change files, then
    recompute every hash in manifest.json and SHA256SUMS so the hashes agree again."""
    with zipfile.ZipFile(io.BytesIO(bundle)) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    files.pop("SHA256SUMS")
    change(files)
    manifest = json.loads(files["manifest.json"])
    manifest["files"] = {
        n: hashlib.sha256(d).hexdigest()
        for n, d in files.items()
        if n not in ("manifest.json", "SIGNATURE.json")
    }
    files["manifest.json"] = json.dumps(manifest, indent=2, sort_keys=True).encode()
    sums = "".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in sorted(files.items()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for n, d in files.items():
            zf.writestr(n, d)
        zf.writestr("SHA256SUMS", sums)
    return out.getvalue()
