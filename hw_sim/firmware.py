"""The real lamp-controller firmware as the simulator's controller.

``firmware/build/lampctl.elf`` runs on simavr's ATmega328P inside ``lampctl-sim`` (built by
``make -C firmware sim``). The harness drives the board's pins from a ``World``: the lid switch,
the item sensor and the lamp-current sense voltages; it reports the duty cycle of both lamp
PWM outputs, and the World's lamps follow them, so the simulated camera sees the light the
firmware actually switched on. UART0 travels over the harness's control channel, in order with
the PWM reports; ``FaultyLink`` sits between it and the host's serial port as it does for the
Python controller (``hw_sim.controller``), whose interface ``FirmwareController`` offers.

Two clocks: ``FirmwareController`` keeps simulated time in step with the wall clock (a live
host on a serial port); ``SteppedFirmware`` moves time only when told, for exact tests.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path

from hw_sim.world import NOMINAL_MA, World
from station.errors import ConfigError

BUILD_DIR = Path(__file__).resolve().parents[1] / "firmware" / "build"
HARNESS = "lampctl-sim"
KINDS = ("python", "firmware")
#: environment setting that picks the controller behind ``SimStation`` (and ``station sim``)
CONTROLLER_ENV = "STATION_SIM_CONTROLLER"
#: generous: only a machine under heavy load takes more than milliseconds
START_TIMEOUT_S = 30.0

_BOOT = re.compile(rb"^\$E\d+ BOOT boot=([0-9A-F]{8}) fw=([^ *]+) proto=([^ *]+)")
_WATCHDOG = re.compile(rb"^\$E\d+ WATCHDOG reason=([a-z]+)\*")


class FirmwareUnavailable(ConfigError):
    """The firmware or its simulator harness has not been built, or does not run."""

    fix = "build them with `make -C firmware sim`, or simulate the python controller instead"


def controller_kind(kind: str | None = None) -> str:
    """The controller to simulate: ``kind``, else $STATION_SIM_CONTROLLER, else python."""
    value = kind or os.environ.get(CONTROLLER_ENV) or "python"
    if value not in KINDS:
        raise ConfigError(
            f"unknown lamp controller {value!r} (from {CONTROLLER_ENV} or --controller); "
            f"choose one of: {', '.join(KINDS)}"
        )
    return value


def firmware_files(proto: str = "1.0") -> tuple[Path, Path]:
    """(harness, elf) for a firmware speaking ``proto``; FirmwareUnavailable names the fix."""
    major = proto.split(".")[0]
    elf = BUILD_DIR / ("lampctl.elf" if major == "1" else f"lampctl-proto{major}.elf")
    harness = BUILD_DIR / HARNESS
    for path in (harness, elf):
        if not path.exists():
            raise FirmwareUnavailable(
                f"{path} is missing: build the firmware and its simulator with "
                f"`make -C firmware sim` (needs gcc-avr, avr-libc, simavr and libsimavr-dev)"
            )
    return harness, elf


def full_scale_ma(world: World) -> tuple[int, int]:
    """Current each lamp draws at 100 % drive, from its health (0 when it does not strike)."""
    out = []
    for lamp in ("white", "uv"):
        h = world.health[lamp]
        factor = h.output_factor if h.current_factor is None else h.current_factor
        out.append(round(NOMINAL_MA[lamp] * factor) if h.strikes else 0)
    return out[0], out[1]


class _Harness:
    """One ``lampctl-sim`` process and its line-based control channel."""

    def __init__(self, world: World, *, realtime: bool, proto: str, seed: int) -> None:
        harness, elf = firmware_files(proto)
        stuck = world.stuck.get("lid")
        white_ma, uv_ma = full_scale_ma(world)
        args = [
            str(harness),
            *(["--realtime"] if realtime else []),
            "--seed",
            str(seed & 0xFFFFFFFF),
            "--lid",
            "1" if world.lid_open else "0",
            "--stuck",
            "-1" if stuck is None else ("0" if stuck else "1"),
            "--item",
            "1" if world.item_sensor() else "0",
            "--ma",
            str(white_ma),
            str(uv_ma),
            str(elf),
        ]
        self.proc = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._in = self.proc.stdin
        self._out = self.proc.stdout
        self._lock = threading.Lock()
        self.state = (stuck, world.item_sensor(), (white_ma, uv_ma))
        ready = self.readline()
        if not ready.startswith(b"READY"):
            err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
            self.close()
            raise FirmwareUnavailable(f"{harness} did not start: {ready!r} {err.strip()}")

    def send(self, line: str) -> None:
        with self._lock:
            try:
                self._in.write(line.encode("ascii") + b"\n")
                self._in.flush()
            except (BrokenPipeError, ValueError):
                pass  # the harness has gone (closing): the board is unplugged

    def readline(self) -> bytes:
        return self._out.readline().rstrip(b"\n")

    def sync_world(self, world: World) -> None:
        """Push the switch, sensor and lamp-health state the harness does not know yet."""
        stuck = world.stuck.get("lid")
        state = (stuck, world.item_sensor(), full_scale_ma(world))
        if state == self.state:
            return
        old, self.state = self.state, state
        if state[0] != old[0]:
            self.send(f"STUCK {-1 if stuck is None else (0 if stuck else 1)}")
        if state[1] != old[1]:
            self.send(f"ITEM {1 if state[1] else 0}")
        if state[2] != old[2]:
            self.send(f"MA {state[2][0]} {state[2][1]}")

    def close(self) -> None:
        self.send("QUIT")
        with contextlib.suppress(OSError, ValueError):
            self._in.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for stream in (self._out, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


class _Board:
    """What both clocks share: output lines, PWM levels, boot ids seen on the wire."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.clock = world.clock
        self.white = 0
        self.uv = 0
        #: every PWM change: (simulated µs, white %, uv %)
        self.pwm_log: list[tuple[int, float, float]] = []
        self.boot_id = ""
        self.firmware = ""
        self.proto = ""
        self.boot_count = 0
        self._peeked: bytes | None = None
        self.last_watchdog: str | None = None
        #: every WATCHDOG reason seen on the wire, oldest first
        self.watchdog_reasons: list[str] = []
        self._rx = bytearray()
        self._lines: list[bytes] = []
        self._cv = threading.Condition()

    def _report(self, line: bytes) -> None:
        if line.startswith(b"PWM "):
            _, t, w, u = line.split()
            white, uv = int(w) / 100.0, int(u) / 100.0
            self.pwm_log.append((int(t), white, uv))
            if len(self.pwm_log) > 4096:
                del self.pwm_log[:2048]
            self.white, self.uv = round(white), round(uv)
            self.world.drive_lamps(self.white, self.uv)
        elif line.startswith(b"PEEK"):
            with self._cv:
                self._peeked = bytes.fromhex(line[5:].decode("ascii"))
                self._cv.notify_all()
        elif line.startswith(b"RX "):
            self._rx.extend(bytes.fromhex(line[3:].decode("ascii")))
            while (nl := self._rx.find(b"\n")) >= 0:
                unit = bytes(self._rx[: nl + 1])
                del self._rx[: nl + 1]
                self._line(unit)

    def _line(self, unit: bytes) -> None:
        with self._cv:
            self._lines.append(unit)
            if m := _BOOT.match(unit):
                self.boot_id = m.group(1).decode()
                self.firmware = m.group(2).decode()
                self.proto = m.group(3).decode()
                self.boot_count += 1
            elif m := _WATCHDOG.match(unit):
                self.last_watchdog = m.group(1).decode()
                self.watchdog_reasons.append(self.last_watchdog)
            self._cv.notify_all()

    def wait_watchdog(self, index: int, timeout: float) -> str | None:
        """WATCHDOG reason number ``index`` (0-based), waiting for it: the UART reports it a
        little after the pin went low."""
        with self._cv:
            self._cv.wait_for(lambda: len(self.watchdog_reasons) > index, timeout=timeout)
            return self.watchdog_reasons[index] if index < len(self.watchdog_reasons) else None

    def take_output(self) -> list[bytes]:
        """Everything the board has written since the last call, one item per line."""
        with self._cv:
            out, self._lines = self._lines, []
            return out

    @property
    def lamps_on(self) -> bool:
        return bool(self.white or self.uv)

    def _peek(self, addr: int, n: int) -> bytes:
        raise NotImplementedError

    def _stats(self) -> tuple[int, int, int]:
        """The firmware's own counters (lc_stats_t: bad frames, commands, duplicates)."""
        data = self._peek(_symbol("stats"), 6)
        return (
            int.from_bytes(data[0:2], "little"),
            int.from_bytes(data[2:4], "little"),
            int.from_bytes(data[4:6], "little"),
        )

    @property
    def bad_frames(self) -> int:
        return self._stats()[0]

    @property
    def commands_executed(self) -> int:
        return self._stats()[1]

    @property
    def duplicates_replayed(self) -> int:
        return self._stats()[2]


