"""Camera interface: ``capture(after, ...)`` never returns a frame begun before ``after``.

That guarantee is what keeps a frame taken while a lamp was still switching out of a check.
Implementations here: OpenCV (index, device path, URL), a folder of images (replay), the
standalone simulator's HTTP snapshot endpoint, and picamera2 on a Raspberry Pi. The in-process
simulator brings its own (``station.wiring`` hands it over); this package never imports it.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from station.errors import CameraDisconnected, CameraError, CameraTimeout, ConfigError
from station.settings import DeviceSettings

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
SNAPSHOT_SCHEME = "snapshot+http://"


@dataclass
class Frame:
    """One camera frame and how it was taken."""

    image: np.ndarray  # uint8 HxWx3 BGR
    timestamp: float  # time.monotonic() seconds (this process) when exposure started
    exposure_ms: float
    gain: float
    index: int
    metadata: dict[str, Any] = field(default_factory=dict)


class Camera(Protocol):
    """What a check needs from a camera; implementations validate frames with ``check_frame``."""

    def capture(
        self, after: float, exposure_ms: float, gain: float, timeout_s: float = 2.0
    ) -> Frame: ...

    def close(self) -> None: ...


def check_frame(image: np.ndarray, source: str) -> np.ndarray:
    """Reject frames no healthy camera produces: wrong shape, or every pixel the same value."""
    if image is None or image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise CameraError(f"camera {source} delivered an unusable frame")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    lo, hi = int(image.min()), int(image.max())
    if lo == hi:
        what = "black" if hi == 0 else ("saturated white" if hi == 255 else f"uniform {hi}")
        raise CameraError(
            f"camera {source} delivered a {what} frame (every pixel {hi}): check the sensor, "
            "its cable and the exposure settings"
        )
    return image


def frame_stats(image: np.ndarray) -> dict[str, float]:
    """Cheap exposure facts recorded with every frame (mean level, saturated fraction)."""
    grey = image if image.ndim == 2 else image.max(axis=2)
    return {
        "mean": round(float(image.mean()), 2),
        "saturated_fraction": round(float((grey >= 250).mean()), 5),
    }


# ---------------------------------------------------------------------- simulator over HTTP
class HttpSnapshotCamera:
    """The standalone simulator's camera: ``GET /frame?after=..`` returns a PNG with headers.

    Timestamps are CLOCK_MONOTONIC, shared by every process on the machine.
    """

    def __init__(self, base_url: str) -> None:
        self._url = base_url.rstrip("/")
        self.stale_frames = 0

    def capture(
        self, after: float, exposure_ms: float, gain: float, timeout_s: float = 2.0
    ) -> Frame:
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CameraTimeout(f"camera {self._url}: no fresh frame within {timeout_s:.1f}s")
            query = urllib.parse.urlencode(
                {"after": repr(after), "exposure_ms": exposure_ms, "gain": gain, "timeout_s": left}
            )
            try:
                with urllib.request.urlopen(f"{self._url}/frame?{query}", timeout=left + 1) as resp:
                    body = resp.read()
                    headers = resp.headers
            except urllib.error.HTTPError as exc:
                if exc.code == 504:
                    raise CameraTimeout(f"camera {self._url} timed out") from exc
                raise CameraDisconnected(f"camera {self._url} failed: HTTP {exc.code}") from exc
            except (urllib.error.URLError, OSError) as exc:
                raise CameraDisconnected(f"camera {self._url} unreachable: {exc}") from exc
            image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
            if image is None:
                raise CameraError(f"camera {self._url} sent a frame that does not decode")
            ts = float(headers.get("X-Frame-Timestamp", "0"))
            if ts < after:
                self.stale_frames += 1
                time.sleep(0.005)
                continue
            image = check_frame(image, self._url)
            meta = json.loads(headers.get("X-Frame-Metadata", "{}"))
            meta.update(frame_stats(image), source=self._url)
            return Frame(
                image,
                ts,
                float(headers.get("X-Exposure-Ms", exposure_ms)),
                float(headers.get("X-Gain", gain)),
                int(headers.get("X-Frame-Index", "0")),
                meta,
            )

    def close(self) -> None:
        """Nothing to release: the frames come from elsewhere."""


# ---------------------------------------------------------------------- real cameras
class OpenCVCamera:
    """A V4L2/USB camera or stream through OpenCV VideoCapture.

    VideoCapture queues frames, so after ``after`` we keep grabbing and throw away
    ``drain_frames`` more, then stamp the frame with the start of its grab.
    """

    def __init__(self, source: str, settings: DeviceSettings, drain_frames: int = 2) -> None:
        self._source = source
        target: int | str = int(source) if source.isdigit() else source
        self._cap = cv2.VideoCapture(target)
        if not self._cap.isOpened():
            raise CameraDisconnected(f"cannot open camera {source!r} with OpenCV")
        self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, settings.camera_width)
        self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, settings.camera_height)
        self._drain = drain_frames
        self._index = 0
        self._exposure: tuple[float, float] | None = None

    def capture(
        self, after: float, exposure_ms: float, gain: float, timeout_s: float = 2.0
    ) -> Frame:
        if self._exposure != (exposure_ms, gain):
            self._cap.set(cv2.CAP_PROP_EXPOSURE, exposure_ms)
            self._cap.set(cv2.CAP_PROP_GAIN, gain)
            self._exposure = (exposure_ms, gain)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < after:
            time.sleep(min(0.005, max(0.0, after - time.monotonic())))
        drained = 0
        while True:
            if time.monotonic() > deadline:
                raise CameraTimeout(f"camera {self._source}: no frame within {timeout_s:.1f}s")
            started = time.monotonic()
            if not self._cap.grab():
                raise CameraDisconnected(f"camera {self._source} stopped delivering frames")
            if started >= after and drained >= self._drain:
                break
            drained += 1
        ok, image = self._cap.retrieve()
        if not ok or image is None:
            raise CameraDisconnected(f"camera {self._source} failed to decode a frame")
        image = check_frame(image, self._source)
        self._index += 1
        meta = {**frame_stats(image), "source": self._source}
        return Frame(image, started, exposure_ms, gain, self._index, meta)

    def close(self) -> None:
        self._cap.release()


class FolderCamera:
    """Replays a folder of images in name order (cycling): field captures, regression sets."""

    def __init__(self, folder: Path) -> None:
        self._files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self._files:
            raise CameraError(
                f"camera folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)})"
            )
        self._folder = folder
        self._next = 0

    def capture(
        self, after: float, exposure_ms: float, gain: float, timeout_s: float = 2.0
    ) -> Frame:
        wait = after - time.monotonic()
        if wait > timeout_s:
            raise CameraTimeout(f"camera folder {self._folder}: 'after' is {wait:.1f}s away")
        if wait > 0:
            time.sleep(wait)
        path = self._files[self._next % len(self._files)]
        index = self._next
        self._next += 1
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise CameraError(f"replay image {path} cannot be read (corrupt or not an image)")
        image = check_frame(image, str(path))
        meta = {**frame_stats(image), "source": str(path), "file": path.name}
        return Frame(image, time.monotonic(), exposure_ms, gain, index, meta)

    def close(self) -> None:
        """Nothing to release: the frames come from elsewhere."""


def open_camera(source: str, settings: DeviceSettings, sim_camera: Camera | None = None) -> Camera:
    """A Camera for ``source``: "sim" (``sim_camera``, the in-process simulator's),
    "snapshot+http://…", "picamera2[:N]", an image folder, a device index ("0"), a device
    path or a stream URL."""
    source = source.strip()
    if source == "sim" or source.startswith("sim:"):
        if sim_camera is None:
            raise ConfigError(
                f"camera source {source!r} needs the in-process simulator (use --sim), "
                "or give the snapshot URL `station sim` printed"
            )
        return sim_camera
    if source.startswith(SNAPSHOT_SCHEME):
        return HttpSnapshotCamera("http://" + source[len(SNAPSHOT_SCHEME) :])
    if source.startswith("picamera2"):
        from station.devices.picamera import Picamera2Camera

        num = source.partition(":")[2]
        return Picamera2Camera(int(num or 0), settings)
    if not source:
        raise ConfigError("no camera configured (set STATION_DEVICES__CAMERA_SOURCE)")
    path = Path(source)
    if path.is_dir():
        return FolderCamera(path)
    from station.devices.v4l2 import V4L2Camera

    return V4L2Camera(source, settings)
