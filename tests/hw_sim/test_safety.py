"""Safety properties under random commands, lid events and link faults (hypothesis).

1. The firmware never has UV commanded on while the lid switch reads open.
2. Once the host stops, every lamp is off within its lease, and within the 1 s silence
   watchdog whatever lease was asked for.

Driven deterministically: the firmware and the fault-injecting link run on a manual clock,
the host side uses the station's codec, so each example is exact and takes milliseconds.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hw_sim.clock import ManualClock
from hw_sim.controller import LEASE_MIN_MS, SILENCE_S, SimController
from hw_sim.faults import FaultPlan
from hw_sim.link import FaultyLink
from hw_sim.runner import SimStation
from hw_sim.world import World
from station.devices.codec import FrameDecoder, WireFrame, encode
from station.devices.lamp import LampController
from station.errors import DeviceError
from tests.helpers.devices import SAFETY_NET_S, device_settings
from tests.helpers.light import LightWatch

STEP = 0.01

action = st.one_of(
    st.tuples(st.just("lamp"), st.integers(0, 100), st.integers(0, 100), st.integers(50, 6000)),
    st.tuples(st.just("renew"), st.integers(50, 6000)),
    st.tuples(st.just("off")),
    st.tuples(st.just("status")),
    st.tuples(st.just("retransmit")),
    st.tuples(st.just("open")),
    st.tuples(st.just("close")),
    st.tuples(st.just("reset")),
    st.tuples(st.just("hello")),
    st.tuples(st.just("wait"), st.floats(0.0, 0.7)),
)
link_faults = st.lists(
    st.sampled_from(
        [
            "drop:rate=0.2",
            "corrupt:rate=0.2",
            "duplicate:rate=0.2",
            "truncate:rate=0.1",
            "latency:ms=120,rate=0.3",
            "garbage:bytes=30",
        ]
    ),
    max_size=3,
    unique=True,
)


class Bench:
    def __init__(self, faults: list[str], seed: int, lid_open: bool) -> None:
        self.clock = ManualClock()
        self.world = World(self.clock, seed)
        if lid_open:
            self.world.open_lid()
        self.fw = SimController(self.world, seed=seed)
        self.link = FaultyLink(self.fw, self.world, FaultPlan.parse(faults, seed))
        self.decoder = FrameDecoder()
        self.seq = 0
        self.last_frame = b""
        self.last_lease = 0
        #: latest time by which the lamps must be off if the host says nothing more
        self.off_by = self.clock.now()

    def check(self) -> None:
        assert not (self.fw.uv and self.world.lid_switch_open()), "UV on with lid open"
        assert not (self.world.emitting("uv") and self.world.lid_switch_open())
        now = self.clock.now()
        if now > self.off_by + STEP:
            assert self.fw.white == 0 and self.fw.uv == 0, "lamp on after its lease"

    def tick(self) -> None:
        self.link.poll()
        for out in self.link.due():
            self.decoder.feed(out.data)
        self.check()

    def send(self, verb: str, **args: str) -> None:
        self.seq = self.seq % 65535 + 1
        self.last_frame = encode(WireFrame("C", self.seq, verb, args))
        self.last_lease = int(args.get("lease", "0"))
        self.transmit(self.last_frame, self.last_lease)

    def transmit(self, data: bytes, lease_ms: int) -> None:
        now = self.clock.now()
        if not LEASE_MIN_MS <= lease_ms <= self.fw.lease_max_ms:
            # refused (NAK RANGE), so the lease is unchanged; the frame still feeds the
            # silence watchdog, like a frame without a lease
            lease_ms = 0
        # any frame may be the one that keeps the lamps on: the silence watchdog allows 1 s
        self.off_by = max(self.off_by, now + min(SILENCE_S, lease_ms / 1000.0))
        if lease_ms == 0:
            # RENEW/LAMP without lease can't extend; other frames only feed the watchdog
            self.off_by = max(self.off_by, min(now + SILENCE_S, self.fw.lease_until))
        self.link.from_host(data)
        self.tick()

    def wait(self, seconds: float) -> None:
        t = 0.0
        while t < seconds:
            self.clock.advance(STEP)
            t += STEP
            self.tick()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(action, max_size=40), link_faults, st.integers(0, 2**16), st.booleans())
def test_interlock_and_lease_hold_under_random_events_and_faults(
    actions: list[tuple[object, ...]], faults: list[str], seed: int, lid_open: bool
) -> None:
    b = Bench(faults, seed, lid_open)
    b.send("HELLO", proto="1.0", host="prop")
    for act in actions:
        kind = act[0]
        if kind == "lamp":
            b.send("LAMP", white=str(act[1]), uv=str(act[2]), lease=str(act[3]))
        elif kind == "renew":
            b.send("RENEW", lease=str(act[1]))
        elif kind == "off":
            b.send("OFF")
        elif kind == "status":
            b.send("STATUS")
        elif kind == "retransmit" and b.last_frame:
            b.transmit(b.last_frame, b.last_lease)
        elif kind == "open":
            b.world.open_lid()
            b.tick()
        elif kind == "close":
            b.world.close_lid()
            b.tick()
        elif kind == "reset":
            b.fw.boot()
            b.tick()
        elif kind == "hello":
            b.send("HELLO", proto="1.0", host="prop")
        elif kind == "wait":
            b.wait(float(act[1]))  # type: ignore[arg-type]
    # the host stops here: everything must be dark within the lease and the 1 s watchdog
    stopped = b.clock.now()
    b.wait(SILENCE_S + 3 * STEP)
    assert b.fw.white == 0 and b.fw.uv == 0
    assert b.world.emitting("white") == 0 and b.world.emitting("uv") == 0
    assert b.clock.now() - stopped <= SILENCE_S + 4 * STEP


lid_script = st.lists(
    st.tuples(
        st.sampled_from(["open", "close", "uv", "white", "off", "confirm"]),
        st.floats(0.0, 0.05),
    ),
    min_size=3,
    max_size=10,
)


@pytest.mark.controllers
@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(lid_script, st.sampled_from([(), ("corrupt:rate=0.05",), ("drop:rate=0.05",)]))
def test_real_link_uv_never_emitted_with_lid_open_and_dark_after_host_stops(
    script: list[tuple[str, float]], faults: tuple[str, ...]
) -> None:
    settings_ = device_settings(lease_ms=400)
    with SimStation("demo", faults, seed=1) as sim:
        world = sim.world
        light = LightWatch(world)
        ctl = LampController.connect(sim.serial_port, settings_)
        try:
            for what, pause in script:
                try:
                    if what == "open":
                        world.open_lid()
                    elif what == "close":
                        world.close_lid()
                    elif what == "uv":
                        ctl.set_lamps(0, 100)
                    elif what == "white":
                        ctl.set_lamps(100, 0)
                    elif what == "off":
                        ctl.all_off()
                    else:
                        ctl.confirm_lamps()
                except DeviceError:
                    pass  # refusals and aborts are allowed; unsafe light is not
                assert not (world.lid_switch_open() and world.emitting("uv"))
                time.sleep(pause)
            # the host hangs: no renewals, no frames
            with ctl.renewal_suspended():
                mark = len(sim.controller.watchdog_reasons)
                was_on = not light.dark()
                # only a safety net: the lease (400 ms) ends it long before
                assert light.wait_dark(SAFETY_NET_S), "lamp never went off"
                if was_on:
                    # the lease, not the 1 s silence watchdog, ended it: the controller says
                    # why (not a wall-clock bound, which a loaded machine would break)
                    reason = sim.controller.wait_watchdog(mark, SAFETY_NET_S)
                    assert reason == "lease", "lamp outlived its lease"
        finally:
            ctl.close()
