"""The OpenCV camera path against a real OpenCV source: a video file written by VideoWriter
(decoded by OpenCV's FFmpeg backend, the way a stream or a capture device is read)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from station.devices.camera import open_camera
from station.devices.v4l2 import V4L2Camera, device_holders
from station.errors import CameraDisconnected, CameraTimeout
from station.settings import DeviceSettings

FRAMES = 12
SIZE = (320, 240)


def _level(i: int) -> int:
    """Frame i's background level: the frames can be told apart after lossy compression."""
    return 30 + 15 * i


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("camera") / "tray.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, SIZE)
    assert writer.isOpened()
    for i in range(FRAMES):
        frame = np.full((SIZE[1], SIZE[0], 3), _level(i), np.uint8)
        cv2.rectangle(frame, (20, 20), (80, 60), (255, 255, 255), -1)  # a label on the tray
        writer.write(frame)
    writer.release()
    return path


def _frame_number(image: np.ndarray) -> int:
    background = float(np.median(image[120:, 120:]))
    return round((background - 30) / 15)


def test_frames_are_taken_after_the_lamp_settled_and_follow_the_stream(clip: Path) -> None:
    cam = open_camera(str(clip), DeviceSettings())
    assert isinstance(cam, V4L2Camera)
    try:
        after = time.monotonic() + 0.02  # the lamp settles 20 ms from now
        first = cam.capture(after=after, exposure_ms=40.0, gain=1.0)
        assert first.timestamp >= after
        assert first.metadata["settled_by_s"] >= 0
        assert first.metadata["timestamp_from"] == "grab_start"
        assert first.image.shape == (SIZE[1], SIZE[0], 3)
        # two queued frames are drained before the one handed out
        assert _frame_number(first.image) == 2
        second = cam.capture(after=time.monotonic(), exposure_ms=40.0, gain=1.0)
        assert _frame_number(second.image) == 5
        assert second.index == first.index + 1
        assert second.timestamp > first.timestamp
    finally:
        cam.close()


def test_exposure_and_white_balance_requests_are_recorded_with_what_the_source_accepted(
    clip: Path,
) -> None:
    cam = V4L2Camera(str(clip), DeviceSettings(white_balance_k=4600))
    try:
        frame = cam.capture(after=time.monotonic(), exposure_ms=40.0, gain=2.0)
    finally:
        cam.close()
    meta = frame.metadata
    assert meta["requested"]["exposure"] == 400.0  # V4L2 counts 100 µs steps
    assert meta["requested"]["auto_wb"] == 0.0
    assert meta["requested"]["wb_temperature"] == 4600.0
    # a file cannot lock anything, and the record says so rather than claiming a lock
    assert meta["exposure_locked"] is False
    assert meta["white_balance_locked"] is False
    assert meta["backend"] != "V4L2"


def test_end_of_stream_is_a_disconnected_camera(clip: Path) -> None:
    cam = V4L2Camera(str(clip), DeviceSettings(), drain_frames=0)
    try:
        for _ in range(FRAMES):
            cam.capture(after=time.monotonic(), exposure_ms=8.0, gain=1.0)
        with pytest.raises(CameraDisconnected, match="stopped delivering frames"):
            cam.capture(after=time.monotonic(), exposure_ms=8.0, gain=1.0)
    finally:
        cam.close()


def test_a_lamp_settling_after_the_timeout_is_refused(clip: Path) -> None:
    cam = V4L2Camera(str(clip), DeviceSettings())
    try:
        with pytest.raises(CameraTimeout, match="settles after the time-out"):
            cam.capture(after=time.monotonic() + 60, exposure_ms=8.0, gain=1.0, timeout_s=1.0)
    finally:
        cam.close()


@pytest.mark.parametrize("source", ["97", "/dev/video97"])
def test_a_missing_camera_says_so(source: str) -> None:
    with pytest.raises(CameraDisconnected, match=r"camera /dev/video97 is not there"):
        open_camera(source, DeviceSettings())


def test_a_source_opencv_cannot_open_is_named(tmp_path: Path) -> None:
    with pytest.raises(CameraDisconnected, match="cannot open camera source"):
        open_camera(str(tmp_path / "no-such-stream.avi"), DeviceSettings())


def test_the_program_holding_a_device_is_found(tmp_path: Path) -> None:
    held = tmp_path / "video-stand-in"
    held.write_bytes(b"")
    with open(held, "rb"):
        holders = device_holders(held)
    assert any(h.split()[0] == str(os.getpid()) for h in holders)
    assert device_holders(held) == []  # closed again
