"""Simulated camera: renders the World's item under the light that was on when a frame began.

Frames come from a free-running 30 fps sensor with a pipeline ``latency_frames`` deep: at any
moment the newest finished frame started that long ago. A caller that ignores ``after`` gets
a frame lit the way the lamps were before its last command — exactly the bug the ``after``
argument exists to prevent.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hw_sim.faults import FaultPlan
from hw_sim.scene import Scene as _Scene
from hw_sim.scene import SceneLayers, build_layers, render
from hw_sim.world import World


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


EMPTY_TRAY = _Scene(item_box=(0, 0, 0, 0))


class SimCamera:
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

    def disconnect(self) -> None:
        self.connected = False

    def reconnect(self) -> None:
        self.connected = True
