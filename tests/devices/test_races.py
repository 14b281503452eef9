"""Events that race a command's reply are neither lost nor miscounted.

Driven through the simulator's fault plan by frame number (``after_reply`` sends a reply and
the events it causes in one write; ``reset`` reboots the board before a given host frame), so
the interleaving is the same on every run, however loaded the machine is.
"""

from __future__ import annotations

import logging

import pytest

from hw_sim.runner import SimStation
from station.devices.lamp import LampController, SessionState
from station.errors import ControllerReset, InterlockOpen, LampFault
from station.settings import DeviceSettings

SETTINGS = DeviceSettings(reply_timeout_s=0.1, retries=4, lease_ms=600)


def test_lid_opened_right_after_the_lamp_reply_is_an_interlock_trip() -> None:
    # host frame 1 is HELLO, 2 the LAMP command; the lid opens as soon as it is answered
    with (
        SimStation("demo", ["after_reply:at=2,do=open_lid"]) as sim,
        LampController.connect(sim.serial_port, SETTINGS) as ctl,
    ):
        ctl.set_lamps(60, 0)
        with pytest.raises(InterlockOpen, match="lid was opened"):
            ctl.confirm_lamps()
        assert ctl.lamps_requested == (0, 0) and not ctl.lamps_on
        assert sim.world.drive("white") == 0


def test_watchdog_right_after_the_lamp_reply_is_reported_as_the_cut() -> None:
    with (
        SimStation("demo", ["after_reply:at=2,do=lease"]) as sim,
        LampController.connect(sim.serial_port, SETTINGS) as ctl,
    ):
        ctl.set_lamps(60, 0)
        with pytest.raises(LampFault, match=r"switched the lamps off \(watchdog: lease\)"):
            ctl.confirm_lamps()
        assert ctl.lamps_requested == (0, 0)
        assert sim.world.drive("white") == 0


def test_a_second_reset_during_the_rehandshake_is_logged_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # frame 2 PING; the board reboots before frame 3 (STATUS) and again before frame 4, the
    # HELLO the driver sends to re-establish the session after the first reset
    with (
        SimStation("demo", ["reset:at=3", "reset:at=4"]) as sim,
        LampController.connect(sim.serial_port, SETTINGS) as ctl,
    ):
        first = ctl.info.boot_id
        ctl.ping()
        with caplog.at_level(logging.WARNING), pytest.raises(ControllerReset):
            ctl.status()
        assert sim.controller.boot_count == 3
        assert ctl.info.boot_id == sim.controller.boot_id != first
        assert ctl.link_stats().controller_resets == 2
        detected = [r for r in caplog.records if "reset detected" in r.getMessage()]
        assert len(detected) == 2, [r.getMessage() for r in detected]
        assert ctl.session_state is SessionState.READY
        assert ctl.status().boot_id == sim.controller.boot_id  # the new session works
