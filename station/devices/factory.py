"""Open the configured lamp controller and camera together (or the ones a simulator hands over)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from station.devices.camera import Camera, open_camera
from station.devices.lamp import LampController
from station.settings import StationSettings


class SimulatedDevices(Protocol):
    """What a running simulator hands the station (``station.wiring`` starts one).

    ``port_url`` is opened with pyserial like a real port; ``camera`` is used for the camera
    source "sim"; any other ``camera_source`` (e.g. an HTTP snapshot URL) is opened as usual.
    """

    @property
    def port_url(self) -> str: ...

    @property
    def camera_source(self) -> str: ...

    @property
    def camera(self) -> Camera: ...


@dataclass
class DeviceSet:
    lamp: LampController
    camera: Camera
    sim: SimulatedDevices | None = None

    def close(self) -> None:
        try:
            self.lamp.close()
        finally:
            self.camera.close()

    def __enter__(self) -> DeviceSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_devices(settings: StationSettings, sim: SimulatedDevices | None = None) -> DeviceSet:
    """With ``sim``, the lamp is reached at the simulator's port with pyserial and the camera is
    the simulator's; otherwise ``settings.devices.lamp_port`` and ``camera_source`` are used."""
    dev = settings.devices
    port = sim.port_url if sim is not None else dev.lamp_port
    source = sim.camera_source if sim is not None else dev.camera_source
    lamp = LampController.connect(port, dev, host_name=settings.station_id)
    try:
        camera = open_camera(source, dev, sim.camera if sim is not None else None)
    except BaseException:
        lamp.close()
        raise
    return DeviceSet(lamp, camera, sim)
