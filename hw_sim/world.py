"""The physical world the simulated hardware observes: lid, item, lamps, light over time.

Shared by the simulated controller (which reads the switches and drives the lamps) and the
simulated camera (which renders the item under the light that was on when a frame started).
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hw_sim.clock import Clock, MonotonicClock
from hw_sim.scene import Lighting, Scene

#: time for a lamp's light output to reach its new level (linear ramp)
LAMP_RISE_S = 0.02
#: lamp current at 100 % (mA)
NOMINAL_MA = {"white": 350, "uv": 500}

WorldListener = Callable[[str, object], None]


@dataclass
class LampHealth:
    """How a lamp responds to drive: strikes at all, and what fraction of light it gives."""

    strikes: bool = True
    output_factor: float = 1.0
    #: an aged LED draws its full current but gives less light: only the reference patch
    #: shows it (None: the current follows the light, as for a failing driver)
    current_factor: float | None = None


class World:
    """Lid, item and lamp state with a time history of the light, all behind one lock."""

    def __init__(self, clock: Clock | None = None, seed: int = 0) -> None:
        self.clock: Clock = clock or MonotonicClock()
        self.rng = np.random.default_rng(seed)
        self._lock = threading.RLock()
        self._lid_open = False
        self._item: Scene | None = None
        self._item_version = 0
        self._drive = {"white": 0, "uv": 0}
        self.health = {"white": LampHealth(), "uv": LampHealth()}
        #: sensor name -> forced value (a stuck switch), e.g. {"item": True}
        self.stuck: dict[str, bool] = {}
        # light history: times and (white, uv) output fractions after each change
        self._hist_t: list[float] = [self.clock.now() - 10.0]
        self._hist_v: list[tuple[float, float]] = [(0.0, 0.0)]
        self._listeners: list[WorldListener] = []

    # ------------------------------------------------------------ observers
    def subscribe(self, listener: WorldListener) -> None:
        """``listener(what, value)`` is called after ``lid`` or ``item`` changes."""
        self._listeners.append(listener)

    def _notify(self, what: str, value: object) -> None:
        for listener in list(self._listeners):
            listener(what, value)

    # ------------------------------------------------------------ lid and item
    @property
    def lid_open(self) -> bool:
        """The real lid position."""
        return self._lid_open

    def lid_switch_open(self) -> bool:
        """What the lid switch reports (may be stuck)."""
        if "lid" in self.stuck:
            return not self.stuck["lid"]  # stuck value is "closed"
        return self._lid_open

    def item_sensor(self) -> bool:
        if "item" in self.stuck:
            return self.stuck["item"]
        return self._item is not None

    def open_lid(self) -> None:
        with self._lock:
            changed = not self._lid_open
            self._lid_open = True
            self._apply_drive()  # the lid switch is in series with the UV driver
        if changed:
            self._notify("lid", "open")

    def close_lid(self) -> None:
        with self._lock:
            changed = self._lid_open
            self._lid_open = False
            self._apply_drive()
        if changed:
            self._notify("lid", "closed")

    def place_item(self, scene: Scene) -> None:
        with self._lock:
            self._item = scene
            self._item_version += 1
        self._notify("item", True)

    def remove_item(self) -> None:
        with self._lock:
            had = self._item is not None
            self._item = None
            self._item_version += 1
        if had:
            self._notify("item", False)

    @property
    def item(self) -> Scene | None:
        return self._item

    @property
    def item_version(self) -> int:
        return self._item_version

    # ------------------------------------------------------------ lamps
    def drive_lamps(self, white: int, uv: int) -> None:
        """The controller's output stage: set drive levels (percent); light follows.

        Like the real board, UV power runs through the lid switch: with the switch open no UV
        is emitted whatever the firmware commands. The firmware's own interlock is tested
        separately (tests/hw_sim/test_safety.py) against its commanded state.
        """
        with self._lock:
            self._drive = {"white": white, "uv": uv}
            self._apply_drive()

    def _apply_drive(self) -> None:
        with self._lock:
            white, uv = self._drive["white"], self._drive["uv"]
            if self.lid_switch_open():
                uv = 0
            now = self.clock.now()
            target = (self._output("white", white), self._output("uv", uv))
            if self._hist_v[-1] != target:
                self._hist_t.append(now)
                self._hist_v.append(target)
                if len(self._hist_t) > 4096:
                    del self._hist_t[:2048], self._hist_v[:2048]

    def _output(self, lamp: str, level: int) -> float:
        h = self.health[lamp]
        return 0.0 if not h.strikes else level / 100.0 * h.output_factor

    def drive(self, lamp: str) -> int:
        """Commanded drive level (percent) as the firmware set it."""
        return self._drive[lamp]

    def emitting(self, lamp: str) -> float:
        """Light the lamp is emitting or heading for (fraction of full), after the lid gate
        and lamp health; zero means it is off or switching off."""
        with self._lock:
            white, uv = self._hist_v[-1]
        return white if lamp == "white" else uv

    def lamp_current_ma(self, lamp: str) -> int:
        level = self._drive[lamp]
        if lamp == "uv" and self.lid_switch_open():
            level = 0
        h = self.health[lamp]
        if not level or not h.strikes:
            return 0
        factor = h.output_factor if h.current_factor is None else h.current_factor
        return round(NOMINAL_MA[lamp] * level / 100.0 * factor)

    def lighting_at(self, t: float) -> Lighting:
        """Light at time ``t``, ramping linearly over LAMP_RISE_S after each change."""
        with self._lock:
            i = bisect.bisect_right(self._hist_t, t) - 1
            if i < 0:
                return Lighting(0.0, 0.0)
            cur = self._hist_v[i]
            prev = self._hist_v[i - 1] if i > 0 else cur
            frac = min(1.0, (t - self._hist_t[i]) / LAMP_RISE_S)
        if frac >= 1.0:
            return Lighting(white=cur[0], uv=cur[1])
        w = prev[0] + (cur[0] - prev[0]) * frac
        u = prev[1] + (cur[1] - prev[1]) * frac
        return Lighting(white=w, uv=u)

    def set_health(
        self,
        lamp: str,
        strikes: bool = True,
        output_factor: float = 1.0,
        current_factor: float | None = None,
    ) -> None:
        with self._lock:
            self.health[lamp] = LampHealth(strikes, output_factor, current_factor)
            self.drive_lamps(self._drive["white"], self._drive["uv"])
