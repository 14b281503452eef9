"""LampController: the station's driver for the lamp-controller board (docs/protocol.md).

One command is outstanding at a time; a reader thread splits the byte stream into replies and
events; a renewal thread keeps the lamp lease alive while any lamp is on. Every failure ends in
a domain error that tells the operator what happened and what to do.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from station.devices.codec import BadFrame, Frame, FrameDecoder, encode
from station.devices.transport import SerialTransport
from station.errors import (
    ControllerReset,
    DeviceError,
    InputError,
    InterlockOpen,
    LampFault,
    LinkLost,
    LinkTimeout,
    ProtocolVersionMismatch,
)
from station.settings import DeviceSettings

log = logging.getLogger(__name__)

PROTOCOL_MAJOR = 1
PROTOCOL_MINOR = 0
PROTOCOL_VERSION = f"{PROTOCOL_MAJOR}.{PROTOCOL_MINOR}"

FAULT_BITS: dict[int, str] = {
    0x01: "white_nostrike",
    0x02: "uv_nostrike",
    0x04: "white_low_current",
    0x08: "uv_low_current",
    0x10: "watchdog_silence",
    0x20: "lease_expired",
    0x40: "interlock_trip",
}


@dataclass(frozen=True)
class ControllerInfo:
    """What the controller said about itself in the HELLO handshake."""

    protocol: str
    firmware: str
    board_serial: str
    capabilities: tuple[str, ...]
    boot_id: str
    lease_max_ms: int
    nominal_current_ma: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LampState:
    level: int
    current_ma: int
    fault: str | None


@dataclass(frozen=True)
class ControllerStatus:
    lid_closed: bool
    item_present: bool
    lamps: dict[str, LampState]
    fault_bits: int
    faults: tuple[str, ...]
    uptime_ms: int
    event_counter: int
    lease_remaining_ms: int
    boot_id: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ControllerEvent:
    """An unsolicited event (§9): name, the controller's event counter, its fields."""

    name: str
    counter: int
    args: dict[str, str]
    received_at: float


@dataclass
class LinkStats:
    """Link health counters, for the health endpoint, the doctor and the check record."""

    frames_sent: int = 0
    frames_received: int = 0
    bad_frames: int = 0
    crc_errors: int = 0
    naks: int = 0
    retries: int = 0
    timeouts: int = 0
    reconnects: int = 0
    controller_resets: int = 0
    late_replies: int = 0
    missed_events: int = 0
    rtt_ms: float | None = None
    rtt_avg_ms: float | None = None
    last_received_age_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Relinked(Exception):
    """Internal: the port was reopened mid-command; the session must be re-established."""


@dataclass
class _Pending:
    seq: int
    reply: Frame | None = None
    resend_now: bool = False
    sent_at: float = 0.0


@dataclass
class _Counters:
    sent: int = 0
    naks: int = 0
    retries: int = 0
    timeouts: int = 0
    late: int = 0
    missed_events: int = 0
    rtt_last: float | None = None
    rtt_sum: float = 0.0
    rtt_n: int = 0
    last_rx: float | None = None
    reconnects: int = 0
    resets: int = 0
    resets_absorbed: int = 0


