"""Raspberry Pi camera via picamera2. Imported only when the source says ``picamera2``.

picamera2 exists only on Raspberry Pi OS, so nothing else in the station imports this module.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from station.devices.camera import Frame, check_frame, frame_stats
from station.errors import CameraDisconnected, CameraTimeout
from station.settings import DeviceSettings


class Picamera2Camera:
    """libcamera stills with manual exposure; SensorTimestamp gives the exposure start."""

    def __init__(self, camera_num: int, settings: DeviceSettings) -> None:
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise CameraDisconnected(
                "camera source 'picamera2' needs the picamera2 package (Raspberry Pi OS: "
                "`apt install python3-picamera2`)"
            ) from exc
        try:
            cameras = Picamera2.global_camera_info()
        except Exception:  # older picamera2: no listing; opening will say what is wrong
            cameras = None
        if cameras is not None and camera_num >= len(cameras):
            raise CameraDisconnected(
                f"Pi camera {camera_num} is not there ({len(cameras)} camera(s) found)",
                fix="check the camera's ribbon cable and `rpicam-hello --list-cameras`",
            )
        try:
            self._cam: Any = Picamera2(camera_num)
        except (RuntimeError, IndexError, OSError) as exc:
            text = str(exc)
            if "busy" in text.lower() or "acquire" in text.lower():
                raise CameraDisconnected(
                    f"Pi camera {camera_num} is busy: another program holds it ({text})",
                    fix="stop the other program (another station server, rpicam-*), then retry",
                ) from exc
            raise CameraDisconnected(f"Pi camera {camera_num} cannot be opened: {text}") from exc
        self._gains = settings.colour_gains
        config = self._cam.create_still_configuration(
            main={"size": (settings.camera_width, settings.camera_height), "format": "BGR888"}
        )
        self._cam.configure(config)
        self._cam.start()
        self._index = 0
        self._controls: tuple[float, float] | None = None

    def capture(
        self, after: float, exposure_ms: float, gain: float, timeout_s: float = 2.0
    ) -> Frame:
        if self._controls != (exposure_ms, gain):
            # exposure, gain and white balance all manual: the UV frame's colours must not be
            # "corrected" by the camera between checks
            self._cam.set_controls(
                {
                    "AeEnable": False,
                    "ExposureTime": int(exposure_ms * 1000),
                    "AnalogueGain": gain,
                    "AwbEnable": False,
                    "ColourGains": self._gains,
                }
            )
            self._controls = (exposure_ms, gain)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            request = self._cam.capture_request()
            try:
                meta = request.get_metadata()
                # SensorTimestamp: start of exposure in CLOCK_MONOTONIC nanoseconds... of the
                # frame's first line; subtracting nothing keeps the comparison conservative.
                ts = float(meta.get("SensorTimestamp", 0)) / 1e9
                # a frame whose exposure began before the lamp settled is discarded, as is one
                # still taken with the previous exposure setting
                if ts >= after and abs(meta.get("ExposureTime", 0) / 1000 - exposure_ms) < 1.0:
                    image: np.ndarray = request.make_array("main")
                    image = check_frame(image[..., :3].copy(), "picamera2")
                    self._index += 1
                    info = {
                        **frame_stats(image),
                        "source": "picamera2",
                        "settled_by_s": round(ts - after, 4),
                        # accepted above only at the requested exposure
                        "exposure_locked": True,
                        "white_balance_locked": _gains_match(meta.get("ColourGains"), self._gains),
                        "libcamera": meta,
                    }
                    return Frame(image, ts, exposure_ms, gain, self._index, info)
            finally:
                request.release()
        raise CameraTimeout(f"picamera2: no frame after the lamp change within {timeout_s:.1f}s")

    def close(self) -> None:
        self._cam.stop()
        self._cam.close()


def _gains_match(reported: Any, wanted: tuple[float, float]) -> bool:
    """Whether the frame was taken with the fixed colour gains (libcamera reports them)."""
    try:
        return all(abs(float(r) - w) < 0.05 for r, w in zip(reported, wanted, strict=True))
    except (TypeError, ValueError):
        return False
