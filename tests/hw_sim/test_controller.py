"""Simulated firmware behaviour against docs/protocol.md, with a manual clock."""

from __future__ import annotations

from hw_sim.controller import crc_ccitt_false
from station.devices.codec import WireFrame, encode
from tests.helpers.controller_host import FirmwareHost


def test_independent_crc_agrees_on_check_value() -> None:
    assert crc_ccitt_false(b"123456789") == 0x29B1


def test_boot_emits_banner_and_boot_event() -> None:
    h = FirmwareHost()
    assert [e.verb for e in h.events] == ["BOOT"]
    assert h.events[0].args["boot"] == h.fw.boot_id


def test_hello_reports_identity() -> None:
    h = FirmwareHost()
    r = h.hello()
    assert r.verb == "OK"
    assert r.args["proto"] == "1.0" and r.args["boot"] == h.fw.boot_id
    assert "uv" in r.args["caps"].split(",")


def test_lamp_needs_hello_first() -> None:
    h = FirmwareHost()
    r = h.send("LAMP", white="50", uv="0", lease="800")
    assert (r.verb, r.args["code"]) == ("NAK", "NOHELLO")
    assert h.world.drive("white") == 0


def test_lamp_sets_absolute_levels_and_status_reports_currents() -> None:
    h = FirmwareHost()
    h.hello()
    assert h.send("LAMP", white="40", uv="100", lease="800").verb == "OK"
    st = h.send("STATUS").args
    assert (st["white"], st["uv"], st["iw"], st["iu"]) == ("40", "100", "140", "500")
    assert st["lid"] == "closed" and st["fault"] == "00"
    # absolute: sending the same again leaves the same state (no toggle)
    h.send("LAMP", white="40", uv="100", lease="800")
    assert h.send("STATUS").args["uv"] == "100"


def test_uv_refused_while_lid_open_but_white_allowed() -> None:
    h = FirmwareHost()
    h.hello()
    h.world.open_lid()
    r = h.send("LAMP", white="0", uv="10", lease="800")
    assert (r.verb, r.args["code"]) == ("NAK", "INTERLOCK")
    assert h.world.drive("uv") == 0
    assert h.send("LAMP", white="60", uv="0", lease="800").verb == "OK"


def test_lid_opening_switches_everything_off_with_events() -> None:
    h = FirmwareHost()
    h.hello()
    h.send("LAMP", white="30", uv="100", lease="2000")
    h.world.open_lid()
    h.drain()
    assert h.world.drive("uv") == 0 and h.world.drive("white") == 0
    names = [(e.verb, e.args) for e in h.events]
    assert ("WATCHDOG", {"reason": "lid"}) in names
    assert ("LID", {"state": "open"}) in names
    assert int(h.send("STATUS").args["fault"], 16) & 0x40


def test_lease_expiry_switches_off() -> None:
    h = FirmwareHost()
    h.hello()
    h.send("LAMP", white="0", uv="100", lease="300")
    h.advance(0.25)
    assert h.world.drive("uv") == 100
    h.advance(0.1)
    assert h.world.drive("uv") == 0
    assert any(e.verb == "WATCHDOG" and e.args["reason"] == "lease" for e in h.events)


def test_renew_extends_lease() -> None:
    h = FirmwareHost()
    h.hello()
    h.send("LAMP", white="10", uv="0", lease="300")
    for _ in range(5):
        h.advance(0.2)
        assert h.send("RENEW", lease="300").args["lease"] == "300"
    assert h.world.drive("white") == 10


def test_silence_watchdog_beats_a_long_lease() -> None:
    h = FirmwareHost()
    h.hello()
    h.send("LAMP", white="10", uv="0", lease="5000")
    h.advance(0.95)
    assert h.world.drive("white") == 10
    h.advance(0.1)
    assert h.world.drive("white") == 0
    assert any(e.args.get("reason") == "silence" for e in h.events)


def test_garbage_does_not_count_as_a_valid_frame_for_the_watchdog() -> None:
    h = FirmwareHost()
    h.hello()
    h.send("LAMP", white="10", uv="0", lease="5000")
    for _ in range(12):
        h.advance(0.1)
        h.raw(b"\x00garbage$C9 PING*0000\r\n")
    assert h.world.drive("white") == 0


def test_duplicate_is_replayed_not_executed() -> None:
    h = FirmwareHost()
    h.hello()
    first = h.send("LAMP", white="20", uv="0", lease="800", seq=5)
    executed = h.fw.commands_executed
    again = h.send("LAMP", white="20", uv="0", lease="800", seq=5)
    assert again == first
    assert h.fw.commands_executed == executed and h.fw.duplicates_replayed == 1
    # same number, different body: a new command
    assert h.send("LAMP", white="30", uv="0", lease="800", seq=5).args["white"] == "30"


def test_hello_clears_duplicate_cache() -> None:
    h = FirmwareHost()
    h.hello()
    h.send("LAMP", white="20", uv="0", lease="800", seq=2)
    h.send("OFF", seq=3)
    h.send("HELLO", seq=1, proto="1.0", host="again")
    h.send("LAMP", white="20", uv="0", lease="800", seq=2)
    assert h.world.drive("white") == 20


def test_corrupted_command_gets_nak_crc_and_no_effect() -> None:
    h = FirmwareHost()
    h.hello()
    wire = bytearray(encode(WireFrame("C", 7, "LAMP", {"white": "90", "uv": "0", "lease": "800"})))
    wire[12] ^= 0x01
    (r,) = h.raw(bytes(wire))
    assert (r.seq, r.verb, r.args["code"]) == (7, "NAK", "CRC")
    assert h.world.drive("white") == 0


def test_reset_requires_new_hello_and_changes_boot_id() -> None:
    h = FirmwareHost()
    h.hello()
    h.send("LAMP", white="20", uv="20", lease="800")
    old = h.fw.boot_id
    h.fw.boot()
    h.drain()
    assert h.fw.boot_id != old and h.world.drive("uv") == 0
    assert h.send("LAMP", white="20", uv="0", lease="800").args["code"] == "NOHELLO"


def test_lamp_that_fails_to_strike_is_reported() -> None:
    h = FirmwareHost()
    h.world.set_health("uv", strikes=False)
    h.hello()
    h.send("LAMP", white="0", uv="100", lease="800")
    st = h.send("STATUS").args
    assert st["iu"] == "0" and int(st["fault"], 16) & 0x02
    assert any(e.verb == "LAMPFAULT" and e.args["code"] == "nostrike" for e in h.events)


def test_range_and_unknown_are_refused() -> None:
    h = FirmwareHost()
    h.hello()
    assert h.send("LAMP", white="101", uv="0", lease="800").args["code"] == "RANGE"
    assert h.send("LAMP", white="1", uv="0", lease="99999").args["code"] == "RANGE"
    assert h.send("BLINK").args["code"] == "UNKNOWN"
