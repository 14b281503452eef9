"""CaptureSequence: dark, white and UV frames of the item on the tray, each taken after its lamp settled.

Every frame is requested with ``after`` = the moment the lamp change was acknowledged plus the
settle time, so a frame exposed under the previous lighting is never used.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from station.devices.camera import Camera, Frame
from station.devices.lamp import LampController
from station.errors import InterlockOpen
from station.settings import DeviceSettings

FrameSink = Callable[[str, Frame], None]


@dataclass
class CapturedFrames:
    """The frames of one check plus the conditions they were taken under."""

    dark: Frame
    white: Frame
    uv: Frame
    conditions: dict[str, Any] = field(default_factory=dict)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"dark": self.dark.image, "white": self.white.image, "uv": self.uv.image}


class CaptureSequence:
    """Drives lamp and camera through one capture; always leaves every lamp off."""

    def __init__(self, lamp: LampController, camera: Camera, settings: DeviceSettings) -> None:
        self.lamp = lamp
        self.camera = camera
        self.settings = settings

    def _shot(self, white: int, uv: int, exposure_ms: float) -> Frame:
        self.lamp.set_lamps(white=white, uv=uv)
        after = time.monotonic() + self.settings.lamp_settle_ms / 1000.0
        frame = self.camera.capture(after=after, exposure_ms=exposure_ms, gain=self.settings.gain)
        # A lid opened or a lamp cut during the exposure makes the frame worthless (a dark UV
        # frame would read as "no marking"): the controller tells us, and the check aborts.
        self.lamp.confirm_lamps()
        return frame

    def run(self, on_frame: FrameSink | None = None) -> CapturedFrames:
        """Capture dark, white, UV; ``on_frame(role, frame)`` sees each as it arrives, so
        storing can overlap the wait for the next one."""
        s = self.settings
        sink = on_frame or (lambda _role, _frame: None)
        # A reset while idle is absorbed here; one during the session raises ControllerReset
        # and the check is aborted, never resumed.
        with self.lamp.check_session():
            if not self.lamp.status().lid_closed:
                raise InterlockOpen("the lid is open: close the lid to start the UV check")
            try:
                dark = self._shot(0, 0, s.exposure_uv_ms)
                sink("dark", dark)
                white = self._shot(s.white_level, 0, s.exposure_white_ms)
                sink("white", white)
                uv = self._shot(0, s.uv_level, s.exposure_uv_ms)
                sink("uv", uv)
            finally:
                self.lamp.all_off()
        conditions = {
            "white_level": s.white_level,
            "uv_level": s.uv_level,
            "exposure_white_ms": s.exposure_white_ms,
            "exposure_uv_ms": s.exposure_uv_ms,
            "gain": s.gain,
            "lamp_settle_ms": s.lamp_settle_ms,
            "controller": _as_dict(self.lamp.info),
            "frames": {
                name: {"timestamp": f.timestamp, "index": f.index, "exposure_ms": f.exposure_ms}
                for name, f in (("dark", dark), ("white", white), ("uv", uv))
            },
        }
        return CapturedFrames(dark=dark, white=white, uv=uv, conditions=conditions)


def _as_dict(obj: Any) -> Any:
    if hasattr(obj, "as_dict"):
        return obj.as_dict()
    if hasattr(obj, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(obj)
    return str(obj)
