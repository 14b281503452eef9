"""Safety properties of the real firmware (simavr, stepped time) under random commands, lid
events and link faults, asserted at the pin: on the PWM duty the harness reports.

1. UV is never driven while the lid switch reads open (beyond the firmware's reaction time).
2. No lamp is driven past its lease, nor past the 1 s silence watchdog.
3. Every press of reset boots the firmware again: a BOOT event with a boot id not seen before,
   and both lamp outputs low.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hw_sim.clock import ManualClock
from hw_sim.faults import FaultPlan
from hw_sim.firmware import SteppedFirmware, available
from hw_sim.link import FaultyLink
from hw_sim.world import World
from station.devices.codec import WireFrame, encode

#: the firmware reacts to a lid edge in its pin-change interrupt; allow a generous 1 ms
REACT_US = 1000
SILENCE_US = 1_000_000
#: a frame needs a few ms on the 115200-baud line and LAMP waits 3 ms for the current
SLACK_US = 10_000

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
    st.tuples(st.just("wait"), st.floats(0.0, 1.2)),
)
link_faults = st.lists(
    st.sampled_from(
        ["drop:rate=0.2", "corrupt:rate=0.2", "duplicate:rate=0.2", "truncate:rate=0.1"]
    ),
    max_size=3,
    unique=True,
)


@pytest.fixture(scope="module")
def firmware_ready() -> Iterator[None]:
    problem = available(["firmware"])["firmware"]
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but the firmware cannot run: {problem}")
        pytest.skip(problem)
    yield


class Bench:
    """Host frames through a FaultyLink into the stepped firmware; lid moved by the test."""

    def __init__(self, faults: list[str], seed: int) -> None:
        self.world = World(ManualClock(), seed)
        self.fw = SteppedFirmware(self.world, seed=seed)
        self.link = FaultyLink(self.fw, self.world, FaultPlan.parse(faults, seed))
        self.seq = 0
        self.last = b""
        #: (sim µs, lid open) for every lid change
        self.lid_log: list[tuple[int, bool]] = [(0, False)]
        #: sim µs of every host frame sent, and (sent µs, lease µs) of every LAMP/RENEW
        self.frames: list[int] = []
        self.leases: list[tuple[int, int]] = []
        self.last_lease = 0
        self.boot_ids = [self.fw.boot_id]

    def reset(self) -> None:
        """Press reset; the board must come back with a new boot id and the lamps off."""
        booted = self.fw.boot_count
        self.fw.boot()
        assert self.fw.boot_count == booted + 1, "no BOOT event after a reset: it did not boot"
        assert self.fw.boot_id not in self.boot_ids, f"boot id {self.fw.boot_id} repeated"
        self.boot_ids.append(self.fw.boot_id)
        assert (self.fw.white, self.fw.uv) == (0, 0), "a lamp output is not low after reset"
        self.link.poll()
        self.fw.take_output()

    def send(self, verb: str, **args: str) -> None:
        self.seq = self.seq % 65535 + 1
        self.last = encode(WireFrame("C", self.seq, verb, args))
        self.last_lease = int(args["lease"]) * 1000 if "lease" in args else 0
        self.transmit()

    def transmit(self) -> None:
        self.frames.append(self.fw.sim_us)
        if self.last_lease:
            self.leases.append((self.fw.sim_us, self.last_lease))
        self.link.from_host(self.last)
        self.step(0.01)

    def step(self, seconds: float) -> None:
        self.fw.run(seconds)
        self.link.poll()
        self.fw.take_output()

    def lid(self, open_: bool) -> None:
        self.lid_log.append((self.fw.sim_us, open_))
        if open_:
            self.world.open_lid()
        else:
            self.world.close_lid()
        self.step(0.002)

    def close(self) -> None:
        self.fw.close()


def lid_open_at(log: list[tuple[int, bool]], t: int) -> bool:
    state = False
    for when, open_ in log:
        if when <= t:
            state = open_
    return state


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(action, max_size=25), link_faults, st.integers(0, 3))
def test_firmware_never_drives_uv_with_lid_open_nor_past_a_lease(
    firmware_ready: None, actions: list[tuple], faults: list[str], seed: int
) -> None:
    b = Bench(faults, seed)
    try:
        b.send("HELLO", proto="1.0", host="prop")
        for a in actions:
            kind = a[0]
            if kind == "lamp":
                b.send("LAMP", white=str(a[1]), uv=str(a[2]), lease=str(a[3]))
            elif kind == "renew":
                b.send("RENEW", lease=str(a[1]))
            elif kind in ("off", "status"):
                b.send(kind.upper())
            elif kind == "retransmit" and b.last:
                b.transmit()
            elif kind == "open":
                b.lid(True)
            elif kind == "close":
                b.lid(False)
            elif kind == "reset":
                b.reset()
            elif kind == "hello":
                b.send("HELLO", proto="1.0", host="prop")
            else:
                b.step(a[1])
        b.step(1.5)  # the host goes quiet: everything must go dark
        pwm = b.fw.pwm_log
        assert pwm, "the harness reported no PWM state"
        # 1. UV at the pin while the lid reads open (after the reaction time)
        for i, (t, _white, uv) in enumerate(pwm):
            end = pwm[i + 1][0] if i + 1 < len(pwm) else b.fw.sim_us
            if uv <= 0:
                continue
            for when, open_ in b.lid_log:
                if open_ and t <= when + REACT_US < end:
                    pytest.fail(f"UV {uv}% at the pin {when + REACT_US - when} µs after lid open")
            assert not lid_open_at(b.lid_log, t), f"UV switched on at {t} µs with the lid open"
        # 2. every stretch with a lamp on ends within a lease and within the silence watchdog
        #    of what the host last sent before it ended
        for i, (t, white, uv) in enumerate(pwm):
            if not (white or uv):
                continue
            end = pwm[i + 1][0] if i + 1 < len(pwm) else b.fw.sim_us
            leases = [s + lease for s, lease in b.leases if s <= end]
            frames = [s for s in b.frames if s <= end]
            assert leases and frames, f"lamp on at {t} µs before any LAMP was sent"
            assert end <= max(leases) + SLACK_US, f"lamp on at {end} µs, past its lease"
            assert end <= max(frames) + SILENCE_US + SLACK_US, "lamp on past the silence watchdog"
        assert pwm[-1][1:] == (0.0, 0.0), "a lamp is still on after 1.5 s of silence"
    finally:
        b.close()
