"""The lamp-controller protocol's messages, typed, section by section of docs/protocol.md.

The codec (``codec.py``) turns bytes into ``WireFrame``s; this module turns frames into typed
commands, replies and events and back, so verbs, keys and codes are written down once.
Pure: no I/O, no threads.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import ClassVar, Generic, TypeVar

from station.devices.codec import SEQ_MAX, CodecError, WireFrame


class MessageError(CodecError):
    """A well-formed frame whose fields do not make the message they claim to be."""


# --------------------------------------------------------------------- §5 retry timing
#: reply timeout of the first attempt (seconds) and retries after it (§5 defaults)
REPLY_TIMEOUT_S = 0.25
RETRIES = 4


def attempt_timeout_s(reply_timeout_s: float, attempt: int) -> float:
    """Reply timeout of attempt ``attempt`` (0 = first send): ``timeout * (1 + n/2)``."""
    return reply_timeout_s * (1 + attempt / 2)


def backoff_s(retry: int) -> float:
    """Wait before retry ``retry`` (1-based): ``min(20 ms * 2^(n-1), 200 ms)``."""
    return min(0.02 * 2 ** (retry - 1), 0.2)


def next_seq(seq: int) -> int:
    """The sequence number after ``seq``: 1, 2, ... 65535, then 1 again (0 is never used)."""
    return seq + 1 if 0 <= seq < SEQ_MAX else 1


# --------------------------------------------------------------------- §6/§7 version
@dataclass(frozen=True, order=True)
class ProtocolVersion:
    """``major.minor``: a different major is fatal, a higher controller minor is fine (§7)."""

    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    @classmethod
    def parse(cls, text: str) -> ProtocolVersion:
        major, sep, minor = text.partition(".")
        if not sep or not major.isdigit() or not minor.isdigit():
            raise MessageError(f"protocol version {text!r} is not major.minor")
        return cls(int(major), int(minor))

    def compatible_with(self, other: ProtocolVersion) -> bool:
        return self.major == other.major


#: the version this document (and this station) speaks
PROTOCOL_VERSION = ProtocolVersion(1, 0)


# --------------------------------------------------------------------- §6 enumerations
class NakCode(enum.StrEnum):
    """Why a command was refused; a NAK means the command had no effect (§6)."""

    CRC = "CRC"
    SYNTAX = "SYNTAX"
    UNKNOWN = "UNKNOWN"
    RANGE = "RANGE"
    INTERLOCK = "INTERLOCK"
    NOHELLO = "NOHELLO"
    VERSION = "VERSION"


class SelfTestName(enum.StrEnum):
    """The controller's built-in tests (``TEST name=``)."""

    INTERLOCK = "interlock"
    WATCHDOG = "watchdog"


