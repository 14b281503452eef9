"""Run the whole simulator: World, controller on a pty, camera (in-process and/or HTTP)."""

from __future__ import annotations

import contextlib
import shutil
import signal
import tempfile
import threading
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path

from hw_sim import port_table, urlhandler
from hw_sim.camera import SimCamera
from hw_sim.clock import Clock
from hw_sim.controller import SimController
from hw_sim.faults import FaultPlan
from hw_sim.firmware import FirmwareController, controller_kind
from hw_sim.http_camera import SnapshotServer
from hw_sim.link import FaultyLink
from hw_sim.ports import LinkServer, MemoryPort, PtyPort
from hw_sim.scenario import Scenario, load_scenario
from hw_sim.world import World


class SimStation:
    """The simulated station hardware. Use as a context manager (or call ``start``/``stop``).

    ``serial_port`` (also ``port_url``) is a stable path (symlink to the pty slave), or an
    ``hwsim://NAME`` pyserial URL with ``port="memory"`` (starting registers the URL handler);
    ``camera_source`` is a string ``station.devices.camera.open_camera`` understands and
    ``camera`` the station ``Camera`` for source "sim". So a SimStation is what
    ``station.devices.factory.open_devices`` takes as simulated devices.
    """

    def __init__(
        self,
        scenario: str | Path | Scenario = "demo",
        faults: Sequence[str] = (),
        seed: int = 0,
        *,
        http_camera: bool = False,
        clock: Clock | None = None,
        fps: float = 30.0,
        latency_frames: int = 3,
        port: str = "pty",
        controller: str | None = None,
    ) -> None:
        self.scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        self.faults = FaultPlan.parse([*self.scenario.faults, *faults], seed)
        self.world = World(clock, seed)
        self._apply_world_faults()
        if self.scenario.start_item is not None:
            self.world.place_item(self.scenario.items[self.scenario.start_item])
        if self.scenario.lid_open:
            self.world.open_lid()
        version = self.faults.of("version")
        proto = version[0].param("proto", "2.0") if version else "1.0"
        #: python (hw_sim.controller) or firmware (the .elf in simavr, hw_sim.firmware)
        self.controller_kind = controller_kind(controller)
        self.controller: SimController | FirmwareController
        if self.controller_kind == "firmware":
            self.controller = FirmwareController(self.world, proto=proto, seed=seed)
        else:
            self.controller = SimController(self.world, proto=proto, seed=seed)
        self.link = FaultyLink(
            self.controller, self.world, self.faults, self.scenario.script, self._place_item
        )
        self._dir = Path(tempfile.mkdtemp(prefix="hwsim-"))
        # a SimStation that is never started or stopped still leaves no temp dir behind
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._dir, True)
        self._memory: MemoryPort | None = None
        if port == "memory":
            self._memory = MemoryPort(port_table.new_name())
            self.server = LinkServer(self.link, self._memory)
        elif port == "pty":
            self.server = LinkServer(self.link, PtyPort(self._dir / "lampctl"))
        else:
            raise ValueError(f"port must be 'pty' or 'memory', not {port!r}")
        self.camera = SimCamera(self.world, self.faults, fps=fps, latency_frames=latency_frames)
        self._http = SnapshotServer(self.camera) if http_camera else None
        self._started = False

    def _apply_world_faults(self) -> None:
        for f in self.faults.of("nostrike"):
            self.world.set_health(f.param("lamp", "uv"), strikes=False)
        for f in self.faults.of("dim"):
            self.world.set_health(
                f.param("lamp", "uv"), output_factor=float(f.param("factor", "0.4"))
            )
        for f in self.faults.of("aged"):
            self.world.set_health(
                f.param("lamp", "uv"),
                output_factor=float(f.param("factor", "0.4")),
                current_factor=1.0,
            )
        for f in self.faults.of("stuck"):
            sensor = f.param("sensor", "item")
            value = f.param("value", "1").lower() in ("1", "true", "closed", "present")
            self.world.stuck[sensor] = value

    def _place_item(self, index: int) -> None:
        self.world.place_item(self.scenario.items[index])

    @property
    def serial_port(self) -> str:
        return self.server.path

    @property
    def port_url(self) -> str:
        """The pyserial URL or path the station opens (the same as ``serial_port``)."""
        return self.server.path

    @property
    def camera_source(self) -> str:
        if self._http is not None:
            return "snapshot+" + self._http.url
        return "sim"

    def start(self) -> SimStation:
        if not self._started:
            if self._memory is not None:
                urlhandler.register()
                port_table.register(self._memory)
            self.server.start()
            if self._http is not None:
                self._http.start()
            self._started = True
        return self

    def stop(self) -> None:
        if self._started:
            self._started = False
            if self._http is not None:
                self._http.stop()
            self.server.stop()
            if self._memory is not None:
                port_table.unregister(self._memory)
        if isinstance(self.controller, FirmwareController):
            self.controller.close()
        self._cleanup()

    def __enter__(self) -> SimStation:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_forever(
    scenario: str | Path = "demo",
    faults: Sequence[str] = (),
    on_ready: Callable[[str, str], None] | None = None,
    seed: int = 0,
    stop: threading.Event | None = None,
    controller: str | None = None,
) -> None:
    """The standalone simulator behind ``station sim``: calls ``on_ready(port, camera_source)``
    once listening, then runs until ``stop`` is set or KeyboardInterrupt. ``controller``:
    python or firmware (default: $STATION_SIM_CONTROLLER, else python)."""
    stop = stop or threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        # `kill` (SIGTERM) should clean up the pty link and temp dir just like Ctrl-C
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with SimStation(scenario, faults, seed, http_camera=True, controller=controller) as sim:
            if on_ready is not None:
                on_ready(sim.serial_port, sim.camera_source)
            # Ctrl-C ends the simulator like `kill` does: the with-block cleans up either way
            with contextlib.suppress(KeyboardInterrupt):
                stop.wait()
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
