"""The typed message layer against docs/protocol.md: each known-good frame of §11 reads as its
message, each command writes the frame the spec shows, and the tables of §6, §8 and §9 match."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from station.devices.codec import FrameDecoder, WireFrame, encode
from station.devices.protocol import (
    PROTOCOL_VERSION,
    BootEvent,
    FaultBits,
    Hello,
    HelloOk,
    Lamp,
    LampFaultCode,
    LampFaultEvent,
    LampName,
    LampOk,
    LidEvent,
    LidState,
    MessageError,
    Nak,
    NakCode,
    Off,
    OtherEvent,
    Ping,
    ProtocolVersion,
    Renew,
    SelfTestName,
    Status,
    StatusOk,
    Test,
    WatchdogEvent,
    WatchdogReason,
    attempt_timeout_s,
    backoff_s,
    decode_event,
    event_gap,
    next_seq,
)

SPEC = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()


def spec_frame(prefix: str) -> WireFrame:
    """The §11 known-good frame that starts with ``prefix``, decoded by the codec."""
    block = SPEC.split("## 11. Known-good frames", 1)[1].split("```", 2)[1]
    line = next(x for x in block.splitlines() if x.startswith(prefix))
    (frame,) = FrameDecoder().feed(line.encode() + b"\r\n")
    assert isinstance(frame, WireFrame)
    return frame


def spec_section(number: int) -> str:
    return SPEC.split(f"## {number}.", 1)[1].split("\n## ", 1)[0]


@pytest.mark.parametrize(
    "command, prefix",
    [
        (Hello("station-1"), "$C1 HELLO"),
        (Lamp(white=0, uv=100, lease_ms=800), "$C2 LAMP"),
        (Status(), "$C3 STATUS"),
        (Renew(800), "$C4 RENEW"),
        (Off(), "$C5 OFF"),
        (Ping(), "$C6 PING"),
    ],
)
def test_commands_write_the_spec_frames(command: object, prefix: str) -> None:
    expected = spec_frame(prefix)
    assert isinstance(command, Hello | Lamp | Status | Renew | Off | Ping)
    assert encode(command.frame(expected.seq)) == encode(expected)


def test_hello_reply_reads_as_the_controller_info() -> None:
    ok = Hello("station-1").decode_reply(spec_frame("$R1 OK"))
    assert isinstance(ok, HelloOk)
    assert ok.proto == PROTOCOL_VERSION and ok.fw == "1.4.2" and ok.board == "LC-000042"
    assert ok.boot == "5EED0001" and ok.caps == ("white", "uv", "lid", "item", "current")
    assert (ok.lease_max_ms, ok.iw_nom_ma, ok.iu_nom_ma) == (5000, 350, 500)


def test_lamp_replies_ok_and_nak() -> None:
    cmd = Lamp(0, 100, 800)
    assert cmd.decode_reply(spec_frame("$R2 OK")) == LampOk(0, 100, 800)
    nak = cmd.decode_reply(spec_frame("$R2 NAK"))
    assert nak == Nak(NakCode.INTERLOCK, "INTERLOCK", "")


def test_status_reply_fields() -> None:
    st = Status().decode_reply(spec_frame("$R3 OK"))
    assert isinstance(st, StatusOk)
    assert st.lid is LidState.CLOSED and st.item and (st.white, st.uv) == (0, 100)
    assert (st.iw_ma, st.iu_ma, st.up_ms, st.evt, st.lease_ms) == (0, 498, 15320, 4, 640)
    assert st.fault == FaultBits(0) and st.boot == "5EED0001"


def test_spec_events_read_as_typed_events() -> None:
    assert decode_event(spec_frame("$E5 LID")) == LidEvent(5, LidState.OPEN)
    assert decode_event(spec_frame("$E6 WATCHDOG")) == WatchdogEvent(6, WatchdogReason.LEASE)
    assert decode_event(spec_frame("$E1 BOOT")) == BootEvent(1, "5EED0002", "1.4.2", "")


def test_lamp_fault_and_unknown_events() -> None:
    frame = WireFrame("E", 9, "LAMPFAULT", {"lamp": "uv", "code": "nostrike", "ma": "3"})
    assert decode_event(frame) == LampFaultEvent(9, LampName.UV, LampFaultCode.NOSTRIKE, 3)
    later = decode_event(WireFrame("E", 10, "TEMP", {"c": "41"}))
    assert later == OtherEvent(10, "TEMP", {"c": "41"})


def test_nak_codes_match_section_6() -> None:
    listed = set(re.findall(r"`([A-Z]+)`\s+\(", spec_section(6).split("NAK codes:", 1)[1]))
    assert listed == {c.value for c in NakCode}
    odd = Ping().decode_reply(WireFrame("R", 4, "NAK", {"code": "BUSY", "msg": "try_later"}))
    assert odd == Nak(None, "BUSY", "try later")
    version = Hello("h").decode_reply(WireFrame("R", 1, "NAK", {"code": "VERSION", "proto": "2.0"}))
    assert version == Nak(NakCode.VERSION, "VERSION", "", "2.0")


def test_fault_bits_match_section_8() -> None:
    rows = re.findall(r"^\| 0x([0-9A-F]{2}) \| (.+?) \|", spec_section(8), re.M)
    assert [int(bit, 16) for bit, _ in rows] == [b.value for b in FaultBits]
    bits = FaultBits.parse("6a")
    assert bits.names == ("uv_nostrike", "uv_low_current", "lease_expired", "interlock_trip")
    assert bits.lamp_fault(LampName.UV) == "nostrike"  # no strike outranks low current
    assert bits.lamp_fault(LampName.WHITE) is None
    assert FaultBits.parse("24").lamp_fault(LampName.WHITE) == "low_current"
    with pytest.raises(MessageError, match="two hex digits"):
        FaultBits.parse("4")


def test_event_verbs_match_section_9() -> None:
    verbs = set(re.findall(r"^\| `([A-Z]+)` \|", spec_section(9), re.M))
    assert verbs == {"BOOT", "LID", "ITEM", "LAMPFAULT", "WATCHDOG"}
    for verb, args in [
        ("BOOT", {"boot": "1", "fw": "1", "proto": "1.0"}),
        ("LID", {"state": "closed"}),
        ("ITEM", {"present": "1"}),
        ("LAMPFAULT", {"lamp": "white", "code": "low", "ma": "100"}),
        ("WATCHDOG", {"reason": "silence"}),
    ]:
        assert not isinstance(decode_event(WireFrame("E", 1, verb, args)), OtherEvent)


def test_command_verbs_match_section_6() -> None:
    verbs = set(re.findall(r"^\| `([A-Z]+)` \|", spec_section(6), re.M))
    commands = {
        Hello("h"),
        Ping(),
        Status(),
        Lamp(0, 0, 0),
        Renew(1),
        Off(),
        Test(SelfTestName.WATCHDOG),
    }
    assert verbs == {c.VERB for c in commands}
    assert {t.value for t in SelfTestName} == {"interlock", "watchdog"}


@pytest.mark.parametrize(
    "frame, fragment",
    [
        (WireFrame("R", 3, "OK", {"lid": "ajar"}), "lid='ajar' is not open|closed"),
        (WireFrame("R", 3, "OK", {}), "missing field 'lid'"),
        (WireFrame("R", 3, "MAYBE", {}), "neither OK nor NAK"),
        (WireFrame("E", 3, "OK", {}), "is not a reply"),
    ],
)
def test_unreadable_replies_name_the_problem(frame: WireFrame, fragment: str) -> None:
    with pytest.raises(MessageError, match=re.escape(fragment)):
        Status().decode_reply(frame)


def test_versions_compare_by_major() -> None:
    assert ProtocolVersion.parse("1.7").compatible_with(PROTOCOL_VERSION)
    assert not ProtocolVersion.parse("2.0").compatible_with(PROTOCOL_VERSION)
    assert str(PROTOCOL_VERSION) == "1.0"
    with pytest.raises(MessageError, match=r"major\.minor"):
        ProtocolVersion.parse("1")


def test_retry_timing_and_sequence_rules_of_section_5() -> None:
    assert [round(backoff_s(n), 3) for n in range(1, 6)] == [0.02, 0.04, 0.08, 0.16, 0.2]
    assert [attempt_timeout_s(0.25, n) for n in range(3)] == [0.25, 0.375, 0.5]
    assert next_seq(0) == 1 and next_seq(41) == 42 and next_seq(65535) == 1
    assert event_gap(4, 5) == 0 and event_gap(4, 7) == 2 and event_gap(65535, 1) == 0
