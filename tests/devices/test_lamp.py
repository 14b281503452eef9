"""LampController over a real pseudo-terminal with pyserial, against the simulated board."""

from __future__ import annotations

import queue
import time

import pytest
import serial

from hw_sim.runner import SimStation
from station.devices.lamp import LampController
from station.errors import InputError, InterlockOpen, LinkError, LinkTimeout
from station.settings import DeviceSettings

pytestmark = pytest.mark.controllers


def wait_for(predicate, timeout: float = 2.0) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_handshake_info(lamp: LampController, sim: SimStation) -> None:
    info = lamp.info
    assert info.protocol == "1.0" and info.boot_id == sim.controller.boot_id
    assert info.board_serial == "LC-000042" and "uv" in info.capabilities
    assert info.nominal_current_ma == {"white": 350, "uv": 500}
    assert info.as_dict()["firmware"] == sim.controller.firmware != ""


def test_set_lamps_and_status(lamp: LampController, sim: SimStation) -> None:
    acked = lamp.set_lamps(30, 100)
    assert acked <= time.monotonic()
    assert sim.world.drive("white") == 30 and sim.world.drive("uv") == 100
    st = lamp.status()
    assert st.lid_closed and st.item_present
    # the firmware measures through a 10-bit ADC: within a few of its 1 mA steps
    assert st.lamps["uv"].level == 100 and abs(st.lamps["uv"].current_ma - 500) <= 3
    assert st.as_dict()["lamps"]["white"]["level"] == 30
    lamp.all_off()
    assert sim.world.drive("uv") == 0


def test_lease_is_renewed_in_background(lamp: LampController, sim: SimStation) -> None:
    lamp.set_lamps(0, 100, lease_ms=600)
    time.sleep(1.5)  # more than two leases and longer than the 1 s silence watchdog
    assert sim.world.drive("uv") == 100
    assert lamp.confirm_lamps().lamps["uv"].level == 100


def test_lamps_go_off_within_lease_when_host_stops_renewing(
    lamp: LampController, sim: SimStation
) -> None:
    with lamp.renewal_suspended():
        lamp.set_lamps(50, 0, lease_ms=200)
        assert wait_for(lambda: sim.world.drive("white") == 0, 0.9)
        assert "lease_expired" in lamp.status().faults


def test_uv_refused_with_lid_open(lamp: LampController, sim: SimStation) -> None:
    sim.world.open_lid()
    with pytest.raises(InterlockOpen, match="lid is open"):
        lamp.set_lamps(0, 100)
    assert sim.world.drive("uv") == 0


def test_lid_opening_mid_check_is_reported(lamp: LampController, sim: SimStation) -> None:
    lamp.set_lamps(0, 100)
    sim.world.open_lid()
    assert wait_for(lambda: lamp.lamps_requested == (0, 0))
    assert sim.world.drive("uv") == 0
    with pytest.raises(InterlockOpen, match="lid was opened"):
        lamp.confirm_lamps()


def test_events_arrive(lamp: LampController, sim: SimStation) -> None:
    seen = []
    lamp.add_event_listener(seen.append)
    sim.world.remove_item()
    event = lamp.events.get(timeout=2.0)
    while event.name != "ITEM":
        event = lamp.events.get(timeout=2.0)
    assert event.args == {"present": "0"}
    assert wait_for(lambda: any(e.name == "ITEM" for e in seen))


def test_bad_levels_are_refused_before_sending(lamp: LampController) -> None:
    sent = lamp.link_stats().frames_sent
    with pytest.raises(InputError, match="uv lamp level"):
        lamp.set_lamps(0, 101)
    assert lamp.link_stats().frames_sent == sent


def test_link_stats(lamp: LampController) -> None:
    for _ in range(5):
        lamp.ping()
    stats = lamp.link_stats()
    assert stats.frames_sent >= 6 and stats.frames_received >= 6
    assert stats.rtt_ms is not None and stats.rtt_ms > 0
    assert stats.last_received_age_s is not None and stats.last_received_age_s < 1
    assert set(stats.as_dict()) >= {"crc_errors", "retries", "rtt_ms", "last_received_age_s"}


def test_port_is_opened_exclusively(lamp: LampController, sim: SimStation) -> None:
    with pytest.raises(serial.SerialException):
        serial.serial_for_url(sim.serial_port, exclusive=True)


def test_nothing_listening_is_a_link_timeout(tmp_path: object) -> None:
    import os

    master, slave = os.openpty()
    try:
        settings = DeviceSettings(reply_timeout_s=0.05, retries=1)
        with pytest.raises(LinkTimeout, match="did not answer HELLO after 2 attempts"):
            LampController.connect(os.ttyname(slave), settings)
    finally:
        os.close(master)
        os.close(slave)


def test_missing_port_is_named(dev_settings: DeviceSettings) -> None:
    with pytest.raises(LinkError, match="/dev/does-not-exist"):
        LampController.connect("/dev/does-not-exist", dev_settings)


def test_close_switches_lamps_off(sim: SimStation, dev_settings: DeviceSettings) -> None:
    ctl = LampController.connect(sim.serial_port, dev_settings)
    ctl.set_lamps(20, 20)
    ctl.close()
    assert sim.world.drive("white") == 0 and sim.world.drive("uv") == 0


def test_events_queue_is_a_queue(lamp: LampController) -> None:
    assert isinstance(lamp.events, queue.Queue)


def test_confirm_covers_the_time_since_the_last_set_lamps(
    lamp: LampController, sim: SimStation
) -> None:
    lamp.set_lamps(0, 100)
    sim.world.open_lid()
    assert wait_for(lambda: not lamp.lamps_on)
    with pytest.raises(InterlockOpen):
        lamp.confirm_lamps()
    sim.world.close_lid()
    # a real lid switch is debounced: wait for the controller to report it closed
    while (event := lamp.events.get(timeout=5)).name != "LID" or event.args["state"] != "closed":
        pass
    lamp.set_lamps(0, 0)  # the next shot of a new check: the old trip is not its problem
    assert lamp.confirm_lamps().lid_closed
    lamp.set_lamps(0, 100)
    assert lamp.confirm_lamps().lamps["uv"].level == 100
