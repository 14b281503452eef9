"""Pure codec for the lamp-controller protocol (docs/protocol.md §2-§4). No I/O here.

Kept free of serial and threads so it can be property-tested and benchmarked on its own.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass, field
from typing import Literal

FrameKind = Literal["C", "R", "E"]

START = 0x24  # '$'
CRC_SEP = 0x2A  # '*'
MAX_BODY = 200
SEQ_MAX = 65535

_VERB_RE = re.compile(r"^[A-Z]+$")
_KEY_RE = re.compile(r"^[a-z0-9_]+$")
_VALUE_RE = re.compile(r"^[\x21-\x7e]+$")
_HEX = frozenset(b"0123456789ABCDEFabcdef")


class CodecError(ValueError):
    """A frame cannot be encoded or parsed; the message names the offending part."""


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF); check value 0x29B1."""
    return binascii.crc_hqx(data, 0xFFFF)


@dataclass(frozen=True)
class WireFrame:
    """One protocol frame: kind C/R/E, sequence number, verb and key=value arguments."""

    kind: FrameKind
    seq: int
    verb: str
    args: dict[str, str] = field(default_factory=dict)

    def get_int(self, key: str) -> int:
        """An integer argument; CodecError names the key when it is missing or not a number."""
        try:
            return int(self.args[key])
        except KeyError:
            raise CodecError(f"{self.kind}{self.seq} {self.verb}: missing field {key!r}") from None
        except ValueError:
            where = f"{self.kind}{self.seq} {self.verb}"
            raise CodecError(f"{where}: {key}={self.args[key]!r} is not an integer") from None


def _check_value(key: str, value: str) -> None:
    if not _KEY_RE.match(key):
        raise CodecError(f"invalid key {key!r}: use a-z, 0-9 and _")
    if not _VALUE_RE.match(value) or any(c in value for c in "$*="):
        raise CodecError(f"invalid value {value!r} for key {key!r}: printable, no space, $, * or =")


def encode_body(frame: WireFrame) -> bytes:
    """The BODY of a frame (what the CRC covers)."""
    if frame.kind not in ("C", "R", "E"):
        raise CodecError(f"invalid frame kind {frame.kind!r}")
    if not 0 <= frame.seq <= SEQ_MAX:
        raise CodecError(f"sequence number {frame.seq} outside 0..{SEQ_MAX}")
    if not _VERB_RE.match(frame.verb):
        raise CodecError(f"invalid verb {frame.verb!r}: use A-Z only")
    parts = [f"{frame.kind}{frame.seq}", frame.verb]
    for key, value in frame.args.items():
        _check_value(key, value)
        parts.append(f"{key}={value}")
    body = " ".join(parts).encode("ascii")
    if len(body) > MAX_BODY:
        raise CodecError(f"frame body is {len(body)} bytes, more than {MAX_BODY}")
    return body


def encode(frame: WireFrame) -> bytes:
    """A complete frame on the wire: ``$BODY*CRC\\r\\n``."""
    body = encode_body(frame)
    return b"$" + body + b"*" + f"{crc16(body):04X}".encode("ascii") + b"\r\n"


def parse_body(body: bytes) -> WireFrame:
    """Parse a BODY whose CRC has already been checked."""
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise CodecError("frame body is not ASCII") from None
    tokens = text.split(" ")
    if len(tokens) < 2:
        raise CodecError(f"frame {text!r} has no verb")
    head, verb, rest = tokens[0], tokens[1], tokens[2:]
    kind = head[:1]
    if kind not in ("C", "R", "E"):
        raise CodecError(f"frame {text!r} has unknown kind {kind!r}")
    digits = head[1:]
    if not digits.isdigit() or (len(digits) > 1 and digits[0] == "0") or int(digits) > SEQ_MAX:
        raise CodecError(f"frame {text!r} has invalid sequence number {digits!r}")
    if not _VERB_RE.match(verb):
        raise CodecError(f"frame {text!r} has invalid verb {verb!r}")
    args: dict[str, str] = {}
    for token in rest:
        key, sep, value = token.partition("=")
        if not sep:
            raise CodecError(f"frame {text!r}: argument {token!r} is not key=value")
        _check_value(key, value)
        if key in args:
            raise CodecError(f"frame {text!r}: key {key!r} repeated")
        args[key] = value
    return WireFrame(kind, int(digits), verb, args)  # type: ignore[arg-type]