class LidState(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class LampName(enum.StrEnum):
    WHITE = "white"
    UV = "uv"


# --------------------------------------------------------------------- §8 fault bits
class FaultBits(enum.IntFlag):
    """STATUS ``fault`` (two hex digits); lower-case member names are what the station records."""

    WHITE_NOSTRIKE = 0x01
    UV_NOSTRIKE = 0x02
    WHITE_LOW_CURRENT = 0x04
    UV_LOW_CURRENT = 0x08
    WATCHDOG_SILENCE = 0x10
    LEASE_EXPIRED = 0x20
    INTERLOCK_TRIP = 0x40

    @classmethod
    def parse(cls, text: str) -> FaultBits:
        if len(text) != 2 or any(c not in "0123456789ABCDEFabcdef" for c in text):
            raise MessageError(f"fault={text!r} is not two hex digits")
        return cls(int(text, 16) & 0x7F)

    @property
    def names(self) -> tuple[str, ...]:
        """The set bits' names, lowest bit first (e.g. ``("lease_expired",)``)."""
        return tuple(
            str(bit.name).lower() for bit in FaultBits if bit in self and bit.name is not None
        )

    def lamp_fault(self, lamp: LampName) -> str | None:
        """``nostrike`` or ``low_current`` for one lamp, or None."""
        nostrike, low = (
            (FaultBits.WHITE_NOSTRIKE, FaultBits.WHITE_LOW_CURRENT)
            if lamp is LampName.WHITE
            else (FaultBits.UV_NOSTRIKE, FaultBits.UV_LOW_CURRENT)
        )
        if nostrike in self:
            return "nostrike"
        if low in self:
            return "low_current"
        return None


#: bits that stay set until the next accepted ``LAMP`` (the others only while a lamp is on)
LATCHED_FAULTS = FaultBits.WATCHDOG_SILENCE | FaultBits.LEASE_EXPIRED | FaultBits.INTERLOCK_TRIP


# --------------------------------------------------------------------- field helpers
_E = TypeVar("_E", bound=enum.Enum)


def _field(frame: WireFrame, key: str) -> str:
    try:
        return frame.args[key]
    except KeyError:
        raise MessageError(f"{frame.kind}{frame.seq} {frame.verb}: missing field {key!r}") from None


def _int(frame: WireFrame, key: str) -> int:
    text = _field(frame, key)
    if not text.isdigit():
        raise MessageError(f"{frame.kind}{frame.seq} {frame.verb}: {key}={text!r} is not a number")
    return int(text)


def _enum(frame: WireFrame, key: str, kind: type[_E]) -> _E:
    text = _field(frame, key)
    try:
        return kind(text)
    except ValueError:
        allowed = "|".join(str(m.value) for m in kind)
        where = f"{frame.kind}{frame.seq} {frame.verb}"
        raise MessageError(f"{where}: {key}={text!r} is not {allowed}") from None


def _flag(frame: WireFrame, key: str) -> bool:
    text = _field(frame, key)
    if text not in ("0", "1"):
        raise MessageError(f"{frame.kind}{frame.seq} {frame.verb}: {key}={text!r} is not 0|1")
    return text == "1"


def _words(text: str) -> str:
    """``msg``/``detail`` values join words with underscores on the wire."""
    return text.replace("_", " ")


# --------------------------------------------------------------------- §6 replies
@dataclass(frozen=True)
class Nak:
    """``R<seq> NAK code=<CODE> [msg=...]``; a ``VERSION`` NAK also carries the controller's
    ``proto``. ``code`` is None for a code protocol 1.0 lacks (``code_text`` keeps it)."""

    code: NakCode | None
    code_text: str
    msg: str = ""
    proto: str | None = None

    @classmethod
    def decode(cls, frame: WireFrame) -> Nak:
        text = _field(frame, "code")
        try:
            code: NakCode | None = NakCode(text)
        except ValueError:
            code = None
        return cls(code, text, _words(frame.args.get("msg", "")), frame.args.get("proto"))


@dataclass(frozen=True)
class HelloOk:
    proto: ProtocolVersion
    fw: str
    board: str
    boot: str
    caps: tuple[str, ...]
    lease_max_ms: int
    iw_nom_ma: int
    iu_nom_ma: int

    @classmethod
    def decode(cls, frame: WireFrame) -> HelloOk:
        return cls(
            proto=ProtocolVersion.parse(_field(frame, "proto")),
            fw=_field(frame, "fw"),
            board=_field(frame, "board"),
            boot=_field(frame, "boot"),
            caps=tuple(c for c in frame.args.get("caps", "").split(",") if c),
            # optional in practice: early firmware left them out
            lease_max_ms=_int(frame, "lease_max") if "lease_max" in frame.args else 5000,
            iw_nom_ma=_int(frame, "iw_nom") if "iw_nom" in frame.args else 0,
            iu_nom_ma=_int(frame, "iu_nom") if "iu_nom" in frame.args else 0,
        )


@dataclass(frozen=True)
class PingOk:
    up_ms: int

    @classmethod
    def decode(cls, frame: WireFrame) -> PingOk:
        return cls(_int(frame, "up"))


@dataclass(frozen=True)
class StatusOk:
    lid: LidState
    item: bool
    white: int
    uv: int
    iw_ma: int
    iu_ma: int
    fault: FaultBits
    up_ms: int
    evt: int
    lease_ms: int
    boot: str

    @classmethod
    def decode(cls, frame: WireFrame) -> StatusOk:
        return cls(
            lid=_enum(frame, "lid", LidState),
            item=_flag(frame, "item"),
            white=_int(frame, "white"),
            uv=_int(frame, "uv"),
            iw_ma=_int(frame, "iw"),
            iu_ma=_int(frame, "iu"),
            fault=FaultBits.parse(_field(frame, "fault")),
            up_ms=_int(frame, "up"),
            evt=_int(frame, "evt"),
            lease_ms=_int(frame, "lease"),
            boot=_field(frame, "boot"),
        )


@dataclass(frozen=True)
class LampOk:
    white: int
    uv: int
    lease_ms: int

    @classmethod
    def decode(cls, frame: WireFrame) -> LampOk:
        return cls(_int(frame, "white"), _int(frame, "uv"), _int(frame, "lease"))


@dataclass(frozen=True)
class RenewOk:
    """``lease`` left after renewal; 0 means every lamp was already off."""

    lease_ms: int

    @classmethod
    def decode(cls, frame: WireFrame) -> RenewOk:
        return cls(_int(frame, "lease"))


@dataclass(frozen=True)
class OffOk:
    white: int
    uv: int

    @classmethod
    def decode(cls, frame: WireFrame) -> OffOk:
        return cls(_int(frame, "white"), _int(frame, "uv"))


@dataclass(frozen=True)
class TestOk:
    __test__ = False  # a protocol message, not a pytest class

    name: str
    passed: bool
    detail: str

    @classmethod
    def decode(cls, frame: WireFrame) -> TestOk:
        result = _field(frame, "result")
        if result not in ("pass", "fail"):
            raise MessageError(f"R{frame.seq} TEST: result={result!r} is not pass|fail")
        return cls(_field(frame, "name"), result == "pass", _words(frame.args.get("detail", "")))


# --------------------------------------------------------------------- §6 commands
R = TypeVar("R")


@dataclass(frozen=True)
class Command(Generic[R]):
    """A host command: its verb, its arguments, and how to read its OK reply."""

    VERB: ClassVar[str]

    def args(self) -> dict[str, str]:
        return {}

    def frame(self, seq: int) -> WireFrame:
        return WireFrame("C", seq, self.VERB, self.args())

    def decode_ok(self, frame: WireFrame) -> R:
        raise NotImplementedError

    def decode_reply(self, frame: WireFrame) -> R | Nak:
        """The typed reply (OK or NAK) to this command; MessageError if it is neither."""
        if frame.kind != "R":
            raise MessageError(f"{frame.kind}{frame.seq} {frame.verb} is not a reply")
        if frame.verb == "NAK":
            return Nak.decode(frame)
        if frame.verb != "OK":
            raise MessageError(f"R{frame.seq}: reply verb {frame.verb!r} is neither OK nor NAK")
        return self.decode_ok(frame)


@dataclass(frozen=True)
class Hello(Command[HelloOk]):
    VERB: ClassVar[str] = "HELLO"
    host: str
    proto: ProtocolVersion = PROTOCOL_VERSION

    def args(self) -> dict[str, str]:
        return {"proto": str(self.proto), "host": self.host}

    def decode_ok(self, frame: WireFrame) -> HelloOk:
        return HelloOk.decode(frame)


@dataclass(frozen=True)
class Ping(Command[PingOk]):
    VERB: ClassVar[str] = "PING"

    def decode_ok(self, frame: WireFrame) -> PingOk:
        return PingOk.decode(frame)


@dataclass(frozen=True)
class Status(Command[StatusOk]):
    VERB: ClassVar[str] = "STATUS"

    def decode_ok(self, frame: WireFrame) -> StatusOk:
        return StatusOk.decode(frame)


@dataclass(frozen=True)
class Lamp(Command[LampOk]):
    """Absolute levels 0..100; any level > 0 needs a lease in 100..``lease_max`` ms."""

    VERB: ClassVar[str] = "LAMP"
    white: int
    uv: int
    lease_ms: int

    def args(self) -> dict[str, str]:
        return {"white": str(self.white), "uv": str(self.uv), "lease": str(self.lease_ms)}

    def decode_ok(self, frame: WireFrame) -> LampOk:
        return LampOk.decode(frame)


@dataclass(frozen=True)
class Renew(Command[RenewOk]):
    VERB: ClassVar[str] = "RENEW"
    lease_ms: int

    def args(self) -> dict[str, str]:
        return {"lease": str(self.lease_ms)}

    def decode_ok(self, frame: WireFrame) -> RenewOk:
        return RenewOk.decode(frame)


@dataclass(frozen=True)
class Off(Command[OffOk]):
    VERB: ClassVar[str] = "OFF"

    def decode_ok(self, frame: WireFrame) -> OffOk:
        return OffOk.decode(frame)


@dataclass(frozen=True)
class Test(Command[TestOk]):
    __test__ = False  # a protocol message, not a pytest class

    VERB: ClassVar[str] = "TEST"
    name: SelfTestName

    def args(self) -> dict[str, str]:
        return {"name": str(self.name)}

    def decode_ok(self, frame: WireFrame) -> TestOk:
        return TestOk.decode(frame)


# --------------------------------------------------------------------- §9 events
@dataclass(frozen=True)
class Event:
    """An unsolicited controller event; ``counter`` is the controller's event number."""

    counter: int


@dataclass(frozen=True)
class BootEvent(Event):
    boot: str
    fw: str
    proto: str


@dataclass(frozen=True)
class LidEvent(Event):
    state: LidState


@dataclass(frozen=True)
class ItemEvent(Event):
    present: bool


class LampFaultCode(enum.StrEnum):
    NOSTRIKE = "nostrike"
    LOW = "low"


@dataclass(frozen=True)
class LampFaultEvent(Event):
    lamp: LampName
    code: LampFaultCode
    ma: int | None


class WatchdogReason(enum.StrEnum):
    LEASE = "lease"
    SILENCE = "silence"
    LID = "lid"
    RESET = "reset"


@dataclass(frozen=True)
class WatchdogEvent(Event):
    """The controller switched every lamp off on its own."""

    reason: WatchdogReason


@dataclass(frozen=True)
class OtherEvent(Event):
    """An event a later minor version added: kept, not understood."""

    verb: str
    args: dict[str, str] = field(default_factory=dict)


def decode_event(frame: WireFrame) -> Event:
    """The typed event in an ``E<n>`` frame; unknown verbs become ``OtherEvent``."""
    if frame.kind != "E":
        raise MessageError(f"{frame.kind}{frame.seq} {frame.verb} is not an event")
    n = frame.seq
    if frame.verb == "BOOT":
        return BootEvent(
            n, _field(frame, "boot"), frame.args.get("fw", ""), frame.args.get("proto", "")
        )
    if frame.verb == "LID":
        return LidEvent(n, _enum(frame, "state", LidState))
    if frame.verb == "ITEM":
        return ItemEvent(n, _flag(frame, "present"))
    if frame.verb == "LAMPFAULT":
        ma = frame.args.get("ma")
        return LampFaultEvent(
            n,
            _enum(frame, "lamp", LampName),
            _enum(frame, "code", LampFaultCode),
            int(ma) if ma is not None and ma.isdigit() else None,
        )
    if frame.verb == "WATCHDOG":
        return WatchdogEvent(n, _enum(frame, "reason", WatchdogReason))
    return OtherEvent(n, frame.verb, dict(frame.args))


def event_gap(last: int, counter: int) -> int:
    """Events missed between counter ``last`` and ``counter`` (the counter wraps to 1)."""
    return (counter - last - 1) % SEQ_MAX
