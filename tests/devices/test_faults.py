"""Every injected fault ends in recovery or in a clear domain error (real pyserial over a pty)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from hw_sim.runner import SimStation
from station.devices.camera import open_camera
from station.devices.lamp import LampController
from station.errors import (
    CameraDisconnected,
    CameraError,
    CameraTimeout,
    ControllerReset,
    InterlockOpen,
    LampFault,
    LinkTimeout,
    ProtocolVersionMismatch,
)
from station.settings import DeviceSettings

pytestmark = pytest.mark.controllers

SETTINGS = DeviceSettings(reply_timeout_s=0.1, retries=4, lease_ms=600)


def wait_for(predicate: Callable[[], bool], timeout: float = 2.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def booted(ctl: LampController, boot_id: str) -> bool:
    """The host has seen the BOOT event of this boot."""
    return any(e.name == "BOOT" and e.args["boot"] == boot_id for e in list(ctl.events.queue))


def exercise(ctl: LampController, n: int = 20) -> None:
    """A burst of typical traffic: lamps on/off, status, pings."""
    for i in range(n):
        ctl.set_lamps(i % 3 * 20, 0)
        ctl.status()
        ctl.ping()
    ctl.all_off()


@pytest.mark.parametrize(
    "fault, counter",
    [
        ("drop:at=3,dir=in", "timeouts"),
        ("drop:at=3,dir=out", "timeouts"),
        ("drop:rate=0.1", "retries"),
        ("corrupt:at=4,dir=in", "naks"),
        ("corrupt:at=4,dir=out", "crc_errors"),
        ("corrupt:rate=0.1", "retries"),
        ("truncate:at=5,dir=out", "retries"),
        ("truncate:at=5,dir=in", "retries"),
        ("latency:ms=150,at=6", "late_replies"),
    ],
)
def test_link_faults_recover_with_retries(fault: str, counter: str) -> None:
    with (
        SimStation("demo", [fault], seed=3) as sim,
        LampController.connect(sim.serial_port, SETTINGS) as ctl,
    ):
        exercise(ctl)
        stats = ctl.link_stats().as_dict()
        assert stats[counter] >= 1, stats
        assert sim.world.drive("white") == 0
        assert sim.faults.fired


def test_duplicated_command_is_answered_from_cache_not_executed() -> None:
    with (
        SimStation("demo", ["duplicate:at=3,dir=in"]) as sim,
        LampController.connect(sim.serial_port, SETTINGS) as ctl,
    ):
        exercise(ctl, 3)
        fw = sim.controller
        # every frame the board accepted was either executed once or replayed from cache
        assert fw.duplicates_replayed >= 1
        assert fw.commands_executed + fw.duplicates_replayed == ctl.link_stats().frames_sent + 1
        assert ctl.link_stats().late_replies >= 1  # the replayed reply is discarded


def test_duplicated_reply_is_discarded() -> None:
    with (
        SimStation("demo", ["duplicate:at=3,dir=out"]) as sim,
        LampController.connect(sim.serial_port, SETTINGS) as ctl,
    ):
        exercise(ctl, 3)
        assert ctl.link_stats().late_replies >= 1


def test_garbage_and_banner_on_open() -> None:
    with (
        SimStation("demo", ["garbage:bytes=200"], seed=5) as sim,
        LampController.connect(sim.serial_port, SETTINGS) as ctl,
    ):
        assert sim.faults.fired.get("garbage") == 1
        assert ctl.info.boot_id == sim.controller.boot_id
        exercise(ctl, 3)


def test_bytes_trickling_one_at_a_time() -> None:
    with (
        SimStation("demo", ["trickle:ms=1"]) as sim,
        LampController.connect(sim.serial_port, DeviceSettings(reply_timeout_s=1.0)) as ctl,
    ):
        ctl.set_lamps(10, 0)
        assert ctl.status().lamps["white"].level == 10
        assert sim.faults.fired["trickle"] >= 3
        stats = ctl.link_stats()
        assert stats.bad_frames == 0 and stats.frames_received >= 3


def test_latency_just_under_the_timeout_still_works() -> None:
    settings = DeviceSettings(reply_timeout_s=0.3, retries=2)
    with (
        SimStation("demo", ["latency:ms=200"]) as sim,
        LampController.connect(sim.serial_port, settings) as ctl,
    ):
        for _ in range(3):
            ctl.ping()
        ctl.set_lamps(30, 0)
        assert ctl.confirm_lamps().lamps["white"].level == 30
        ctl.all_off()  # no renewal in flight while the counters are compared
        stats = ctl.link_stats()
        assert stats.rtt_ms is not None and stats.rtt_ms >= 190
        # any retry a loaded machine needed was answered from the cache, never re-executed
        fw = sim.controller
        assert fw.commands_executed + fw.duplicates_replayed == stats.frames_sent


def test_silent_controller_is_a_clear_link_timeout_and_lamps_go_dark() -> None:
    with (
        SimStation("demo", ["silent:from=4"]) as sim,
        LampController.connect(sim.serial_port, SETTINGS) as ctl,
    ):
        ctl.set_lamps(50, 50)
        with pytest.raises(LinkTimeout, match="did not answer STATUS after 5 attempts"):
            ctl.status()
            ctl.status()
        assert wait_for(lambda: sim.world.drive("uv") == 0 and sim.world.drive("white") == 0, 1.5)


def test_heartbeat_lost_switches_lamps_off_within_the_lease() -> None:
    with (
        SimStation("demo", ["deaf:from=3"]) as sim,
        LampController.connect(sim.serial_port, SETTINGS) as ctl,
    ):
        mark = len(sim.controller.watchdog_reasons)
        ctl.set_lamps(0, 100, lease_ms=300)
        assert wait_for(lambda: sim.world.drive("uv") == 0, 2.0)
        # switched off by the lease, not by the 1 s silence watchdog: the controller says
        # why (a reason, not a wall-clock time, so a loaded machine cannot make this flaky)
        assert sim.controller.wait_watchdog(mark, 5.0) == "lease"


def test_port_vanishing_and_reappearing_reconnects_without_reset() -> None:
    with (
        SimStation("demo", ["vanish:at=4,ms=300"]) as sim,
        LampController.connect(sim.serial_port, DeviceSettings(reply_timeout_s=0.2)) as ctl,
    ):
        boot = ctl.info.boot_id
        for _ in range(8):
            ctl.ping()
        assert sim.server.vanish_count == 1
        assert ctl.link_stats().reconnects == 1
        assert ctl.info.boot_id == boot
        ctl.set_lamps(20, 0)
        assert sim.world.drive("white") == 20


def test_controller_reset_aborts_the_operation_once() -> None:
    with (
        SimStation("demo", ["reset:at=4"]) as sim,
        LampController.connect(sim.serial_port, SETTINGS) as ctl,
    ):
        old = ctl.info.boot_id
        with ctl.renewal_suspended():  # no RENEW may take a frame number below
            ctl.set_lamps(0, 100)  # frame 2
            ctl.status()  # frame 3
            with pytest.raises(ControllerReset, match=f"boot id {old} -> "):
                ctl.confirm_lamps()  # frame 4: the board reboots first
            assert sim.world.drive("uv") == 0
            assert ctl.info.boot_id == sim.controller.boot_id != old
            ctl.set_lamps(0, 100)  # a new check works
            assert sim.world.drive("uv") == 100


def test_reset_while_idle_is_reported_on_the_next_check() -> None:
    with (
        SimStation("demo") as sim,
        LampController.connect(sim.serial_port, SETTINGS) as ctl,
    ):
        sim.controller.boot()
        assert wait_for(lambda: booted(ctl, sim.controller.boot_id))
        with pytest.raises(ControllerReset):
            ctl.set_lamps(10, 0)
        assert sim.world.drive("white") == 0


def test_version_mismatch_names_both_versions_and_the_fix() -> None:
    with SimStation("demo", ["version:proto=2.3"]) as sim:
        with pytest.raises(ProtocolVersionMismatch) as err:
            LampController.connect(sim.serial_port, SETTINGS)
        msg = str(err.value)
        # the Python controller speaks what the fault asks; the firmware build speaks 2.0
        assert sim.controller.proto.startswith("2.") and sim.controller.proto in msg
        assert "1.0" in msg and "update the station software" in msg


def test_lid_opened_during_uv() -> None:
    with (
        SimStation("demo", ["lid_during_uv:frames=1"]) as sim,
        LampController.connect(sim.serial_port, SETTINGS) as ctl,
    ):
        ctl.set_lamps(0, 100)
        with pytest.raises(InterlockOpen):
            ctl.confirm_lamps()
        assert sim.world.lid_open and sim.world.drive("uv") == 0
        with pytest.raises(InterlockOpen):
            ctl.set_lamps(0, 100)


@pytest.mark.parametrize(
    "fault, word", [("nostrike:lamp=uv", "nostrike"), ("dim:lamp=uv,factor=0.3", "low")]
)
def test_lamp_faults_are_reported(fault: str, word: str) -> None:
    with (
        SimStation("demo", [fault]) as sim,
        LampController.connect(sim.serial_port, SETTINGS) as ctl,
    ):
        ctl.set_lamps(0, 100)
        with pytest.raises(LampFault, match=word):
            ctl.confirm_lamps()
        assert any(e.name == "LAMPFAULT" for e in list(ctl.events.queue))


def test_stuck_item_sensor_reports_an_item_on_an_empty_tray() -> None:
    with (
        SimStation("empty", ["stuck:sensor=item,value=1"]) as sim,
        LampController.connect(sim.serial_port, SETTINGS) as ctl,
    ):
        assert sim.world.item is None
        assert ctl.status().item_present


def test_stuck_lid_switch_fails_the_interlock_self_test() -> None:
    with (
        SimStation("demo", ["stuck:sensor=lid,value=closed"]) as sim,
        LampController.connect(sim.serial_port, SETTINGS) as ctl,
    ):
        passed, detail = ctl.self_test("interlock")
        assert not passed and "does not respond" in detail


@pytest.mark.parametrize(
    "fault, error, word",
    [
        ("cam_timeout:at=1", CameraTimeout, "timed out"),
        ("cam_black:at=1", CameraError, "black"),
        ("cam_overexposed:at=1", CameraError, "saturated"),
        ("cam_disconnect:at=1", CameraDisconnected, "disconnected"),
    ],
)
def test_camera_faults_are_clear_errors(fault: str, error: type[Exception], word: str) -> None:
    with SimStation("demo", [fault]) as sim:
        cam = open_camera(sim.camera_source, SETTINGS, sim.camera)
        with pytest.raises(error, match=word):
            # only the time-out fault waits out its time-out; the others answer at once, so
            # their time-out is a generous safety net for a loaded machine
            cam.capture(time.monotonic(), 10, 1.0, timeout_s=0.3 if "timeout" in fault else 5.0)


def test_camera_recovers_after_a_single_bad_frame() -> None:
    with SimStation("demo", ["cam_black:at=1"]) as sim:
        cam = open_camera(sim.camera_source, SETTINGS, sim.camera)
        with pytest.raises(CameraError):
            cam.capture(time.monotonic(), 10, 1.0)
        assert cam.capture(time.monotonic(), 10, 1.0).image.max() > 0


def test_stale_frames_are_never_returned() -> None:
    with SimStation("demo", ["cam_stale:from=2"]) as sim:
        cam = open_camera(sim.camera_source, SETTINGS, sim.camera)
        first = cam.capture(time.monotonic(), 10, 1.0)
        with pytest.raises(CameraTimeout, match="stale"):
            cam.capture(first.timestamp + 0.05, 10, 1.0, timeout_s=0.3)


def test_check_session_absorbs_a_reset_while_idle_but_not_during_the_check() -> None:
    with (
        SimStation("demo") as sim,
        LampController.connect(sim.serial_port, SETTINGS) as ctl,
    ):
        sim.controller.boot()  # idle reset, between checks
        assert wait_for(lambda: booted(ctl, sim.controller.boot_id))
        with ctl.check_session():
            ctl.set_lamps(0, 100)  # not aborted: the reset came before this check
            assert sim.world.drive("uv") == 100
            sim.controller.boot()  # reset during the check
            with pytest.raises(ControllerReset):
                ctl.confirm_lamps()
        assert sim.world.drive("uv") == 0
        stats = ctl.link_stats()
        assert stats.controller_resets == 2


def test_brief_silence_is_ridden_out_by_retries() -> None:
    with (
        SimStation("demo", ["silent:from=4,count=3"]) as sim,
        LampController.connect(sim.serial_port, SETTINGS) as ctl,
    ):
        for _ in range(6):
            ctl.ping()
        stats = ctl.link_stats()
        assert stats.timeouts >= 3 and stats.retries >= 3
        assert sim.faults.fired["silent"] == 3
