"""Simulated lamp-controller firmware: an independent implementation of docs/protocol.md.

Deliberately shares no code with ``station.devices.codec`` (own CRC, own parser), so a
misreading of the spec on one side shows up as a failing test instead of cancelling out.
Pure state machine: bytes in via ``feed``, time via ``poll``, bytes out via ``take_output``.
"""

from __future__ import annotations

import random
import threading

from hw_sim.world import NOMINAL_MA, World

SILENCE_S = 1.0
LEASE_MIN_MS = 100
BANNER = b"LampCtl %s (sim) booting... lamps off\r\n"

BIT_W_NOSTRIKE, BIT_U_NOSTRIKE, BIT_W_LOW, BIT_U_LOW = 0x01, 0x02, 0x04, 0x08
BIT_SILENCE, BIT_LEASE, BIT_INTERLOCK = 0x10, 0x20, 0x40


def crc_ccitt_false(data: bytes) -> int:
    """Bit-by-bit CRC-16/CCITT-FALSE, written independently of the station's table/binascii."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


class SimController:
    """Firmware of the lamp-controller board, driving the lamps of a ``World``."""

    def __init__(
        self,
        world: World,
        *,
        proto: str = "1.0",
        firmware: str = "1.4.2",
        board: str = "LC-000042",
        seed: int = 0,
        lease_max_ms: int = 5000,
    ) -> None:
        self.world = world
        self.clock = world.clock
        self.proto = proto
        self.firmware = firmware
        self.board = board
        self.lease_max_ms = lease_max_ms
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._out: list[bytes] = []
        self._rx = bytearray()
        self._in_frame = False
        self.boot_count = 0
        self.commands_executed = 0
        self.bad_frames = 0
        self.duplicates_replayed = 0
        self._evt = 0
        self.boot_id = ""
        #: why the controller last switched the lamps off on its own (WATCHDOG reason)
        self.last_watchdog: str | None = None
        #: every WATCHDOG reason, oldest first
        self.watchdog_reasons: list[str] = []
        world.subscribe(self._on_world)
        self.boot()

    # ------------------------------------------------------------ power and state
    def boot(self) -> None:
        """Power-up or reset: new boot id, lamps off, HELLO required, banner and BOOT event."""
        with self._lock:
            self.boot_count += 1
            self.boot_id = f"{self._rng.getrandbits(32):08X}"
            self.booted_at = self.clock.now()
            self.hello_seen = False
            self.white = 0
            self.uv = 0
            self.world.drive_lamps(0, 0)
            self.lease_until = 0.0
            self.last_valid = self.clock.now()
            self.latched = 0
            self.live_faults = 0
            self._cache: tuple[int, bytes, bytes] | None = None
            self._rx.clear()
            self._in_frame = False
            self._evt = 0
            self._out.append(BANNER % self.firmware.encode())
            self._event("BOOT", boot=self.boot_id, fw=self.firmware, proto=self.proto)

    def expire_lease(self) -> None:
        """Let the lease run out now: the next ``poll`` switches the lamps off (a fault)."""
        with self._lock:
            if self.lamps_on:
                self.lease_until = self.clock.now()

    def wait_watchdog(self, index: int, timeout: float) -> str | None:
        """WATCHDOG reason number ``index`` (0-based); this board reports synchronously."""
        with self._lock:
            return self.watchdog_reasons[index] if index < len(self.watchdog_reasons) else None

    @property
    def lamps_on(self) -> bool:
        return bool(self.white or self.uv)

    def _lamps_off(self, reason: str | None, bit: int = 0) -> None:
        was_on = self.lamps_on
        self.white = self.uv = 0
        self.lease_until = 0.0
        self.world.drive_lamps(0, 0)
        if was_on and reason:
            self.latched |= bit
            self.last_watchdog = reason
            self.watchdog_reasons.append(reason)
            self._event("WATCHDOG", reason=reason)

    def _on_world(self, what: str, value: object) -> None:
        with self._lock:
            if what == "lid":
                opened = self.world.lid_switch_open()
                if opened:
                    self._lamps_off("lid", BIT_INTERLOCK)
                self._event("LID", state="open" if opened else "closed")
            elif what == "item":
                self._event("ITEM", present="1" if self.world.item_sensor() else "0")

    # ------------------------------------------------------------ time
    def poll(self) -> None:
        """Enforce lease, silence watchdog and interlock; detect lamp faults."""
        with self._lock:
            now = self.clock.now()
            if self.lamps_on:
                if self.uv and self.world.lid_switch_open():
                    self._lamps_off("lid", BIT_INTERLOCK)
                elif now >= self.lease_until:
                    self._lamps_off("lease", BIT_LEASE)
                elif now - self.last_valid >= SILENCE_S:
                    self._lamps_off("silence", BIT_SILENCE)
            self._check_lamps()

    def _check_lamps(self) -> None:
        live = 0
        for lamp, level, nostrike, low in (
            ("white", self.white, BIT_W_NOSTRIKE, BIT_W_LOW),
            ("uv", self.uv, BIT_U_NOSTRIKE, BIT_U_LOW),
        ):
            if not level:
                continue
            expected = NOMINAL_MA[lamp] * level / 100.0
            ma = self.world.lamp_current_ma(lamp)
            if ma < 0.05 * expected:
                live |= nostrike
                if not self.live_faults & nostrike:
                    self._event("LAMPFAULT", lamp=lamp, code="nostrike", ma=str(ma))
            elif ma < 0.7 * expected:
                live |= low
                if not self.live_faults & low:
                    self._event("LAMPFAULT", lamp=lamp, code="low", ma=str(ma))
        self.live_faults = live

    # ------------------------------------------------------------ bytes
    def take_output(self) -> list[bytes]:
        """Everything the board has written since the last call, one item per line."""
        with self._lock:
            out, self._out = self._out, []
            return out

    def feed(self, data: bytes) -> None:
        with self._lock:
            for b in data:
                if b == 0x24:
                    if self._in_frame and self._rx:
                        self.bad_frames += 1
                    self._rx.clear()
                    self._in_frame = True
                elif not self._in_frame:
                    continue
                elif b == 0x0A:
                    self._in_frame = False
                    line = bytes(self._rx)
                    self._rx.clear()
                    self._line(line)
                elif 0x20 <= b <= 0x7E or b == 0x0D:
                    self._rx.append(b)
                    if len(self._rx) > 210:
                        self.bad_frames += 1
                        self._rx.clear()
                        self._in_frame = False
                else:
                    self.bad_frames += 1
                    self._rx.clear()
                    self._in_frame = False

    def _line(self, line: bytes) -> None:
        if line[-1:] == b"\r":
            line = line[:-1]
        body, sep, crc = line.rpartition(b"*")
        seq = self._head_seq(body if sep else line)
        ok = (
            bool(sep)
            and len(crc) == 4
            and len(body) <= 200
            and b"*" not in body
            and b"\r" not in body
        )
        if ok:
            try:
                ok = int(crc.decode(), 16) == crc_ccitt_false(body)
            except ValueError:
                ok = False
        if not ok:
            self.bad_frames += 1
            if seq is not None:
                self._reply(seq, "NAK", code="CRC")
            return
        self.last_valid = self.clock.now()
        if seq is None:
            self.bad_frames += 1
            return
        is_hello = body.split(b" ")[1:2] == [b"HELLO"]
        if self._cache and self._cache[0] == seq and self._cache[1] == body and not is_hello:
            self.duplicates_replayed += 1
            self._out.append(self._cache[2])
            return
        words = body.decode("ascii").split(" ")
        verb = words[1] if len(words) > 1 else ""
        args: dict[str, str] = {}
        for w in words[2:]:
            k, eq, v = w.partition("=")
            if not eq or not k or not v or k in args:
                self._remember(seq, body, self._reply(seq, "NAK", code="SYNTAX"))
                return
            args[k] = v
        self.commands_executed += 1
        reply = self._execute(seq, verb, args)
        self._remember(seq, body, reply)

    @staticmethod
    def _head_seq(body: bytes) -> int | None:
        head = body.split(b" ", 1)[0]
        if len(head) < 2 or head[:1] != b"C" or not head[1:].isdigit():
            return None
        n = int(head[1:])
        return n if n <= 65535 else None

    def _remember(self, seq: int, body: bytes, reply: bytes) -> None:
        self._cache = (seq, body, reply)

    # ------------------------------------------------------------ commands
    def _execute(self, seq: int, verb: str, a: dict[str, str]) -> bytes:
        if verb == "HELLO":
            self.hello_seen = True
            return self._reply(
                seq,
                "OK",
                proto=self.proto,
                fw=self.firmware,
                board=self.board,
                boot=self.boot_id,
                caps="white,uv,lid,item,current",
                lease_max=str(self.lease_max_ms),
                iw_nom=str(NOMINAL_MA["white"]),
                iu_nom=str(NOMINAL_MA["uv"]),
            )
        if verb == "PING":
            return self._reply(seq, "OK", up=str(self._uptime_ms()))
        if verb == "STATUS":
            return self._reply(seq, "OK", **self._status_fields())
        if verb == "OFF":
            self._lamps_off(None)
            return self._reply(seq, "OK", white="0", uv="0")
        if verb == "LAMP":
            return self._lamp(seq, a)
        if verb == "RENEW":
            if not self.hello_seen:
                return self._reply(seq, "NAK", code="NOHELLO")
            lease = self._int(a.get("lease"))
            if lease is None or not LEASE_MIN_MS <= lease <= self.lease_max_ms:
                return self._reply(seq, "NAK", code="RANGE", msg="lease_out_of_range")
            if not self.lamps_on:
                return self._reply(seq, "OK", lease="0")
            self.lease_until = self.clock.now() + lease / 1000.0
            return self._reply(seq, "OK", lease=str(lease))
        if verb == "TEST":
            return self._self_test(seq, a.get("name", ""))
        return self._reply(seq, "NAK", code="UNKNOWN", msg=f"no_command_{verb or 'none'}")

    def _lamp(self, seq: int, a: dict[str, str]) -> bytes:
        if not self.hello_seen:
            return self._reply(seq, "NAK", code="NOHELLO")
        white, uv = self._int(a.get("white")), self._int(a.get("uv"))
        if white is None or uv is None:
            return self._reply(seq, "NAK", code="SYNTAX", msg="white_and_uv_needed")
        if not (0 <= white <= 100 and 0 <= uv <= 100):
            return self._reply(seq, "NAK", code="RANGE", msg="level_0_to_100")
        if white == 0 and uv == 0:
            self._lamps_off(None)
            self.latched &= ~(BIT_SILENCE | BIT_LEASE | BIT_INTERLOCK)
            return self._reply(seq, "OK", white="0", uv="0", lease="0")
        lease = self._int(a.get("lease"))
        if lease is None or not LEASE_MIN_MS <= lease <= self.lease_max_ms:
            return self._reply(seq, "NAK", code="RANGE", msg="lease_out_of_range")
        if uv and self.world.lid_switch_open():
            return self._reply(seq, "NAK", code="INTERLOCK", msg="lid_open")
        self.white, self.uv = white, uv
        self.lease_until = self.clock.now() + lease / 1000.0
        self.latched &= ~(BIT_SILENCE | BIT_LEASE | BIT_INTERLOCK)
        self.world.drive_lamps(white, uv)
        self._check_lamps()
        return self._reply(seq, "OK", white=str(white), uv=str(uv), lease=str(lease))

    def _self_test(self, seq: int, name: str) -> bytes:
        self._lamps_off(None)
        if name == "interlock":
            # The test line drives the lid input "open"; a stuck switch does not follow it.
            if "lid" in self.world.stuck:
                return self._reply(
                    seq, "OK", name=name, result="fail", detail="lid_switch_does_not_respond"
                )
            return self._reply(seq, "OK", name=name, result="pass", detail="uv_driver_cut_by_lid")
        if name == "watchdog":
            return self._reply(seq, "OK", name=name, result="pass", detail="timer_running")
        return self._reply(seq, "NAK", code="RANGE", msg="unknown_test")

    def _status_fields(self) -> dict[str, str]:
        now = self.clock.now()
        return {
            "lid": "open" if self.world.lid_switch_open() else "closed",
            "item": "1" if self.world.item_sensor() else "0",
            "white": str(self.white),
            "uv": str(self.uv),
            "iw": str(self.world.lamp_current_ma("white")),
            "iu": str(self.world.lamp_current_ma("uv")),
            "fault": f"{(self.latched | self.live_faults) & 0xFF:02X}",
            "up": str(self._uptime_ms()),
            "evt": str(self._evt),
            "lease": str(max(0, round((self.lease_until - now) * 1000)) if self.lamps_on else 0),
            "boot": self.boot_id,
        }

    def _uptime_ms(self) -> int:
        return round((self.clock.now() - self.booted_at) * 1000)

    @staticmethod
    def _int(text: str | None) -> int | None:
        if text is None or not text.isdigit():
            return None
        return int(text)

    # ------------------------------------------------------------ output
    def _frame(self, head: str, verb: str, fields: dict[str, str]) -> bytes:
        body = " ".join([head, verb, *(f"{k}={v}" for k, v in fields.items())]).encode("ascii")
        return b"$%s*%04X\r\n" % (body, crc_ccitt_false(body))

    def _reply(self, seq: int, verb: str, **fields: str) -> bytes:
        data = self._frame(f"R{seq}", verb, fields)
        self._out.append(data)
        return data

    def _event(self, name: str, **fields: str) -> None:
        self._evt = self._evt + 1 if self._evt < 65535 else 1
        self._out.append(self._frame(f"E{self._evt}", name, fields))
