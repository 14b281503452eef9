"""Drive the simulated firmware directly (no pty) with the station's codec and a manual clock.

The station codec and the simulator are independent implementations of docs/protocol.md, so
every exchange here also checks that the two agree.
"""

from __future__ import annotations

from hw_sim.clock import ManualClock
from hw_sim.controller import SimController
from hw_sim.world import World
from station.devices.codec import BadFrame, FrameDecoder, WireFrame, encode


class FirmwareHost:
    def __init__(self, seed: int = 0, **kwargs: object) -> None:
        self.clock = ManualClock()
        self.world = World(self.clock, seed)
        self.fw = SimController(self.world, seed=seed, **kwargs)  # type: ignore[arg-type]
        self.decoder = FrameDecoder()
        self.seq = 0
        self.events: list[WireFrame] = []
        self.bad: list[BadFrame] = []
        self.drain()

    def drain(self) -> list[WireFrame]:
        self.fw.poll()
        replies = []
        for unit in self.fw.take_output():
            for item in self.decoder.feed(unit):
                if isinstance(item, BadFrame):
                    self.bad.append(item)
                elif item.kind == "E":
                    self.events.append(item)
                else:
                    replies.append(item)
        return replies

    def raw(self, data: bytes) -> list[WireFrame]:
        self.fw.feed(data)
        return self.drain()

    def send(self, verb: str, seq: int | None = None, **args: str) -> WireFrame:
        if seq is None:
            self.seq += 1
            seq = self.seq
        replies = self.raw(encode(WireFrame("C", seq, verb, args)))
        assert len(replies) == 1, replies
        assert replies[0].seq == seq
        return replies[0]

    def hello(self) -> WireFrame:
        return self.send("HELLO", proto="1.0", host="test")

    def advance(self, seconds: float, step: float = 0.05) -> None:
        left = seconds
        while left > 1e-9:
            dt = min(step, left)
            self.clock.advance(dt)
            left -= dt
            self.drain()
