"""Open the configured lamp controller and camera together (or the simulator's)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from station.devices.camera import Camera, open_camera
from station.devices.lamp import LampController
from station.settings import StationSettings

if TYPE_CHECKING:
    from hw_sim.runner import SimStation


@dataclass
class DeviceSet:
    lamp: LampController
    camera: Camera
    sim: SimStation | None = None

    def close(self) -> None:
        try:
            self.lamp.close()
        finally:
            self.camera.close()

    def __enter__(self) -> DeviceSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_devices(settings: StationSettings, sim: SimStation | None = None) -> DeviceSet:
    """With ``sim``, the lamp is reached over the sim's pty with pyserial and the camera is the
    sim's; otherwise ``settings.devices.lamp_port`` and ``camera_source`` are used."""
    dev = settings.devices
    port = sim.serial_port if sim is not None else dev.lamp_port
    source = sim.camera_source if sim is not None else dev.camera_source
    lamp = LampController.connect(port, dev, host_name=settings.station_id)
    try:
        camera = open_camera(source, dev, sim)
    except BaseException:
        lamp.close()
        raise
    return DeviceSet(lamp, camera, sim)
