"""The firmware comes back after every reset, in the simulator as on the board: the reset
button (an external reset) and the AVR's own watchdog resetting a hung firmware. Each boot
announces a new boot id and starts with both lamp outputs low, whatever the lid does.

Stepped time (simulated µs), so nothing here depends on how busy the machine is.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from hw_sim.clock import ManualClock
from hw_sim.firmware import BUILD_DIR, SteppedFirmware, available
from hw_sim.world import World
from station.devices.codec import WireFrame, encode

#: the firmware arms its watchdog at 250 ms; simavr's 128 kHz watchdog clock is exact
WATCHDOG_US = 250_000
HANG_ELF = BUILD_DIR / "lampctl-hang.elf"


@pytest.fixture(scope="module")
def firmware_ready() -> Iterator[None]:
    problem = available(["firmware"])["firmware"]
    if problem is None and not HANG_ELF.exists():
        problem = f"{HANG_ELF} is missing: build it with `make -C firmware sim`"
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but the firmware cannot run: {problem}")
        pytest.skip(problem)
    yield


class Host:
    """Frames straight into the stepped firmware (no link faults: these tests are about the
    board) and the replies it sends back, parsed."""

    def __init__(self, fw: SteppedFirmware) -> None:
        self.fw = fw
        self.seq = 0

    def ask(self, verb: str, **args: str) -> str:
        """Send one command, run 30 ms of simulated time, return the body of its reply."""
        self.seq += 1
        self.fw.feed(encode(WireFrame("C", self.seq, verb, args)))
        self.fw.run(0.03)
        replies = [
            line.decode("ascii").strip()
            for line in self.fw.take_output()
            if line.startswith(f"$R{self.seq} ".encode())
        ]
        assert replies, f"the firmware did not answer {verb} (sequence {self.seq})"
        return replies[-1][1:].split("*")[0]


def fields(body: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in body.split()[2:] if "=" in part)


def setup_world(lid: str) -> World:
    world = World(ManualClock(), 3)
    if lid == "open":
        world.open_lid()
    elif lid == "stuck-closed":
        world.stuck["lid"] = True
    return world


@pytest.mark.parametrize("lid", ["closed", "open", "stuck-closed"])
def test_every_press_of_reset_boots_the_firmware_again_with_a_new_boot_id(
    firmware_ready: None, lid: str
) -> None:
    fw = SteppedFirmware(setup_world(lid), seed=7)
    try:
        host = Host(fw)
        assert fw.boot_count == 1, "no BOOT event at power-up"
        ids = [fw.boot_id]
        assert fields(host.ask("HELLO", proto="1.0", host="t"))["boot"] == fw.boot_id
        if lid != "open":
            host.ask("LAMP", white="40", uv="30", lease="4000")
            assert (fw.white, fw.uv) == (40, 30), "the lamps did not come on before the reset"
        for press in range(1, 5):
            fw.boot()
            assert fw.boot_count == press + 1, f"reset {press}: no BOOT event after it"
            assert fw.boot_id not in ids, f"reset {press}: boot id {fw.boot_id} seen before"
            ids.append(fw.boot_id)
            assert (fw.white, fw.uv) == (0, 0), f"reset {press}: a lamp output is not low"
            hello = fields(host.ask("HELLO", proto="1.0", host="t"))
            assert hello["boot"] == fw.boot_id, "HELLO names another boot than the BOOT event"
            status = fields(host.ask("STATUS"))
            assert status["lid"] == ("open" if lid == "open" else "closed")
            assert (status["white"], status["uv"], status["fault"]) == ("0", "0", "00")
        assert fw.watchdog_resets == [], "a watchdog reset where only the button was pressed"
    finally:
        fw.close()


@pytest.mark.parametrize("lid", ["closed", "open"])
def test_a_hung_firmware_is_reset_by_the_hardware_watchdog_and_boots_with_lamps_off(
    firmware_ready: None, lid: str
) -> None:
    fw = SteppedFirmware(setup_world(lid), seed=11, elf=HANG_ELF)
    try:
        host = Host(fw)
        host.ask("HELLO", proto="1.0", host="t")
        uv = "0" if lid == "open" else "50"  # the interlock refuses UV with the lid open
        host.ask("LAMP", white="70", uv=uv, lease="5000")
        assert (fw.white, fw.uv) == (70, int(uv))
        first_id = fw.boot_id
        hung_at = fw.sim_us
        host.seq += 1
        fw.feed(encode(WireFrame("C", host.seq, "TEST", {"name": "hang"})))
        fw.run(0.2)
        # hung: no reply, lamps still as they were (the lease is 5 s away)
        assert not any(line.startswith(b"$R") for line in fw.take_output())
        assert (fw.white, fw.uv) == (70, int(uv)), "the lamps changed while the firmware hung"
        fw.run(0.3)
        assert len(fw.watchdog_resets) == 1, "the hardware watchdog did not reset the hung MCU"
        reset_at = fw.watchdog_resets[0]
        assert hung_at + WATCHDOG_US <= reset_at <= hung_at + WATCHDOG_US + 30_000
        off = [t for t, white, uv_ in fw.pwm_log if t >= hung_at and white == 0 and uv_ == 0]
        assert off and off[0] == reset_at, "the lamp outputs did not go low with the reset"
        assert fw.boot_count == 2 and fw.boot_id != first_id, "no new boot after the watchdog"
        assert fw.watchdog_reasons == ["reset"], "the firmware did not report a watchdog reset"
        assert (fw.white, fw.uv) == (0, 0)
        hello = fields(host.ask("HELLO", proto="1.0", host="t"))
        assert hello["boot"] == fw.boot_id
        status = fields(host.ask("STATUS"))
        assert status["lid"] == lid, "after the watchdog reset the firmware misreads the lid"
        assert (status["white"], status["uv"]) == ("0", "0")
        # and it runs normally again: lamps on, and the button still works after it
        host.ask("LAMP", white="20", uv="0", lease="1000")
        assert (fw.white, fw.uv) == (20, 0)
        fw.boot()
        assert fw.boot_count == 3 and (fw.white, fw.uv) == (0, 0)
    finally:
        fw.close()
