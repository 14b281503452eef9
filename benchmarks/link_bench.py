"""Lamp-controller link benchmark, both controllers side by side in one run: the Python
controller (hw_sim.controller) and the board's firmware in simavr (hw_sim.firmware).

Measures PING round trip over the pty, sustained commands per second at 0 %, 1 % and 5 % frame
corruption (injected by hw_sim's fault plan between the controller and the pty, both
directions), and the time from lid-open to UV off at the output pin in simulated microseconds.

    .venv/bin/python benchmarks/link_bench.py [--pings 500] [--commands 500] [--repeat 3]

The firmware needs `make -C firmware sim` first.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time
from collections.abc import Callable

from hw_sim.clock import ManualClock
from hw_sim.controller import SimController
from hw_sim.firmware import SteppedFirmware, available
from hw_sim.runner import SimStation
from hw_sim.world import World
from station.devices.codec import FrameDecoder, WireFrame, encode
from station.devices.lamp import LampController
from station.errors import StationError
from station.settings import DeviceSettings

CONTROLLERS = ("python", "firmware")
CORRUPTION = (0.0, 0.01, 0.05)
#: the Python controller runs on a manual clock stepped this finely (its figure's resolution)
PY_STEP_S = 10e-6


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100.0 * len(ordered)))]


def rtt(controller: str, n: int) -> list[float]:
    """PING round trips (ms) over the pty and pyserial, after a short warm-up."""
    with (
        SimStation("demo", controller=controller) as sim,
        LampController.connect(sim.serial_port, DeviceSettings()) as ctl,
    ):
        for _ in range(20):
            ctl.ping()
        return [ctl.ping() for _ in range(n)]


def throughput(controller: str, corruption: float, n: int, seed: int) -> dict[str, float]:
    """A mix of LAMP/STATUS/PING at the given corruption rate; rate and link counters."""
    faults = [f"corrupt:rate={corruption}"] if corruption else []
    with (
        SimStation("demo", faults, seed=seed, controller=controller) as sim,
        LampController.connect(sim.serial_port, DeviceSettings()) as ctl,
    ):
        failures = 0
        before = ctl.link_stats()
        start = time.perf_counter()
        for i in range(n):
            try:
                if i % 3 == 0:
                    ctl.set_lamps(i % 2 * 50, 0)
                elif i % 3 == 1:
                    ctl.status()
                else:
                    ctl.ping()
            except StationError:
                failures += 1
        elapsed = time.perf_counter() - start
        ctl.all_off()
        stats = ctl.link_stats()
        return {
            "cmd_per_s": n / elapsed,
            "retries": stats.retries - before.retries,
            "naks": stats.naks - before.naks,
            "crc_errors": stats.crc_errors - before.crc_errors,
            "timeouts": stats.timeouts - before.timeouts,
            "failed": failures,
            "fired": sum(sim.faults.fired.values()),
        }


def codec_rate(n: int) -> tuple[float, float, int]:
    """Frames per second the host's pure codec encodes and decodes (a typical STATUS reply)."""
    fields = {"lid": "closed", "item": "1", "white": "80", "uv": "0", "iw": "280", "iu": "0"}
    fields |= {"fault": "00", "up": "153200", "evt": "12", "lease": "640", "boot": "5EED0001"}
    frame = WireFrame("R", 12345, "OK", fields)
    start = time.perf_counter()
    for _ in range(n):
        wire = encode(frame)
    enc = n / (time.perf_counter() - start)
    start = time.perf_counter()
    decoded = FrameDecoder().feed(wire * n)
    dec = n / (time.perf_counter() - start)
    assert len(decoded) == n
    return enc, dec, len(wire)


def _frames(*commands: tuple[str, dict[str, str]]) -> bytes:
    return b"".join(
        encode(WireFrame("C", i + 1, verb, args)) for i, (verb, args) in enumerate(commands)
    )


UV_ON = _frames(
    ("HELLO", {"proto": "1.0", "host": "bench"}),
    ("LAMP", {"white": "0", "uv": "100", "lease": "5000"}),
)


def _has_lid_event(lines: list[bytes]) -> bool:
    return any(b" LID " in line for line in lines)


def lid_python(trial: int) -> tuple[float, float]:
    """(µs to UV off at the output, µs to the LID event) on the Python controller's clock."""
    clock = ManualClock()
    world = World(clock, trial)
    ctl = SimController(world, seed=trial)
    ctl.feed(UV_ON)
    ctl.poll()
    assert ctl.uv == 100, "the Python controller did not switch UV on"
    ctl.take_output()
    t0 = clock.now()
    world.open_lid()
    off = event = None
    while off is None or event is None:
        elapsed = (clock.now() - t0) * 1e6
        if off is None and world.drive("uv") == 0:
            off = elapsed
        if event is None and _has_lid_event(ctl.take_output()):
            event = elapsed
        if elapsed > 1e6:
            raise RuntimeError("the Python controller kept UV on 1 s after the lid opened")
        clock.advance(PY_STEP_S)
        ctl.poll()
    return off, event


