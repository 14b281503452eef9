"""The wire between host and simulated controller, where faults are injected frame by frame."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from hw_sim.board import Board
from hw_sim.controller import SimController
from hw_sim.faults import Fault, FaultPlan, FaultSpecError
from hw_sim.world import World


@dataclass
class Outgoing:
    due: float
    data: bytes
    trickle_s: float = 0.0


@dataclass
class ScriptStep:
    """A scenario event that fires when the controller has received frame ``at_frame``."""

    at_frame: int
    action: str  # open_lid | close_lid | remove_item | place_item:<index>


class FaultyLink:
    """Splits both directions into frames, applies the fault plan, and feeds the firmware.

    Frames are counted per direction from 1; every fault is scheduled by those counts.
    """

    def __init__(
        self,
        controller: Board,
        world: World,
        faults: FaultPlan,
        script: list[ScriptStep] | None = None,
        place_item: object | None = None,
    ) -> None:
        self.controller = controller
        self.world = world
        self.faults = faults
        self.clock = world.clock
        self.in_count = 0
        self.out_count = 0
        self._inbuf = bytearray()
        self._queue: list[Outgoing] = []
        self._lock = threading.Lock()
        self._greeted = False
        self._uv_on_at: int | None = None
        self._script = sorted(script or [], key=lambda s: s.at_frame)
        self._place_item = place_item
        #: set when a ``vanish`` fault fires: milliseconds the port should stay away
        self.vanish_ms: int | None = None
        #: set when an ``after_reply`` fault fired: the next output leaves as one write
        self._coalesce = False

    def port_reopened(self) -> None:
        """A new host connection: the next host frame triggers the open-time garbage again."""
        with self._lock:
            self._greeted = False
            self._inbuf.clear()
            self._queue.clear()

    # ------------------------------------------------------------ host -> controller
    def from_host(self, data: bytes) -> None:
        with self._lock:
            self._inbuf.extend(data)
            while True:
                nl = self._inbuf.find(b"\n")
                if nl < 0:
                    break
                unit = bytes(self._inbuf[: nl + 1])
                del self._inbuf[: nl + 1]
                self._deliver_in(unit)

    def _deliver_in(self, unit: bytes) -> None:
        self.in_count += 1
        k = self.in_count
        f = self.faults
        if not self._greeted:
            self._greeted = True
            g = next(iter(f.of("garbage")), None)
            if g is not None:
                f.fired["garbage"] = f.fired.get("garbage", 0) + 1
                noise = f.random_bytes(int(g.param("bytes", "48")))
                banner = b"\r\nLampCtl boot ROM v2\r\nchecking lamps... ok\r\n"
                self._queue.append(Outgoing(self.clock.now(), noise + banner + noise[:7]))
        for step in [s for s in self._script if s.at_frame == k]:
            self._run_step(step)
        if f.fires("reset", k):
            self.controller.boot()
        if f.fires("vanish", k):
            vanish = f.of("vanish")[0]
            self.vanish_ms = int(vanish.param("ms", "400"))
            return
        if f.fires("silent", k) or f.fires("deaf", k):
            return
        if f.fires("drop", k, "in"):
            return
        if f.fires("corrupt", k, "in"):
            unit = _flip_bit(unit, f.random_bit(max(1, len(unit) - 3)))
        if f.fires("truncate", k, "in"):
            unit = unit[: max(1, len(unit) // 2)]
        copies = 2 if f.fires("duplicate", k, "in") else 1
        if self.controller.uv and self._uv_on_at is None and f.has("lid_during_uv"):
            self._uv_on_at = k - 1  # a board that reports its outputs a little later
        self._lid_during_uv(k)
        for _ in range(copies):
            self.controller.feed(unit)
        after = f.fires("after_reply", k)
        if after is not None:
            self._after_reply(after)
        if self.controller.uv and self._uv_on_at is None and f.has("lid_during_uv"):
            self._uv_on_at = k

    def _lid_during_uv(self, k: int) -> None:
        """Open the lid *before* host frame k is handled, ``frames`` frames after UV came on."""
        faults = self.faults.of("lid_during_uv")
        if not faults or self._uv_on_at is None:
            return
        if k - self._uv_on_at >= int(faults[0].param("frames", "1")):
            self.faults.fired["lid_during_uv"] = self.faults.fired.get("lid_during_uv", 0) + 1
            self.world.open_lid()
            self.faults.faults = [x for x in self.faults.faults if x.kind != "lid_during_uv"]

    def _after_reply(self, fault: Fault) -> None:
        """Something happens just after the board answered: its events follow the reply at once.

        The reply and those events are sent in one write, so a host sees them in one read, as
        it would when the board's UART burst arrives in one USB packet.
        """
        action = fault.param("do", "open_lid")
        if action == "open_lid":
            self.world.open_lid()
        elif action == "close_lid":
            self.world.close_lid()
        elif action == "remove_item":
            self.world.remove_item()
        elif action == "lease":
            if not isinstance(self.controller, SimController):
                raise FaultSpecError(
                    "after_reply:do=lease needs the Python controller (the firmware's lease "
                    "timer cannot be moved from outside)"
                )
            self.controller.expire_lease()
        elif action == "reset":
            self.controller.boot()
        self._coalesce = True

    def _run_step(self, step: ScriptStep) -> None:
        if step.action == "open_lid":
            self.world.open_lid()
        elif step.action == "close_lid":
            self.world.close_lid()
        elif step.action == "remove_item":
            self.world.remove_item()
        elif step.action.startswith("place_item") and callable(self._place_item):
            self._place_item(int(step.action.partition(":")[2] or 0))

    # ------------------------------------------------------------ controller -> host
    def poll(self) -> None:
        """Run the firmware's timers and queue its output through the outbound faults."""
        self.controller.poll()
        out = self.controller.take_output()
        if not out:
            return
        with self._lock:
            now = self.clock.now()
            chunks: list[Outgoing] = []
            for unit in out:
                if not unit.startswith(b"$"):
                    chunks.append(Outgoing(now, unit))  # banner text: not a frame
                    continue
                self.out_count += 1
                chunks.extend(self._deliver_out(unit, self.out_count, now))
            if self._coalesce and chunks:
                self._coalesce = False
                chunks = [Outgoing(max(c.due for c in chunks), b"".join(c.data for c in chunks))]
            self._queue.extend(chunks)

    def _deliver_out(self, unit: bytes, k: int, now: float) -> list[Outgoing]:
        """The chunks frame ``k`` becomes after the outbound faults (none when it is lost)."""
        f = self.faults
        if self._silenced(k):
            return []
        if f.fires("drop", k, "out"):
            return []
        if f.fires("corrupt", k, "out"):
            unit = _flip_bit(unit, f.random_bit(max(1, len(unit) - 3)))
        if f.fires("truncate", k, "out"):
            unit = unit[: max(1, len(unit) // 2)]
        delay = 0.0
        lat = f.fires("latency", k)
        if lat is not None:
            delay = int(lat.param("ms", "200")) / 1000.0
        trickle = f.fires("trickle", k)
        gap = int(trickle.param("ms", "1")) / 1000.0 if trickle else 0.0
        copies = 2 if f.fires("duplicate", k, "out") else 1
        return [Outgoing(now + delay, unit, gap) for _ in range(copies)]

    def _silenced(self, out_k: int) -> bool:
        for s in self.faults.of("silent"):
            # silence is scheduled by the inbound count: once the host frame k is swallowed
            # the controller says nothing until the window ends
            if s.scheduled(self.in_count) and (s.start is not None or s.at is not None):
                return True
        return False

    def due(self) -> list[Outgoing]:
        """Outgoing chunks whose time has come, in order."""
        with self._lock:
            now = self.clock.now()
            ready: list[Outgoing] = []
            while self._queue and self._queue[0].due <= now:
                ready.append(self._queue.pop(0))
            return ready


def _flip_bit(unit: bytes, pos: int) -> bytes:
    """Flip one low bit of a body byte: the frame still looks like a frame but fails its CRC."""
    data = bytearray(unit)
    i = 1 + pos % max(1, len(data) - 3)
    flipped = data[i] ^ 0x01
    if flipped in (0x24, 0x0A, 0x0D, 0x2A) or not 0x20 <= flipped <= 0x7E:
        flipped = data[i] ^ 0x02
    if flipped in (0x24, 0x0A, 0x0D, 0x2A) or not 0x20 <= flipped <= 0x7E:
        flipped = 0x3F if data[i] != 0x3F else 0x40
    data[i] = flipped
    return bytes(data)


__all__ = ["Fault", "FaultyLink", "Outgoing", "ScriptStep"]
