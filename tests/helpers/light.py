"""Wait for the simulated lamps to go dark on a condition, not by polling the light."""

from __future__ import annotations

import threading
import time

from hw_sim.world import World


class LightWatch:
    """Wakes a waiting test whenever the World's lamp drive or lid changes.

    Both controllers (Python and firmware) switch the light through ``World.drive_lamps``
    and the lid gates UV through ``World.open_lid``, so those are the moments to look again.
    """

    def __init__(self, world: World) -> None:
        self.world = world
        # an Event, not a Condition: the lid listener runs while the World holds its lock, so
        # the waiter must never hold a lock of ours while it asks the World for the light
        self._changed = threading.Event()
        drive = world.drive_lamps

        def drive_and_wake(white: int, uv: int) -> None:
            drive(white, uv)
            self._changed.set()

        world.drive_lamps = drive_and_wake  # type: ignore[method-assign]
        world.subscribe(lambda _what, _value: self._changed.set())

    def dark(self) -> bool:
        return not (self.world.emitting("white") or self.world.emitting("uv"))

    def wait_dark(self, timeout: float) -> bool:
        """True once no lamp emits; False if ``timeout`` (a safety net) ran out first."""
        deadline = time.monotonic() + timeout
        while True:
            self._changed.clear()
            if self.dark():
                return True
            left = deadline - time.monotonic()
            if left <= 0 or not self._changed.wait(left):
                return self.dark()
