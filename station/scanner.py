"""DeviceScanner: capture sequence + vision pipeline for the item on the tray."""

from __future__ import annotations

import time
from typing import Any

from station.capture import CaptureSequence, FrameSink
from station.devices.factory import DeviceSet
from station.domain import ReadResult
from station.settings import StationSettings
from station.vision.frames import CaptureFrames
from station.vision.pipeline import read_item


class DeviceScanner:
    """Scans with real or simulated devices; the check service only sees ``scan()``."""

    def __init__(self, devices: DeviceSet, settings: StationSettings) -> None:
        self.devices = devices
        self.settings = settings
        self.sequence = CaptureSequence(devices.lamp, devices.camera, settings.devices)

    def scan(
        self, on_frame: FrameSink | None = None
    ) -> tuple[ReadResult, dict[str, Any], dict[str, Any]]:
        t0 = time.perf_counter()
        captured = self.sequence.run(on_frame)
        t1 = time.perf_counter()
        frames = CaptureFrames(
            white=captured.white.image, uv=captured.uv.image, dark=captured.dark.image
        )
        read = read_item(frames, self.settings.vision)
        read.timings_ms["capture_ms"] = round((t1 - t0) * 1000, 1)
        return read, captured.arrays(), captured.conditions
