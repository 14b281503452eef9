"""Lamp-controller link benchmark: round-trip time over the pty, and sustained command rate
at 0 %, 1 % and 5 % frame corruption (both directions), with the station's default settings.

    .venv/bin/python benchmarks/link_bench.py [--pings 1000] [--commands 1000]
"""

from __future__ import annotations

import argparse
import statistics
import time

from hw_sim.runner import SimStation
from station.devices.codec import Frame, FrameDecoder, encode
from station.devices.lamp import LampController
from station.errors import StationError
from station.settings import DeviceSettings


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100.0 * len(ordered)))]


def rtt(port_kind: str, n: int) -> list[float]:
    with (
        SimStation("demo", port=port_kind) as sim,
        LampController.connect(sim.serial_port, DeviceSettings()) as ctl,
    ):
        for _ in range(20):
            ctl.ping()
        return [ctl.ping() for _ in range(n)]


def throughput(corruption: float, n: int, seed: int) -> dict[str, float]:
    faults = [f"corrupt:rate={corruption}"] if corruption else []
    with (
        SimStation("demo", faults, seed=seed) as sim,
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
            "crc_errors": stats.crc_errors - before.crc_errors,
            "naks": stats.naks - before.naks,
            "timeouts": stats.timeouts - before.timeouts,
            "failed": failures,
            "fired": sum(sim.faults.fired.values()),
        }


def codec_rate(n: int) -> tuple[float, float, int]:
    """Frames per second the pure codec encodes and decodes (a typical STATUS reply)."""
    frame = Frame(
        "R",
        12345,
        "OK",
        {
            "lid": "closed",
            "item": "1",
            "white": "80",
            "uv": "0",
            "iw": "280",
            "iu": "0",
            "fault": "00",
            "up": "153200",
            "evt": "12",
            "lease": "640",
            "boot": "5EED0001",
        },
    )
    start = time.perf_counter()
    for _ in range(n):
        wire = encode(frame)
    enc = n / (time.perf_counter() - start)
    stream = wire * n
    start = time.perf_counter()
    decoded = FrameDecoder().feed(stream)
    dec = n / (time.perf_counter() - start)
    assert len(decoded) == n
    return enc, dec, len(wire)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pings", type=int, default=1000)
    ap.add_argument("--commands", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    enc, dec, size = codec_rate(20000)
    print(f"Codec (pure Python, a {size}-byte STATUS reply):")
    print(f"  encode {enc:,.0f} frames/s, decode {dec:,.0f} frames/s")
    print()
    print(f"Round-trip time, PING, {args.pings} samples (ms)")
    print(f"{'port':<16}{'min':>8}{'median':>8}{'p95':>8}{'p99':>8}{'max':>8}")
    for kind, label in (("pty", "pty + pyserial"), ("memory", "hwsim:// URL")):
        r = rtt(kind, args.pings)
        print(
            f"{label:<16}{min(r):>8.3f}{statistics.median(r):>8.3f}{pct(r, 95):>8.3f}"
            f"{pct(r, 99):>8.3f}{max(r):>8.3f}"
        )
    print()
    print(f"Sustained commands over the pty ({args.commands} mixed LAMP/STATUS/PING, defaults:")
    print("reply timeout 250 ms, 4 retries); corruption applies to frames in both directions")
    head = f"{'corruption':>10}{'cmd/s':>10}{'corrupted':>10}{'retries':>9}{'NAKs':>6}"
    print(head + f"{'CRC err':>9}{'timeouts':>10}{'failed':>8}")
    for p in (0.0, 0.01, 0.05):
        t = throughput(p, args.commands, args.seed)
        print(
            f"{p * 100:>9.0f}%{t['cmd_per_s']:>10.0f}{t['fired']:>10.0f}{t['retries']:>9.0f}"
            f"{t['naks']:>6.0f}{t['crc_errors']:>9.0f}{t['timeouts']:>10.0f}{t['failed']:>8.0f}"
        )


if __name__ == "__main__":
    main()
