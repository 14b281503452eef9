"""station.wiring is where the station meets the simulator; the device layer never imports it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from station.devices.factory import open_devices
from station.errors import InterlockOpen
from station.settings import DeviceSettings, StationSettings
from station.wiring import SimHandle, start_simulator

ROOT = Path(__file__).resolve().parents[2]


def settings() -> StationSettings:
    return StationSettings(devices=DeviceSettings(reply_timeout_s=0.1, retries=3))


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_device_layer_imports_nothing_of_the_simulator() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            m for m in imported_modules(path) if m.startswith("hw_sim")
        )
        for path in (ROOT / "station" / "devices").rglob("*.py")
    }
    assert not {k: v for k, v in offenders.items() if v}


def test_importing_the_devices_and_wiring_loads_no_simulator_module() -> None:
    code = (
        "import sys, station.devices.factory, station.devices.link, station.devices.protocol, "
        "station.wiring; print(sorted(m for m in sys.modules if m.split('.')[0] == 'hw_sim'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("port", ["pty", "memory"])
def test_start_simulator_hands_over_a_port_and_a_camera(port: str) -> None:
    s = settings()
    with start_simulator(s, port=port) as sim, open_devices(s, sim) as devices:
        assert isinstance(sim, SimHandle)
        assert devices.lamp.port == sim.port_url
        assert devices.camera is sim.camera
        acked = devices.lamp.set_lamps(0, 100)
        assert sim.world.drive("uv") == 100
        frame = devices.camera.capture(acked + 0.06, 40, 1.0)
        assert frame.metadata["source"] == "sim" and frame.metadata["lighting"]["uv"] > 0.9


def test_start_simulator_applies_the_settings_faults_then_the_given_ones() -> None:
    s = settings()
    s.sim_faults = ["after_reply:at=2,do=open_lid"]
    with start_simulator(s, faults=["stuck:sensor=item,value=1"], scenario="empty") as sim:
        assert [f.kind for f in sim.faults.faults] == ["after_reply", "stuck"]
        assert sim.world.item is None
        with open_devices(s, sim) as devices:
            devices.lamp.set_lamps(40, 0)
            with pytest.raises(InterlockOpen):
                devices.lamp.confirm_lamps()
            assert sim.controller.boot_count == 1