class LampController:
    """Driver for one lamp-controller board. Use ``LampController.connect``."""

    def __init__(
        self, transport: SerialTransport, settings: DeviceSettings, host_name: str = "station"
    ) -> None:
        self._t = transport
        self._settings = settings
        self._host = host_name.replace(" ", "_") or "station"
        self._decoder = FrameDecoder()
        self._cv = threading.Condition()
        self._cmd_lock = threading.RLock()
        self._closing = threading.Event()
        self._renew_wake = threading.Event()
        self._renew_suspended = threading.Event()
        self._pending: _Pending | None = None
        self._seq = 0
        self._c = _Counters()
        self._info: ControllerInfo | None = None
        self._needs_handshake = True
        self._reset_seen: str | None = None  # boot id (or "unknown") of an unacknowledged reset
        self._interlock_tripped = False
        self._lamps_cut: str | None = None
        self._want_white = 0
        self._want_uv = 0
        self._lease_ms = settings.lease_ms
        self._last_event_counter: int | None = None
        self._listeners: list[Callable[[ControllerEvent], None]] = []
        #: unsolicited events, oldest first (bounded: the oldest are dropped when full)
        self.events: queue.Queue[ControllerEvent] = queue.Queue(maxsize=1000)
        self._reader = threading.Thread(target=self._read_loop, name="lamp-reader", daemon=True)
        self._renewer = threading.Thread(target=self._renew_loop, name="lamp-lease", daemon=True)

    # ----------------------------------------------------------------- lifecycle
    @classmethod
    def connect(
        cls, port: str, settings: DeviceSettings, host_name: str = "station"
    ) -> LampController:
        """Open ``port`` exclusively, start the link and do the HELLO handshake."""
        transport = SerialTransport(port, settings.baudrate)
        transport.open()
        ctl = cls(transport, settings, host_name)
        ctl._reader.start()
        ctl._renewer.start()
        try:
            with ctl._cmd_lock:
                ctl._handshake()
        except BaseException:
            ctl.close()
            raise
        return ctl

    def close(self) -> None:
        """Switch the lamps off (best effort), stop the threads, release the port."""
        if self._closing.is_set():
            return
        try:
            if self._want_white or self._want_uv:
                self._want_white = self._want_uv = 0
                with self._cmd_lock:
                    self._request("OFF", {}, budget_s=0.5)
        except DeviceError as exc:
            log.warning("could not switch lamps off while closing: %s", exc)
        self._closing.set()
        self._renew_wake.set()
        with self._cv:
            self._cv.notify_all()
        for thread in (self._reader, self._renewer):
            if thread.is_alive() and thread is not threading.current_thread():
                thread.join(timeout=2.0)
        self._t.close()

    def __enter__(self) -> LampController:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> str:
        return self._t.url

    @property
    def info(self) -> ControllerInfo:
        if self._info is None:
            raise LinkTimeout("lamp controller has not completed its handshake")
        return self._info

    # ----------------------------------------------------------------- public API
    def set_lamps(self, white: int, uv: int, lease_ms: int | None = None) -> float:
        """Set absolute lamp levels (0-100); returns the monotonic time the controller acknowledged.

        The lease is renewed in the background while any lamp is on.
        """
        for name, level in (("white", white), ("uv", uv)):
            if not isinstance(level, int) or not 0 <= level <= 100:
                raise InputError(f"{name} lamp level must be an integer 0-100, got {level!r}")
        lease = lease_ms if lease_ms is not None else self._settings.lease_ms
        with self._cmd_lock:
            self._raise_if_reset()
            if white == 0 and uv == 0:
                self._want_white = self._want_uv = 0
                self._request("OFF", {})
                self._raise_if_reset()
                # confirm_lamps() covers the time since the last set_lamps only
                self._interlock_tripped = False
                self._lamps_cut = None
                return time.monotonic()
            reply = self._request("LAMP", {"white": str(white), "uv": str(uv), "lease": str(lease)})
            self._raise_if_reset()
            if reply.verb == "NAK":
                self._raise_nak("LAMP", reply)
            self._want_white, self._want_uv, self._lease_ms = white, uv, lease
            self._interlock_tripped = False
            self._lamps_cut = None
            acked = time.monotonic()
        self._renew_wake.set()
        return acked

    def all_off(self) -> None:
        """Switch every lamp off. Works even after a detected reset (it never turns anything on)."""
        with self._cmd_lock:
            self._want_white = self._want_uv = 0
            self._request("OFF", {})

    def status(self) -> ControllerStatus:
        with self._cmd_lock:
            self._raise_if_reset()
            reply = self._request("STATUS", {})
            if reply.verb == "NAK":
                self._raise_nak("STATUS", reply)
            st = self._parse_status(reply)
            if self._info is not None and st.boot_id != self._info.boot_id:
                self._note_reset(st.boot_id)
                self._raise_if_reset()
            return st

    def confirm_lamps(self) -> ControllerStatus:
        """Check that the lamps stayed as last set since ``set_lamps``; call after each capture.

        Raises InterlockOpen if the lid opened, LampFault if a lamp was cut or failed to light,
        ControllerReset if the controller rebooted.
        """
        st = self.status()
        want = {"white": self._want_white, "uv": self._want_uv}
        if self._interlock_tripped or (want["uv"] and not st.lid_closed):
            raise InterlockOpen(
                "the lid was opened while the lamps were on; the lamps are off and the check "
                "was aborted — close the lid and start the check again"
            )
        if self._lamps_cut:
            raise LampFault(
                f"the controller switched the lamps off ({self._lamps_cut}); the check was "
                "aborted — start it again, and run `station doctor` if this repeats"
            )
        for name, level in want.items():
            lamp = st.lamps[name]
            if level and lamp.level != level:
                raise LampFault(f"{name} lamp is at {lamp.level}% but {level}% was set")
            if level and lamp.fault:
                raise LampFault(
                    f"{name} lamp fault: {lamp.fault} (current {lamp.current_ma} mA); "
                    "the lamp may need replacing — run `station doctor`"
                )
        return st

    def ping(self) -> float:
        """Round-trip time of one PING in milliseconds."""
        with self._cmd_lock:
            start = time.monotonic()
            self._request("PING", {})
            return (time.monotonic() - start) * 1000.0

    def self_test(self, name: str) -> tuple[bool, str]:
        """Run one of the controller's built-in tests (``interlock`` or ``watchdog``)."""
        with self._cmd_lock:
            self._raise_if_reset()
            reply = self._request("TEST", {"name": name}, budget_s=3.0)
            if reply.verb == "NAK":
                self._raise_nak("TEST", reply)
            self._want_white = self._want_uv = 0
            return reply.args.get("result") == "pass", reply.args.get("detail", "").replace(
                "_", " "
            )

    @contextlib.contextmanager
    def check_session(self) -> Iterator[LampController]:
        """Bracket one check. A reset that happened *before* it (while idle) is absorbed: the
        session is re-established and logged. A reset *during* it raises ControllerReset from
        the next call, so the check is aborted, never resumed. Lamps are off afterwards."""
        with self._cmd_lock:
            if self._reset_seen is not None:
                log.warning("lamp controller was reset while idle; re-established the session")
                if self._needs_handshake:
                    self._handshake()
                self._reset_seen = None
                self._c.resets_absorbed += 1
            self._interlock_tripped = False
            self._lamps_cut = None
        try:
            yield self
        finally:
            if not self._closing.is_set():
                try:
                    self.all_off()
                except DeviceError as exc:
                    log.warning("could not switch lamps off after the check: %s", exc)

    @contextlib.contextmanager
    def renewal_suspended(self) -> Iterator[None]:
        """Stop renewing the lease (the doctor uses this to prove the watchdog works)."""
        self._renew_suspended.set()
        try:
            yield
        finally:
            self._renew_suspended.clear()
            self._renew_wake.set()

    def add_event_listener(self, callback: Callable[[ControllerEvent], None]) -> None:
        """Call ``callback(event)`` from the reader thread for every event; keep it quick."""
        self._listeners.append(callback)

    def link_stats(self) -> LinkStats:
        c = self._c
        now = time.monotonic()
        return LinkStats(
            frames_sent=c.sent,
            frames_received=self._decoder.frames_ok,
            bad_frames=self._decoder.bad_frames,
            crc_errors=self._decoder.crc_errors,
            naks=c.naks,
            retries=c.retries,
            timeouts=c.timeouts,
            reconnects=c.reconnects,
            controller_resets=c.resets,
            late_replies=c.late,
            missed_events=c.missed_events,
            rtt_ms=None if c.rtt_last is None else round(c.rtt_last * 1000, 3),
            rtt_avg_ms=None if not c.rtt_n else round(c.rtt_sum / c.rtt_n * 1000, 3),
            last_received_age_s=None if c.last_rx is None else round(now - c.last_rx, 3),
        )

    @property
    def lamps_on(self) -> bool:
        """True while the host wants any lamp on (and so keeps renewing the lease)."""
        return bool(self._want_white or self._want_uv)

    @property
    def lamps_requested(self) -> tuple[int, int]:
        return self._want_white, self._want_uv

    # ----------------------------------------------------------------- session
    def _handshake(self) -> None:
        self._seq = 0
        self._needs_handshake = False
        reply = self._exchange("HELLO", {"proto": PROTOCOL_VERSION, "host": self._host})
        their = reply.args.get("proto", "?")
        if reply.verb == "NAK" and reply.args.get("code") != "VERSION":
            self._raise_nak("HELLO", reply)
        try:
            major = int(their.split(".")[0])
        except ValueError:
            major = -1
        if reply.verb == "NAK" or major != PROTOCOL_MAJOR:
            raise ProtocolVersionMismatch(
                f"lamp controller on {self._t.url} speaks protocol {their}, this station speaks "
                f"{PROTOCOL_VERSION} (major {PROTOCOL_MAJOR}); update the station software or "
                f"flash controller firmware that speaks protocol {PROTOCOL_MAJOR}.x"
            )
        try:
            info = ControllerInfo(
                protocol=their,
                firmware=reply.args["fw"],
                board_serial=reply.args["board"],
                capabilities=tuple(reply.args.get("caps", "").split(",")),
                boot_id=reply.args["boot"],
                lease_max_ms=int(reply.args.get("lease_max", "5000")),
                nominal_current_ma={
                    "white": int(reply.args.get("iw_nom", "0")),
                    "uv": int(reply.args.get("iu_nom", "0")),
                },
            )
        except (KeyError, ValueError) as exc:
            raise LinkTimeout(f"lamp controller sent an incomplete HELLO reply: {exc}") from exc
        if self._info is not None and info.boot_id != self._info.boot_id:
            self._note_reset(info.boot_id)
            self._needs_handshake = False  # this handshake already is the new session
        self._info = info

    def _note_reset(self, boot_id: str) -> None:
        if self._reset_seen is None:
            log.warning("lamp controller reset detected (boot id now %s)", boot_id)
            self._c.resets += 1
        self._reset_seen = boot_id
        self._want_white = self._want_uv = 0
        self._needs_handshake = True

    def _raise_if_reset(self) -> None:
        """Raise ControllerReset once per reset, after re-establishing the session."""
        if self._reset_seen is None:
            return
        old = self._info.boot_id if self._info else "?"
        if self._needs_handshake:
            self._handshake()
        new = self._info.boot_id if self._info else "?"
        self._reset_seen = None
        raise ControllerReset(
            f"lamp controller reset during the operation (boot id {old} -> {new}); "
            "its lamps are off and the check was aborted — start the check again"
        )

    def _raise_nak(self, verb: str, reply: Frame) -> None:
        code = reply.args.get("code", "?")
        msg = reply.args.get("msg", "").replace("_", " ")
        if code == "INTERLOCK":
            raise InterlockOpen("UV refused: the lid is open — close the lid and try again")
        if code == "NOHELLO":
            self._note_reset("unknown")
            self._raise_if_reset()
        raise DeviceError(f"lamp controller refused {verb}: {code} {msg}".strip())

    # ----------------------------------------------------------------- commands
    def _request(self, verb: str, args: dict[str, str], budget_s: float | None = None) -> Frame:
        """Send one command, re-establishing the session if the port was reopened meanwhile."""
        deadline = time.monotonic() + (budget_s or self._budget_s())
        while True:
            if self._needs_handshake and verb != "HELLO":
                self._handshake()
            try:
                return self._exchange(verb, args)
            except _Relinked:
                if time.monotonic() > deadline:
                    raise LinkTimeout(
                        f"lamp controller on {self._t.url} kept dropping the link during {verb}"
                    ) from None

    def _budget_s(self) -> float:
        s = self._settings
        total = 0.0
        for n in range(s.retries + 1):
            total += s.reply_timeout_s * (1 + n / 2) + min(0.02 * 2 ** max(n - 1, 0), 0.2)
        return total + 2.0

    def _next_seq(self) -> int:
        self._seq = self._seq + 1 if self._seq < 65535 else 1
        return self._seq

    def _exchange(self, verb: str, args: dict[str, str]) -> Frame:
        """One command with retries (§5); raises LinkTimeout after the last attempt."""
        s = self._settings
        seq = self._next_seq()
        data = encode(Frame("C", seq, verb, args))
        pending = _Pending(seq)
        link_error: str | None = None
        with self._cv:
            self._pending = pending
        try:
            for attempt in range(s.retries + 1):
                if attempt:
                    self._c.retries += 1
                    if not pending.resend_now:
                        time.sleep(min(0.02 * 2 ** (attempt - 1), 0.2))
                if self._closing.is_set():
                    raise LinkTimeout("lamp controller link is closing")
                with self._cv:
                    pending.resend_now = False
                    pending.sent_at = time.monotonic()
                try:
                    self._t.write(data)
                    self._c.sent += 1
                except LinkLost as exc:
                    link_error = str(exc)
                    self._wait_relink(s.reply_timeout_s * (1 + attempt / 2))
                    if self._needs_handshake and verb != "HELLO":
                        raise _Relinked() from None
                    continue
                timeout = s.reply_timeout_s * (1 + attempt / 2)
                end = pending.sent_at + timeout
                with self._cv:
                    while pending.reply is None and not pending.resend_now:
                        left = end - time.monotonic()
                        if left <= 0 or self._closing.is_set():
                            break
                        self._cv.wait(left)
                    reply = pending.reply
                if reply is not None:
                    rtt = time.monotonic() - pending.sent_at
                    self._c.rtt_last = rtt
                    self._c.rtt_sum += rtt
                    self._c.rtt_n += 1
                    if reply.verb == "NAK":
                        self._c.naks += 1
                        if reply.args.get("code") == "CRC":
                            pending.reply = None
                            pending.resend_now = True
                            continue
                    return reply
                if not pending.resend_now:
                    self._c.timeouts += 1
                if self._needs_handshake and verb != "HELLO":
                    raise _Relinked()
        finally:
            with self._cv:
                self._pending = None
        why = f" ({link_error})" if link_error else ""
        raise LinkTimeout(
            f"lamp controller on {self._t.url} did not answer {verb} after {s.retries + 1} "
            f"attempts{why}; check the cable and the controller's power"
        )

    def _wait_relink(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        while not self._t.is_open and time.monotonic() < end and not self._closing.is_set():
            time.sleep(0.01)

    # ----------------------------------------------------------------- threads
    def _read_loop(self) -> None:
        while not self._closing.is_set():
            try:
                data = self._t.read()
            except LinkLost as exc:
                if self._closing.is_set():
                    return
                log.warning("%s; reopening", exc)
                if self._t.reopen(self._closing):
                    self._c.reconnects += 1
                    self._decoder = _carry_counters(self._decoder)
                    self._needs_handshake = True
                continue
            if not data:
                continue
            now = time.monotonic()
            for item in self._decoder.feed(data):
                if isinstance(item, BadFrame):
                    self._on_bad_frame(item)
                    continue
                self._c.last_rx = now
                if item.kind == "R":
                    self._on_reply(item)
                elif item.kind == "E":
                    self._on_event(item, now)

    def _on_bad_frame(self, bad: BadFrame) -> None:
        log.debug("bad frame from controller: %s %r", bad.reason, bad.raw[:60])
        # One command is outstanding, so a damaged reply (even with its number unreadable) is
        # almost surely ours: resend at once; duplicate suppression makes that harmless.
        if bad.kind in ("R", None):
            with self._cv:
                if self._pending is not None and self._pending.reply is None:
                    self._pending.resend_now = True
                    self._cv.notify_all()

    def _on_reply(self, frame: Frame) -> None:
        with self._cv:
            if (
                frame.verb == "NAK"
                and frame.args.get("code") == "CRC"
                and self._pending is not None
                and self._pending.reply is None
                and frame.seq != self._pending.seq
            ):
                # our command arrived damaged in its sequence number: resend it now
                self._c.naks += 1
                self._pending.resend_now = True
                self._cv.notify_all()
                return
            if (
                self._pending is not None
                and frame.seq == self._pending.seq
                and self._pending.reply is None
            ):
                self._pending.reply = frame
                self._cv.notify_all()
                return
        self._c.late += 1

    def _on_event(self, frame: Frame, now: float) -> None:
        last = self._last_event_counter
        if last is not None and frame.seq != (last % 65535) + 1 and frame.verb != "BOOT":
            gap = (frame.seq - last - 1) % 65535
            self._c.missed_events += gap
        self._last_event_counter = frame.seq
        event = ControllerEvent(frame.verb, frame.seq, dict(frame.args), now)
        if frame.verb == "BOOT":
            if self._info is not None and frame.args.get("boot") != self._info.boot_id:
                self._note_reset(frame.args.get("boot", "unknown"))
        elif frame.verb == "LID" and frame.args.get("state") == "open" and self.lamps_on:
            self._interlock_tripped = True
            self._want_white = self._want_uv = 0
        elif frame.verb == "WATCHDOG" and self.lamps_on:
            self._lamps_cut = f"watchdog: {frame.args.get('reason', '?')}"
            if frame.args.get("reason") == "lid":
                self._interlock_tripped = True
            self._want_white = self._want_uv = 0
        while True:
            try:
                self.events.put_nowait(event)
                break
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self.events.get_nowait()
        for callback in list(self._listeners):
            try:
                callback(event)
            except Exception:  # a listener's bug must not kill the link
                log.exception("lamp event listener failed")

    def _renew_loop(self) -> None:
        while not self._closing.is_set():
            on = bool(self._want_white or self._want_uv)
            interval = min(self._lease_ms / 3000.0, 0.3) if on else 1.0
            self._renew_wake.wait(interval)
            self._renew_wake.clear()
            if self._closing.is_set():
                return
            if not (self._want_white or self._want_uv) or self._renew_suspended.is_set():
                continue
            if self._reset_seen is not None:
                continue
            try:
                with self._cmd_lock:
                    if not (self._want_white or self._want_uv):
                        continue
                    reply = self._request("RENEW", {"lease": str(self._lease_ms)})
                if reply.verb == "NAK":
                    if reply.args.get("code") == "NOHELLO":
                        self._note_reset("unknown")
                    continue
                if reply.args.get("lease") == "0" and (self._want_white or self._want_uv):
                    self._lamps_cut = self._lamps_cut or "lease ran out"
                    self._want_white = self._want_uv = 0
            except DeviceError as exc:
                log.warning("lease renewal failed: %s", exc)

    # ----------------------------------------------------------------- parsing
    def _parse_status(self, reply: Frame) -> ControllerStatus:
        a = reply.args
        bits = int(a.get("fault", "0"), 16)

        def lamp_fault(nostrike: int, low: int) -> str | None:
            if bits & nostrike:
                return "nostrike"
            if bits & low:
                return "low_current"
            return None

        return ControllerStatus(
            lid_closed=a.get("lid") == "closed",
            item_present=a.get("item") == "1",
            lamps={
                "white": LampState(reply.get_int("white"), reply.get_int("iw"), lamp_fault(1, 4)),
                "uv": LampState(reply.get_int("uv"), reply.get_int("iu"), lamp_fault(2, 8)),
            },
            fault_bits=bits,
            faults=tuple(name for bit, name in FAULT_BITS.items() if bits & bit),
            uptime_ms=reply.get_int("up"),
            event_counter=reply.get_int("evt"),
            lease_remaining_ms=reply.get_int("lease"),
            boot_id=a.get("boot", ""),
        )


def _carry_counters(old: FrameDecoder) -> FrameDecoder:
    """A fresh decoder after a reopen (drop any half frame) that keeps the link counters."""
    new = FrameDecoder()
    new.frames_ok, new.bad_frames = old.frames_ok, old.bad_frames
    new.crc_errors, new.discarded_bytes = old.crc_errors, old.discarded_bytes
    return new
