"""A real camera through OpenCV: a V4L2 device (USB/UVC, CSI through a V4L2 bridge), or any
source OpenCV opens (a stream URL, a GStreamer pipeline, a video file).

What a check needs from it, beyond "a picture":
- exposure and white balance locked, so the UV frame's colours and levels mean the same thing
  in every check (auto white balance would "correct" the very glow the station looks for);
- no frame exposed before the lamp settled: a V4L2 device stamps each buffer with the
  CLOCK_MONOTONIC time the kernel received it, which is compared with ``after``; other sources
  are stamped when their grab began, after ``after``;
- a missing, forbidden or busy camera says so, and names the program holding a busy one.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import cv2

from station.devices.camera import Frame, check_frame, frame_stats
from station.errors import CameraDisconnected, CameraTimeout
from station.settings import DeviceSettings

#: V4L2 "auto exposure" menu as OpenCV's V4L2 backend passes it through: 1 = manual
V4L2_MANUAL_EXPOSURE = 1.0
#: V4L2 exposure_time_absolute counts 100 µs steps
V4L2_EXPOSURE_UNITS_PER_MS = 10.0
#: a buffer timestamp further than this from "now" is not CLOCK_MONOTONIC: not trusted
_TIMESTAMP_SANITY_S = 30.0


def device_holders(device: str | Path) -> list[str]:
    """Processes (``pid name``) that have ``device`` open: who keeps a busy camera busy."""
    try:
        target = os.path.realpath(device)
    except OSError:
        return []
    found: list[str] = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.path.realpath(fd) == target:
                    name = (proc / "comm").read_text().strip()
                    found.append(f"{proc.name} {name}")
                    break
        except OSError:  # processes come and go; others' fds may be unreadable
            continue
    return found


def _device_path(source: str) -> str | None:
    """/dev/videoN for an index or device path; None for URLs, pipelines and files."""
    if source.isdigit():
        return f"/dev/video{source}"
    if source.startswith("/dev/"):
        return source
    return None


class V4L2Camera:
    """OpenCV VideoCapture with locked exposure and white balance and checked frame times."""

    def __init__(self, source: str, settings: DeviceSettings, drain_frames: int = 2) -> None:
        self._source = source
        self._device = _device_path(source)
        self._settings = settings
        self._drain = drain_frames
        self._index = 0
        self._exposure: tuple[float, float] | None = None
        self.stale_frames = 0
        self.controls: dict[str, Any] = {}
        if self._device is not None:
            self._check_device(self._device)
            self._cap = cv2.VideoCapture(self._device, cv2.CAP_V4L2)
        else:
            self._cap = cv2.VideoCapture(source)
        if not self._cap.isOpened():
            raise self._why_not_opened()
        self._v4l2 = self._cap.getBackendName() == "V4L2"
        if self._v4l2:
            self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, settings.camera_width)
            self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, settings.camera_height)
            # one buffer: a queued frame from before the lamp change is never handed out first
            self._cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)

    # -- opening ---------------------------------------------------------------------------
    def _check_device(self, device: str) -> None:
        if not os.path.exists(device):
            present = sorted(str(p) for p in Path("/dev").glob("video*"))
            raise CameraDisconnected(
                f"camera {device} is not there (video devices present: "
                f"{', '.join(present) or 'none'})",
                fix="plug the camera in (or correct STATION_DEVICES__CAMERA_SOURCE), then run "
                "`station doctor`",
            )
        if not os.access(device, os.R_OK | os.W_OK):
            raise CameraDisconnected(
                f"camera {device} exists but this user may not open it",
                fix="add the station's user to the 'video' group (station install does this)",
            )

    def _why_not_opened(self) -> CameraDisconnected:
        if self._device is None:
            return CameraDisconnected(
                f"cannot open camera source {self._source!r} with OpenCV",
                fix="check the camera source setting (index, device path, stream URL or file)",
            )
        holders = device_holders(self._device)
        if holders:
            return CameraDisconnected(
                f"camera {self._device} is busy: in use by {', '.join(holders)}",
                fix="stop that program (another station server?), then try again",
            )
        return CameraDisconnected(
            f"cannot open camera {self._device} (not a capture device, or a driver fault)"
        )

    def _not_delivering(self) -> CameraDisconnected:
        if self._device is not None:
            holders = [h for h in device_holders(self._device) if h.split()[0] != str(os.getpid())]
            if holders:
                return CameraDisconnected(
                    f"camera {self._device} is busy: in use by {', '.join(holders)}",
                    fix="stop that program (another station server?), then try again",
                )
        return CameraDisconnected(
            f"camera {self._source} stopped delivering frames (unplugged, or end of stream)"
        )

    # -- exposure and white balance ----------------------------------------------------------
    def _lock(self, exposure_ms: float, gain: float) -> None:
        """Manual exposure, gain and white balance; records what the camera accepted."""
        cap, s = self._cap, self._settings
        wanted = {
            "auto_exposure": V4L2_MANUAL_EXPOSURE,
            "exposure": exposure_ms * V4L2_EXPOSURE_UNITS_PER_MS,
            "gain": gain,
            "auto_wb": 0.0,
            "wb_temperature": float(s.white_balance_k),
        }
        props = {
            "auto_exposure": cv2.CAP_PROP_AUTO_EXPOSURE,
            "exposure": cv2.CAP_PROP_EXPOSURE,
            "gain": cv2.CAP_PROP_GAIN,
            "auto_wb": cv2.CAP_PROP_AUTO_WB,
            "wb_temperature": cv2.CAP_PROP_WB_TEMPERATURE,
        }
        # order matters on UVC cameras: manual mode first, then the values it unlocks
        for name in wanted:
            cap.set(props[name], wanted[name])
        read_back = {name: float(cap.get(props[name])) for name in wanted}
        self.controls = {
            "requested": wanted,
            "camera": read_back,
            "exposure_locked": self._v4l2 and read_back["auto_exposure"] == V4L2_MANUAL_EXPOSURE,
            "white_balance_locked": self._v4l2 and read_back["auto_wb"] == 0.0,
        }
        self._exposure = (exposure_ms, gain)

    # -- frames ------------------------------------------------------------------------------
    def _stamp(self, grab_started: float) -> tuple[float, str]:
        """When the frame was taken, and how that is known."""
        if self._v4l2:
            buffer_ms = float(self._cap.get(cv2.CAP_PROP_POS_MSEC))
            if buffer_ms > 0 and abs(buffer_ms / 1000 - time.monotonic()) < _TIMESTAMP_SANITY_S:
                return buffer_ms / 1000, "v4l2_buffer"
        return grab_started, "grab_start"

    def capture(
        self, after: float, exposure_ms: float, gain: float, timeout_s: float = 2.0
    ) -> Frame:
        if self._exposure != (exposure_ms, gain):
            self._lock(exposure_ms, gain)
        deadline = time.monotonic() + timeout_s
        wait = after - time.monotonic()
        if wait > timeout_s:
            raise CameraTimeout(f"camera {self._source}: the lamp settles after the time-out")
        if wait > 0:
            time.sleep(wait)
        drained = 0
        while True:
            if time.monotonic() > deadline:
                raise CameraTimeout(
                    f"camera {self._source}: no frame taken after the lamp settled within "
                    f"{timeout_s:.1f}s ({self.stale_frames} earlier frames discarded)"
                )
            started = time.monotonic()
            if not self._cap.grab():
                raise self._not_delivering()
            stamp, how = self._stamp(started)
            if stamp < after:
                self.stale_frames += 1  # exposed under the previous lighting
                continue
            if drained >= self._drain or how == "v4l2_buffer":
                break
            drained += 1
        ok, image = self._cap.retrieve()
        if not ok or image is None:
            raise CameraDisconnected(f"camera {self._source} failed to decode a frame")
        image = check_frame(image, self._source)
        self._index += 1
        meta = {
            **frame_stats(image),
            "source": self._source,
            "backend": self._cap.getBackendName(),
            "timestamp_from": how,
            "settled_by_s": round(stamp - after, 4),
            **self.controls,
        }
        return Frame(image, stamp, exposure_ms, gain, self._index, meta)

    def close(self) -> None:
        self._cap.release()
