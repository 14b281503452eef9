"""The one place the station meets its simulator (``--sim``, ``station sim``).

Imports point one way: product (``station``) <- this module <- simulator (``hw_sim``). Nothing
else in ``station`` imports ``hw_sim``, and this module does so only inside its functions, so
an installation without the simulator never loads it. What the simulator hands over goes
through the station's own interfaces: a pyserial port URL and a ``Camera``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from station.devices.camera import Camera
from station.settings import StationSettings

if TYPE_CHECKING:  # types only: never imported at run time from here
    from hw_sim.controller import SimController
    from hw_sim.faults import FaultPlan
    from hw_sim.firmware import FirmwareController
    from hw_sim.runner import SimStation
    from hw_sim.world import World


@dataclass(frozen=True)
class SimHandle:
    """A running simulator, as the station sees it (``SimulatedDevices``) plus, for tests and
    the doctor, the simulated world, controller and fault plan to drive."""

    station: SimStation

    @property
    def port_url(self) -> str:
        return self.station.port_url

    @property
    def camera_source(self) -> str:
        return self.station.camera_source

    @property
    def camera(self) -> Camera:
        return self.station.camera

    @property
    def world(self) -> World:
        return self.station.world

    @property
    def controller(self) -> SimController | FirmwareController:
        return self.station.controller

    @property
    def faults(self) -> FaultPlan:
        return self.station.faults


@contextmanager
def start_simulator(
    settings: StationSettings,
    *,
    faults: Sequence[str] = (),
    scenario: str | None = None,
    seed: int = 0,
    port: str = "pty",
    http_camera: bool = False,
    controller: str | None = None,
) -> Iterator[SimHandle]:
    """Run the simulated hardware for the length of the ``with`` block.

    The scenario is ``scenario`` or ``settings.sim_scenario``; the faults are
    ``settings.sim_faults`` followed by ``faults``. ``port`` is "pty" (a pseudo-terminal, as
    real hardware) or "memory" (the ``hwsim://`` pyserial URL). ``controller`` is "python" or
    "firmware" (the AVR firmware in simavr; default $STATION_SIM_CONTROLLER, else python).
    Hand the handle to
    ``station.devices.factory.open_devices(settings, handle)``.
    """
    from hw_sim.runner import SimStation

    sim = SimStation(
        scenario or settings.sim_scenario or "demo",
        [*settings.sim_faults, *faults],
        seed,
        port=port,
        http_camera=http_camera,
        controller=controller,
    )
    with sim:
        yield SimHandle(sim)


def serve_simulator_forever(
    scenario: str = "demo",
    faults: Sequence[str] = (),
    seed: int = 0,
    on_ready: Callable[[str, str], None] | None = None,
    stop: threading.Event | None = None,
    controller: str | None = None,
) -> None:
    """``station sim``: run the simulator on its own (pty and HTTP camera) until ``stop`` is
    set, SIGTERM or Ctrl-C; ``on_ready(port, camera_source)`` once it listens."""
    from hw_sim.runner import serve_forever

    serve_forever(scenario, faults, on_ready=on_ready, seed=seed, stop=stop, controller=controller)