def _symbol(name: str) -> int:
    """Data-space address of a firmware variable, from ``make``'s symbol list."""
    path = BUILD_DIR / "lampctl.sym"
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == name and parts[1] in "bBdD":
            return int(parts[0], 16) & 0xFFFF
    raise FirmwareUnavailable(f"{path} has no symbol {name!r}: rebuild with `make -C firmware sim`")


class FirmwareController(_Board):
    """The firmware in real time: a drop-in for ``SimController`` behind a ``FaultyLink``."""

    def __init__(self, world: World, *, proto: str = "1.0", seed: int = 0) -> None:
        super().__init__(world)
        self._h = _Harness(world, realtime=True, proto=proto, seed=seed)
        self._closed = False
        self._reader = threading.Thread(target=self._read, name="lampctl-sim", daemon=True)
        self._reader.start()
        world.subscribe(self._on_world)
        self._wait_boot(0)

    def _read(self) -> None:
        while True:
            line = self._h.readline()
            if not line:
                break
            self._report(line)
        with self._cv:
            self._closed = True
            self._cv.notify_all()

    def _wait_boot(self, seen: int) -> None:
        with self._cv:
            if not self._cv.wait_for(
                lambda: self.boot_count > seen or self._closed, timeout=START_TIMEOUT_S
            ):
                raise FirmwareUnavailable("the firmware did not boot in the simulator")
            if self._closed:
                raise FirmwareUnavailable("the firmware simulator stopped while booting")

    def _on_world(self, what: str, value: object) -> None:
        if what == "lid":
            self._h.send(f"LID {1 if self.world.lid_open else 0}")
        self._h.sync_world(self.world)

    def _peek(self, addr: int, n: int) -> bytes:
        with self._cv:
            self._peeked = None
            self._h.send(f"PEEK {addr} {n}")
            if not self._cv.wait_for(lambda: self._peeked is not None, timeout=START_TIMEOUT_S):
                raise FirmwareUnavailable("the firmware simulator did not answer PEEK")
            assert self._peeked is not None
            return self._peeked

    def boot(self) -> None:
        """Press reset; returns once the firmware has announced its new boot id."""
        seen = self.boot_count
        self._h.send("RESET")
        self._wait_boot(seen)

    def feed(self, data: bytes) -> None:
        if data:
            self._h.send("TX " + data.hex())

    def poll(self) -> None:
        """The firmware keeps its own time; only world changes made behind its back go over."""
        self._h.sync_world(self.world)

    def close(self) -> None:
        self._h.close()
        self._reader.join(timeout=5)