def lid_firmware(trial: int) -> tuple[float, float]:
    """(µs to UV off at the PWM pin, µs to the LID event leaving the UART), exact sim time.

    Each trial opens the lid at a different phase of the firmware's 1 ms tick.
    """
    world = World(ManualClock(), trial)
    fw = SteppedFirmware(world, seed=trial)
    try:
        fw.feed(UV_ON)
        fw.run(0.02 + (trial * 137 % 1000) / 1e6)
        assert fw.uv == 100, "the firmware did not switch UV on"
        fw.take_output()
        t0 = fw.sim_us
        world.open_lid()
        event = None
        while event is None:
            fw.run(0.0001)
            if _has_lid_event(fw.take_output()):
                event = float(fw.sim_us - t0)
            if fw.sim_us - t0 > 1_000_000:
                raise RuntimeError("the firmware sent no LID event 1 s after the lid opened")
        offs = [t for t, _white, uv in fw.pwm_log if t >= t0 and uv == 0]
        if not offs:
            raise RuntimeError("the firmware kept UV on at the pin after the lid opened")
        return float(offs[0] - t0), event
    finally:
        fw.close()


LID_TRIALS: dict[str, Callable[[int], tuple[float, float]]] = {
    "python": lid_python,
    "firmware": lid_firmware,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pings", type=int, default=500)
    ap.add_argument("--commands", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3, help="runs per corruption rate (median)")
    ap.add_argument("--lid-trials", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--controllers", nargs="+", choices=CONTROLLERS, default=list(CONTROLLERS))
    args = ap.parse_args()

    kinds = args.controllers
    missing = {k: why for k, why in available(kinds).items() if why}
    if missing:
        for kind, why in missing.items():
            print(f"the {kind} controller cannot run: {why}", file=sys.stderr)
        sys.exit(2)

    print("$ " + shlex.join([".venv/bin/python", "benchmarks/link_bench.py", *sys.argv[1:]]))
    print()
    enc, dec, size = codec_rate(20000)
    print(
        f"Host codec (pure Python, a {size}-byte STATUS reply): encode {enc:,.0f} frames/s, "
        f"decode {dec:,.0f} frames/s"
    )
    print()
    print(f"PING round trip over pty + pyserial, {args.pings} samples (ms)")
    print(f"{'controller':<12}{'min':>8}{'median':>8}{'p90':>8}{'max':>8}")
    for kind in kinds:
        r = rtt(kind, args.pings)
        print(
            f"{kind:<12}{min(r):>8.3f}{statistics.median(r):>8.3f}{pct(r, 90):>8.3f}{max(r):>8.3f}"
        )
    print()
    print(
        f"Sustained commands over the pty: {args.commands} mixed LAMP/STATUS/PING, median of "
        f"{args.repeat} run(s)"
    )
    print("(reply timeout 250 ms, 4 retries; corruption flips a bit in that share of frames,")
    print("both directions; the counters are those of the median run)")
    head = f"{'corruption':>10}  {'controller':<10}{'cmd/s':>8}{'corrupted':>10}{'retries':>9}"
    print(head + f"{'NAKs':>6}{'CRC err':>9}{'timeouts':>10}{'failed':>8}")
    for p in CORRUPTION:
        for kind in kinds:
            runs = [throughput(kind, p, args.commands, args.seed + r) for r in range(args.repeat)]
            runs.sort(key=lambda t: t["cmd_per_s"])
            t = runs[len(runs) // 2]
            print(
                f"{p * 100:>9.0f}%  {kind:<10}{t['cmd_per_s']:>8.0f}{t['fired']:>10.0f}"
                f"{t['retries']:>9.0f}{t['naks']:>6.0f}{t['crc_errors']:>9.0f}"
                f"{t['timeouts']:>10.0f}{t['failed']:>8.0f}"
            )
    print()
    print(f"Lid open -> UV off at the output pin, simulated µs, {args.lid_trials} trials")
    print("(python: its manual clock stepped every 10 µs; firmware: simavr's cycle-exact clock,")
    print("the lid opened at varying phases of its 1 ms tick; LID event polled every 100 µs)")
    print(f"{'controller':<12}{'UV off median':>14}{'p90':>8}{'max':>8}{'LID event median':>18}")
    for kind in kinds:
        trials = [LID_TRIALS[kind](args.seed + i) for i in range(args.lid_trials)]
        offs = [off for off, _ in trials]
        events = [ev for _, ev in trials]
        print(
            f"{kind:<12}{statistics.median(offs):>14.0f}{pct(offs, 90):>8.0f}{max(offs):>8.0f}"
            f"{statistics.median(events):>18.0f}"
        )


if __name__ == "__main__":
    main()
