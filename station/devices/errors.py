"""Device-layer error subclasses (extending station.errors without editing it)."""

from __future__ import annotations

from station.errors import CameraError, DeviceError, LinkTimeout


class LinkLost(LinkTimeout):
    """The serial port vanished or failed; the driver keeps trying to reopen it."""


class LampFault(DeviceError):
    """A lamp did not light as commanded (failed to strike, dimmed, or was cut off)."""


class CameraDisconnected(CameraError):
    """The camera went away (unplugged, stream closed, simulator stopped)."""


class CameraTimeout(CameraError):
    """No usable frame arrived in time."""