class SteppedFirmware(_Board):
    """The firmware on simulated time that moves only in ``run``: exact and repeatable.

    ``world.clock`` should be a ``ManualClock``; ``run`` advances it with the simulation.
    """

    def __init__(self, world: World, *, proto: str = "1.0", seed: int = 0) -> None:
        super().__init__(world)
        self._h = _Harness(world, realtime=False, proto=proto, seed=seed)
        self.sim_us = 0
        world.subscribe(self._on_world)
        self.run(0.02)  # boot: banner and BOOT event

    def _on_world(self, what: str, value: object) -> None:
        if what == "lid":
            self._h.send(f"LID {1 if self.world.lid_open else 0}")
        self._h.sync_world(self.world)

    def run(self, seconds: float) -> None:
        """Simulate ``seconds``; the World's clock follows."""
        us = max(0, round(seconds * 1e6))
        self._h.send(f"RUN {us}")
        while True:
            line = self._h.readline()
            if not line:
                raise FirmwareUnavailable("the firmware simulator stopped")
            if line.startswith(b"AT "):
                now = int(line.split()[1])
                advance = getattr(self.clock, "advance", None)
                if advance is not None:
                    advance((now - self.sim_us) / 1e6)
                self.sim_us = now
                return
            self._report(line)

    def _peek(self, addr: int, n: int) -> bytes:
        self._h.send(f"PEEK {addr} {n}")
        while True:
            line = self._h.readline()
            if not line:
                raise FirmwareUnavailable("the firmware simulator stopped")
            self._report(line)
            if line.startswith(b"PEEK"):
                assert self._peeked is not None
                return self._peeked

    def boot(self) -> None:
        self._h.send("RESET")
        while not (line := self._h.readline()).startswith(b"RESET"):
            if not line:
                raise FirmwareUnavailable("the firmware simulator stopped")
            self._report(line)  # the outputs going low with the reset
        self.run(0.02)

    def feed(self, data: bytes) -> None:
        if data:
            self._h.send("TX " + data.hex())

    def poll(self) -> None:
        self._h.sync_world(self.world)

    def close(self) -> None:
        self._h.close()


def available(kinds: Sequence[str] = KINDS) -> dict[str, str | None]:
    """For each controller kind: None if it can run here, else why not."""
    out: dict[str, str | None] = {}
    for kind in kinds:
        if kind == "python":
            out[kind] = None
            continue
        try:
            firmware_files()
            out[kind] = None
        except FirmwareUnavailable as exc:
            out[kind] = str(exc)
    return out
