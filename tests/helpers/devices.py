"""Host settings and waits for tests that drive the simulated board in real time.

The board answers in milliseconds, but CI runs ``pytest -n 2`` on two loaded cores, where a
simulator process or thread can wait far longer for the CPU. Time-outs here are safety nets
sized for that; the host's retries are exercised by the faults a test injects on purpose,
never by a starved process. Waits are on a condition that is looked at again whenever the
world or the host's controller changes, never on the wall clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from hw_sim.world import World
from station.devices.lamp import LampController
from station.settings import DeviceSettings

#: one reply time-out: far above any reply of a healthy board, even on a loaded machine
REPLY_TIMEOUT_S = 1.0
#: the lamp lease the tests' host asks for unless a test is about leases (renewed every 300 ms)
LEASE_MS = 3000
#: how long a wait may take before the test gives up: a hung simulator, not a slow one
SAFETY_NET_S = 60.0


def device_settings(**overrides: object) -> DeviceSettings:
    """Settings for a host that talks to the simulated board (overrides win)."""
    values: dict[str, object] = {
        "reply_timeout_s": REPLY_TIMEOUT_S,
        "retries": 4,
        "lease_ms": LEASE_MS,
    }
    values.update(overrides)
    return DeviceSettings.model_validate(values)


def device_env() -> dict[str, str]:
    """The same host settings for a `station serve` subprocess (its environment)."""
    return {
        "STATION_DEVICES__REPLY_TIMEOUT_S": str(REPLY_TIMEOUT_S),
        "STATION_DEVICES__RETRIES": "4",
        "STATION_DEVICES__LEASE_MS": str(LEASE_MS),
    }


class Changes:
    """Wakes a waiting test whenever the World (lid, item, lamp drive) changes or the host's
    controller applies an event, so a condition on either is looked at again at once."""

    def __init__(self, world: World, *controllers: LampController) -> None:
        # an Event, not a Condition: World listeners run under the World's lock, so the waiter
        # must never hold a lock of ours while its predicate asks the World something
        self._changed = threading.Event()
        drive = world.drive_lamps

        def drive_and_wake(white: int, uv: int) -> None:
            drive(white, uv)
            self._changed.set()

        world.drive_lamps = drive_and_wake  # type: ignore[method-assign]
        world.subscribe(lambda _what, _value: self._changed.set())
        for ctl in controllers:
            self.watch(ctl)

    def watch(self, ctl: LampController) -> None:
        ctl.add_event_listener(lambda _event: self._changed.set())

    def until(self, predicate: Callable[[], bool], timeout: float = SAFETY_NET_S) -> bool:
        """True once ``predicate()`` holds; False if the safety net ran out first."""
        deadline = time.monotonic() + timeout
        while True:
            self._changed.clear()
            if predicate():
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._changed.wait(left)
