"""The hwsim:// pyserial URL handler: the station's real transport without a kernel pty."""

from __future__ import annotations

import time

import pytest
import serial

from hw_sim.runner import SimStation
from hw_sim.urlhandler import register
from station.devices.lamp import LampController
from station.errors import LinkError
from station.settings import DeviceSettings

pytestmark = pytest.mark.controllers

SETTINGS = DeviceSettings(reply_timeout_s=0.1, retries=4, lease_ms=600)


def test_lamp_controller_over_hwsim_url() -> None:
    with SimStation("demo", port="memory") as sim:
        assert sim.serial_port.startswith("hwsim://")
        with LampController.connect(sim.serial_port, SETTINGS) as ctl:
            assert ctl.info.boot_id == sim.controller.boot_id
            ctl.set_lamps(10, 90)
            assert sim.world.drive("uv") == 90
            assert ctl.status().lamps["white"].level == 10


def test_pyserial_semantics_read_timeout_and_exclusive() -> None:
    register()
    with SimStation("demo", port="memory") as sim:
        port = serial.serial_for_url(sim.serial_port, timeout=0.05)
        try:
            time.sleep(0.05)  # let the boot banner arrive, then discard it
            port.reset_input_buffer()
            assert port.read(10) == b""  # nothing more: times out empty
            port.write(b"$C1 PING*76DF\r\n")
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = port.read(1)
                assert chunk, "no reply"
                reply += chunk
            assert reply.startswith(b"$R1 OK up=")
            with pytest.raises(serial.SerialException, match="busy"):
                serial.serial_for_url(sim.serial_port)
        finally:
            port.close()


def test_unknown_sim_name_is_named() -> None:
    with pytest.raises(LinkError, match="hwsim://nope"):
        LampController.connect("hwsim://nope", SETTINGS)


@pytest.mark.parametrize("fault", ["corrupt:rate=0.1", "drop:rate=0.1", "vanish:at=5,ms=200"])
def test_faults_over_the_memory_port(fault: str) -> None:
    with (
        SimStation("demo", [fault], seed=2, port="memory") as sim,
        LampController.connect(sim.serial_port, SETTINGS) as ctl,
    ):
        for i in range(15):
            ctl.set_lamps(i % 2 * 50, 0)
            ctl.ping()
        ctl.all_off()
        assert sim.world.drive("white") == 0
        assert sum(sim.faults.fired.values()) >= 1
