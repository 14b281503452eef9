from __future__ import annotations

from collections.abc import Iterator

import pytest

from hw_sim.runner import SimStation
from station.devices.lamp import LampController
from station.settings import DeviceSettings
from tests.helpers.devices import device_settings


@pytest.fixture
def dev_settings() -> DeviceSettings:
    return device_settings()


@pytest.fixture
def sim() -> Iterator[SimStation]:
    with SimStation("demo") as s:
        yield s


@pytest.fixture
def lamp(sim: SimStation, dev_settings: DeviceSettings) -> Iterator[LampController]:
    with LampController.connect(sim.serial_port, dev_settings) as ctl:
        yield ctl
