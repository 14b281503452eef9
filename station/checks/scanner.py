"""DeviceScanner: capture sequence + vision pipeline for the item on the tray."""

from __future__ import annotations

import time
from typing import Any

from station.checks.capture import CaptureSequence, FrameSink
from station.devices.factory import DeviceSet
from station.domain import ReadResult
from station.settings import StationSettings
from station.vision.frames import CaptureFrames
from station.vision.pipeline import read_item
from station.vision.reference import measure_reference_patch


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
        # the UV lamp's strength on the tray's reference patch, with the result: a court may
        # ask whether a "no marking" came from a weak lamp
        vision = self.settings.vision
        level = measure_reference_patch(captured.uv.image, frames.dark, vision.reference_patch)
        conditions = {
            **captured.conditions,
            "uv_reference_level": round(level, 4),
            "uv_reference_nominal": vision.reference_nominal,
            "uv_lamp_weak": level < vision.reference_nominal * vision.reference_weak_fraction,
        }
        return read, captured.arrays(), conditions
