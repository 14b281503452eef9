"""Camera implementations: the simulator (in-process and HTTP), folder replay, validation."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from hw_sim.runner import SimStation
from station.devices.camera import FolderCamera, check_frame, open_camera
from station.devices.lamp import LampController
from station.errors import CameraDisconnected, CameraError, CameraTimeout, ConfigError
from station.settings import DeviceSettings


def patch_mean(image: np.ndarray) -> float:
    h, w = image.shape[:2]
    return float(
        image[int(0.02 * h) + 3 : int(0.09 * h) - 3, int(0.015 * w) + 3 : int(0.065 * w) - 3].mean()
    )


def test_capture_after_lamp_change_sees_the_new_light(
    sim: SimStation, lamp: LampController, dev_settings: DeviceSettings
) -> None:
    cam = open_camera(sim.camera_source, dev_settings, sim.camera)
    dark = cam.capture(lamp.set_lamps(0, 0) + 0.06, 40, 1.0)
    acked = lamp.set_lamps(0, 100)
    uv = cam.capture(acked + 0.06, 40, 1.0)
    assert uv.timestamp >= acked + 0.06
    assert uv.metadata["lighting"]["uv"] == pytest.approx(1.0)
    assert patch_mean(uv.image) > patch_mean(dark.image) + 50


def test_ignoring_after_returns_a_frame_from_before_the_lamp_change(
    dev_settings: DeviceSettings,
) -> None:
    """The pipeline latency is what makes ``after`` necessary: prove code that skips it fails."""
    with (
        SimStation("demo", latency_frames=10) as sim,
        LampController.connect(sim.serial_port, dev_settings) as ctl,
    ):
        cam = open_camera(sim.camera_source, dev_settings, sim.camera)
        acked = ctl.set_lamps(0, 100)
        naive = cam.capture(0.0, 40, 1.0)
        assert naive.timestamp < acked
        assert naive.metadata["lighting"]["uv"] < 0.5
        fresh = cam.capture(acked + 0.06, 40, 1.0)
        assert fresh.metadata["lighting"]["uv"] == pytest.approx(1.0)


def test_http_snapshot_camera_from_standalone_sim(dev_settings: DeviceSettings) -> None:
    with SimStation("demo", http_camera=True) as sim:
        assert sim.camera_source.startswith("snapshot+http://127.0.0.1:")
        with LampController.connect(sim.serial_port, dev_settings) as ctl:
            cam = open_camera(sim.camera_source, dev_settings)
            acked = ctl.set_lamps(80, 0)
            frame = cam.capture(acked + 0.06, 8, 1.0)
            assert frame.timestamp >= acked + 0.06
            assert frame.image.shape == (720, 1280, 3)
            assert frame.metadata["lighting"]["white"] == pytest.approx(0.8)


def test_folder_camera_replays_in_order(tmp_path: Path, dev_settings: DeviceSettings) -> None:
    for i, value in enumerate((40, 120)):
        img = np.full((32, 48, 3), value, np.uint8)
        img[0, 0] = 0
        cv2.imwrite(str(tmp_path / f"{i:02d}.png"), img)
    (tmp_path / "notes.txt").write_text("ignored")
    cam = open_camera(str(tmp_path), dev_settings)
    assert isinstance(cam, FolderCamera)
    means = [cam.capture(0, 10, 1).metadata["file"] for _ in range(3)]
    assert means == ["00.png", "01.png", "00.png"]


def test_folder_camera_names_corrupt_file(tmp_path: Path, dev_settings: DeviceSettings) -> None:
    (tmp_path / "bad.png").write_bytes(b"not a png")
    cam = open_camera(str(tmp_path), dev_settings)
    with pytest.raises(CameraError, match=r"bad\.png"):
        cam.capture(0, 10, 1)


def test_empty_folder_is_refused(tmp_path: Path, dev_settings: DeviceSettings) -> None:
    with pytest.raises(CameraError, match="no images"):
        open_camera(str(tmp_path), dev_settings)


def test_sim_source_without_sim_is_a_config_error(dev_settings: DeviceSettings) -> None:
    with pytest.raises(ConfigError, match="--sim"):
        open_camera("sim", dev_settings)


@pytest.mark.parametrize("value, word", [(0, "black"), (255, "saturated")])
def test_uniform_frames_are_rejected(value: int, word: str) -> None:
    with pytest.raises(CameraError, match=word):
        check_frame(np.full((8, 8, 3), value, np.uint8), "test")


def test_opencv_camera_that_does_not_exist(dev_settings: DeviceSettings) -> None:
    with pytest.raises(CameraError, match="camera /dev/video-none is not there"):
        open_camera("/dev/video-none", dev_settings)


def test_opencv_camera_over_a_video_file(tmp_path: Path, dev_settings: DeviceSettings) -> None:
    """The real VideoCapture path (a file stands in for a device or stream URL)."""
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (64, 48))
    assert writer.isOpened()
    for i in range(12):
        img = np.full((48, 64, 3), 20 * i % 250, np.uint8)
        img[10:20, 10:20] = 255
        writer.write(img)
    writer.release()
    cam = open_camera(str(path), dev_settings)
    try:
        assert type(cam).__name__ == "V4L2Camera"
        after = time.monotonic() + 0.02
        frame = cam.capture(after, 10, 1.0)
        assert frame.timestamp >= after
        assert frame.image.shape == (48, 64, 3) and frame.index == 1
        assert frame.metadata["source"] == str(path)
        with pytest.raises(CameraError, match="stopped delivering"):
            for _ in range(20):
                cam.capture(0, 10, 1.0)
    finally:
        cam.close()


@pytest.mark.parametrize(
    "fault, error, word, timeout_s",
    [
        # the time-out is the subject here, so it is short; the other faults answer at once,
        # so they get a time-out a loaded machine cannot run into
        ("cam_timeout:at=1", CameraTimeout, "timed out", 0.3),
        ("cam_disconnect:at=1", CameraDisconnected, "HTTP 503", 30.0),
        ("cam_black:at=1", CameraError, "black", 30.0),
    ],
)
def test_http_snapshot_camera_faults(
    fault: str, error: type[Exception], word: str, timeout_s: float, dev_settings: DeviceSettings
) -> None:
    with SimStation("demo", [fault], http_camera=True) as sim:
        cam = open_camera(sim.camera_source, dev_settings)
        with pytest.raises(error, match=word):
            cam.capture(time.monotonic(), 10, 1.0, timeout_s=timeout_s)


def test_http_snapshot_camera_unreachable(dev_settings: DeviceSettings) -> None:
    cam = open_camera("snapshot+http://127.0.0.1:9", dev_settings)
    with pytest.raises(CameraDisconnected, match="unreachable"):
        cam.capture(0, 10, 1.0, timeout_s=0.5)
