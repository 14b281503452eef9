"""Simulated camera: renders the World's item under the light that was on when a frame began.

Frames come from a free-running 30 fps sensor with a pipeline ``latency_frames`` deep: at any
moment the newest finished frame started that long ago. A caller that ignores ``after`` gets
a frame lit the way the lamps were before its last command — exactly the bug the ``after``
argument exists to prevent.

``SimCamera`` is also a station ``Camera`` (``capture``/``close``): frames are validated and
errors mapped to the station's, as a real camera's driver would do.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hw_sim.faults import FaultPlan
from hw_sim.scene import Scene as _Scene
from hw_sim.scene import SceneLayers, build_layers, render
from hw_sim.world import World
from station.devices.camera import Frame, check_frame, frame_stats
from station.errors import CameraDisconnected, CameraTimeout


class SimCameraError(Exception):
    """Base of the simulated camera's failures (mapped to CameraError by the station)."""


class SimCameraTimeout(SimCameraError):
    """No frame arrived in time."""


class SimCameraGone(SimCameraError):
    """The simulated camera is unplugged."""


@dataclass
class SimFrame:
    image: np.ndarray
    timestamp: float
    index: int
    exposure_ms: float
    gain: float
    metadata: dict[str, Any] = field(default_factory=dict)


#: what the operator does about a failing simulated camera
RESTART = "restart the simulator (or remove the camera fault it was started with)"

EMPTY_TRAY = _Scene(item_box=(0, 0, 0, 0))


class SimCamera:
    """The simulated sensor; ``grab`` is its raw side, ``capture`` the station's Camera side."""

    def __init__(
        self,
        world: World,
        faults: FaultPlan | None = None,
        fps: float = 30.0,
        latency_frames: int = 3,
    ) -> None:
        self.world = world
        self.faults = faults or FaultPlan()
        self.period = 1.0 / fps
        self.latency_frames = latency_frames
        self.t0 = world.clock.now()
        self.captures = 0
        self.connected = True
        self._lock = threading.Lock()
        self._layers: tuple[int, SceneLayers] | None = None
        self._last: SimFrame | None = None
        self._rng = np.random.default_rng(int(world.rng.integers(0, 2**31)))
        #: frames older than the caller's ``after`` that ``capture`` threw away
        self.stale_frames = 0
        #: what ``capture`` records as the frames' source
        self.source = "sim"

    def slot_start(self, k: int) -> float:
        return self.t0 + k * self.period

    def _layers_for_world(self) -> tuple[SceneLayers, _Scene]:
        version = self.world.item_version
        scene = self.world.item or EMPTY_TRAY
        if self._layers is None or self._layers[0] != version:
            self._layers = (version, build_layers(scene))
        return self._layers[1], scene

    def grab(
        self, after: float, exposure_ms: float, gain: float, timeout_s: float = 2.0
    ) -> SimFrame:
        """The first frame that started at or after ``after`` (or the newest one if later)."""
        with self._lock:
            self.captures += 1
            n = self.captures
            f = self.faults
            if not self.connected:
                raise SimCameraGone("simulated camera is disconnected")
            if f.fires("cam_disconnect", n):
                self.connected = False
                raise SimCameraGone("simulated camera disconnected")
            clock = self.world.clock
            if f.fires("cam_timeout", n):
                clock.sleep(timeout_s)
                raise SimCameraTimeout(f"no frame within {timeout_s:.2f}s")
            if f.fires("cam_stale", n) and self._last is not None:
                return self._last
            now = clock.now()
            newest = math.floor((now - self.t0) / self.period) - self.latency_frames
            wanted = math.ceil((after - self.t0) / self.period - 1e-9)
            k = max(newest, wanted)
            ready_at = self.slot_start(k + self.latency_frames)
            if ready_at - now > timeout_s:
                clock.sleep(timeout_s)
                raise SimCameraTimeout(f"no frame within {timeout_s:.2f}s")
            if ready_at > now:
                clock.sleep(ready_at - now)
            start = self.slot_start(k)
            layers, scene = self._layers_for_world()
            lighting = self.world.lighting_at(start + exposure_ms / 2000.0)
            image = render(layers, lighting, exposure_ms, gain, self._rng, scene.noise_sigma)
            if f.fires("cam_black", n):
                image = np.zeros_like(image)
            elif f.fires("cam_overexposed", n):
                image = np.full_like(image, 255)
            frame = SimFrame(
                image,
                start,
                k,
                exposure_ms,
                gain,
                {"lighting": {"white": lighting.white, "uv": lighting.uv}, "source": "hw_sim"},
            )
            self._last = frame
            return frame

    def capture(
        self, after: float, exposure_ms: float, gain: float, timeout_s: float = 2.0
    ) -> Frame:
        """A validated frame begun at or after ``after`` (the station's ``Camera`` protocol)."""
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CameraTimeout(
                    f"camera {self.source}: no frame newer than the lamp change within "
                    f"{timeout_s:.1f}s ({self.stale_frames} stale frames discarded)",
                    fix=RESTART,
                )
            try:
                raw = self.grab(after, exposure_ms, gain, left)
            except SimCameraGone as exc:
                raise CameraDisconnected(
                    f"camera {self.source} disconnected: {exc}", fix=RESTART
                ) from exc
            except SimCameraTimeout as exc:
                raise CameraTimeout(f"camera {self.source} timed out: {exc}", fix=RESTART) from exc
            if raw.timestamp < after:
                self.stale_frames += 1
                time.sleep(0.005)  # the next sensor frame is 33 ms away; do not spin
                continue
            image = check_frame(raw.image, self.source)
            meta = {**raw.metadata, **frame_stats(image), "source": self.source}
            return Frame(image, raw.timestamp, raw.exposure_ms, raw.gain, raw.index, meta)

    def close(self) -> None:
        """Nothing to release: the simulator owns the sensor."""

    def disconnect(self) -> None:
        self.connected = False

    def reconnect(self) -> None:
        self.connected = True