@dataclass(frozen=True)
class BadFrame:
    """A rejected frame: why, the raw bytes seen, and its sequence number if it still parses."""

    reason: str
    raw: bytes
    kind: str | None = None
    seq: int | None = None


def _salvage_head(body: bytes) -> tuple[str | None, int | None]:
    """Best-effort kind and sequence number of a damaged frame (used for NAK code=CRC)."""
    head = body.split(b" ", 1)[0]
    if len(head) >= 2 and head[:1] in (b"C", b"R", b"E") and head[1:].isdigit():
        seq = int(head[1:])
        if seq <= SEQ_MAX:
            return head[:1].decode(), seq
    return None, None


class FrameDecoder:
    """Stateful byte-stream splitter: feed bytes, get frames and rejections (§2 receiver rules).

    Pure: holds only its buffer and counters, does no I/O.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._in_frame = False
        self.frames_ok = 0
        self.bad_frames = 0
        self.crc_errors = 0
        self.discarded_bytes = 0

    def feed(self, data: bytes) -> list[WireFrame | BadFrame]:
        out: list[WireFrame | BadFrame] = []
        for byte in data:
            if byte == START:
                if self._in_frame and self._buf:
                    out.append(self._reject("frame interrupted by a new '$'", bytes(self._buf)))
                self._buf.clear()
                self._in_frame = True
                continue
            if not self._in_frame:
                self.discarded_bytes += 1
                continue
            if byte == 0x0A:  # '\n'
                out.append(self._finish(bytes(self._buf)))
                self._buf.clear()
                self._in_frame = False
                continue
            if byte == 0x0D or 0x20 <= byte <= 0x7E:
                self._buf.append(byte)
                if len(self._buf) > MAX_BODY + 7:
                    out.append(
                        self._reject(f"frame longer than {MAX_BODY} bytes", bytes(self._buf))
                    )
                    self._buf.clear()
                    self._in_frame = False
                continue
            out.append(self._reject(f"non-printable byte 0x{byte:02X} in frame", bytes(self._buf)))
            self._buf.clear()
            self._in_frame = False
        return out

    def _reject(self, reason: str, raw: bytes, crc: bool = False) -> BadFrame:
        self.bad_frames += 1
        if crc:
            self.crc_errors += 1
        kind, seq = _salvage_head(raw)
        return BadFrame(reason, raw, kind, seq)

    def _finish(self, raw: bytes) -> WireFrame | BadFrame:
        line = raw[:-1] if raw.endswith(b"\r") else raw
        if b"\r" in line:
            return self._reject("carriage return inside frame", raw)
        star = line.rfind(b"*")
        if star < 0 or len(line) - star - 1 != 4:
            return self._reject("missing '*' and four-digit CRC", raw)
        body, crc_text = line[:star], line[star + 1 :]
        if b"*" in body:
            return self._reject("'*' inside frame body", raw)
        if not all(c in _HEX for c in crc_text):
            return self._reject(f"CRC {crc_text!r} is not hex", raw, crc=True)
        if len(body) > MAX_BODY:
            return self._reject(f"frame longer than {MAX_BODY} bytes", raw)
        if int(crc_text, 16) != crc16(body):
            return self._reject("CRC mismatch", raw, crc=True)
        try:
            frame = parse_body(body)
        except CodecError as exc:
            return self._reject(str(exc), raw)
        self.frames_ok += 1
        return frame
