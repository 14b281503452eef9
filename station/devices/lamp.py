"""LampController: the lamp lease, the controller session and the safety rules (docs/protocol.md
§7, §10, §12). Framing, retries and the reader thread are the ``Link``'s; the messages are
``protocol``'s.

Concurrency, in one place: ``_cmd_lock`` keeps one command sequence at a time (public calls,
lease renewal, the event pump). Everything the controller knows about the board — the
session state, the lamps it asked for, why they were cut — lives under ``_lock`` and changes
only there. The link's reader thread never writes it: it queues events, and they are applied
in the order they came off the wire, interleaved with the replies, by whoever holds
``_cmd_lock`` (the caller that got a reply, or the event pump between commands). So an event
that arrives just after a ``LAMP`` reply always counts against the new lamp state.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, NoReturn, TypeVar

from station.devices.link import Answer, Link, LinkCounters, ReceivedEvent, Relinked
from station.devices.protocol import (
    PROTOCOL_VERSION,
    BootEvent,
    Command,
    FaultBits,
    Hello,
    HelloOk,
    Lamp,
    LampName,
    LidEvent,
    LidState,
    Nak,
    NakCode,
    Off,
    Ping,
    ProtocolVersion,
    Renew,
    RenewOk,
    SelfTestName,
    Status,
    StatusOk,
    Test,
    WatchdogEvent,
    WatchdogReason,
    attempt_timeout_s,
    backoff_s,
)
from station.devices.transport import SerialTransport
from station.errors import (
    ControllerReset,
    DeviceError,
    InputError,
    InterlockOpen,
    LampFault,
    LinkTimeout,
    ProtocolVersionMismatch,
)
from station.settings import DeviceSettings

log = logging.getLogger(__name__)

R = TypeVar("R")

#: kept for callers that check versions (the doctor)
PROTOCOL_MAJOR = PROTOCOL_VERSION.major
PROTOCOL_MINOR = PROTOCOL_VERSION.minor

AGAIN_THEN_DOCTOR = "start the check again; run `station doctor` if this repeats"

#: the boot id used when the controller was reset but did not say its new id (NOHELLO)
UNKNOWN_BOOT = "unknown"


class SessionState(enum.Enum):
    """Where the session with the controller stands; changed only under the state lock."""

    CONNECTING = "connecting"  # port open, no HELLO answered yet
    READY = "ready"  # session established, nothing to report
    RELINKED = "relinked"  # the port was reopened: HELLO needed; its boot id tells if it reset
    RESET = "reset"  # a controller reset was noticed: HELLO needed, not yet reported
    RESET_RESYNCED = "reset_resynced"  # new session after a reset, not yet reported
    CLOSED = "closed"


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

    @classmethod
    def from_hello(cls, ok: HelloOk) -> ControllerInfo:
        return cls(
            protocol=str(ok.proto),
            firmware=ok.fw,
            board_serial=ok.board,
            capabilities=ok.caps,
            boot_id=ok.boot,
            lease_max_ms=ok.lease_max_ms,
            nominal_current_ma={"white": ok.iw_nom_ma, "uv": ok.iu_nom_ma},
        )


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

    @classmethod
    def from_status(cls, ok: StatusOk) -> ControllerStatus:
        return cls(
            lid_closed=ok.lid is LidState.CLOSED,
            item_present=ok.item,
            lamps={
                "white": LampState(ok.white, ok.iw_ma, ok.fault.lamp_fault(LampName.WHITE)),
                "uv": LampState(ok.uv, ok.iu_ma, ok.fault.lamp_fault(LampName.UV)),
            },
            fault_bits=int(ok.fault),
            faults=ok.fault.names,
            uptime_ms=ok.up_ms,
            event_counter=ok.evt,
            lease_remaining_ms=ok.lease_ms,
            boot_id=ok.boot,
        )


@dataclass(frozen=True)
class ControllerEvent:
    """An unsolicited event (§9): name, the controller's event counter, its fields."""

    name: str
    counter: int
    args: dict[str, str]
    received_at: float


@dataclass
class LinkStats(LinkCounters):
    """The link's counters plus the controller resets the session saw: for the health
    endpoint, the doctor and the check record."""

    controller_resets: int = 0


class LampController:
    """Driver for one lamp-controller board. Use ``LampController.connect``."""

    def __init__(self, link: Link, settings: DeviceSettings, host_name: str = "station") -> None:
        self._link = link
        self._settings = settings
        self._host = host_name.replace(" ", "_") or "station"
        self._cmd_lock = threading.RLock()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._renew_wake = threading.Event()
        self._renew_suspended = threading.Event()
        # ---- state, under self._lock
        self._state = SessionState.CONNECTING
        self._session_generation = link.generation
        self._info: ControllerInfo | None = None
        self._reset_boot: str | None = None  # boot id of the reset being handled
        self._resets = 0
        self._want = (0, 0)  # (white, uv) as last acknowledged, zeroed when the board cuts
        self._lease_ms = settings.lease_ms
        self._lease_since = 0.0  # monotonic time of the last LAMP or RENEW sent for the lease
        self._interlock_tripped = False  # since the last set_lamps
        self._lamps_cut: str | None = None  # why the board cut the lamps, since set_lamps
        # ----
        self._listeners: list[Callable[[ControllerEvent], None]] = []
        #: unsolicited events, oldest first (bounded: the oldest are dropped when full)
        self.events: queue.Queue[ControllerEvent] = queue.Queue(maxsize=1000)
        self._pump = threading.Thread(target=self._pump_loop, name="lamp-events", daemon=True)
        self._renewer = threading.Thread(target=self._renew_loop, name="lamp-lease", daemon=True)

    # ----------------------------------------------------------------- lifecycle
    @classmethod
    def connect(
        cls, port: str, settings: DeviceSettings, host_name: str = "station"
    ) -> LampController:
        """Open ``port`` exclusively, start the link and do the HELLO handshake."""
        transport = SerialTransport(port, settings.baudrate)
        transport.open()
        link = Link(transport, settings)
        ctl = cls(link, settings, host_name)
        link.start()
        ctl._pump.start()
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
        with self._lock:
            if self._state is SessionState.CLOSED:
                return
            self._state = SessionState.CLOSED
            lamps_on = self._want != (0, 0)
            self._want = (0, 0)
        try:
            if lamps_on:
                with self._cmd_lock:
                    self._request(Off(), budget_s=0.5)
        except DeviceError as exc:
            log.warning("could not switch lamps off while closing: %s", exc)
        self._stop.set()
        self._renew_wake.set()
        self._link.close()
        for thread in (self._pump, self._renewer):
            if thread.is_alive() and thread is not threading.current_thread():
                thread.join(timeout=2.0)

    def __enter__(self) -> LampController:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> str:
        return self._link.url

    @property
    def info(self) -> ControllerInfo:
        info = self._info
        if info is None:
            raise LinkTimeout("lamp controller has not completed its handshake")
        return info

    @property
    def session_state(self) -> SessionState:
        with self._lock:
            return self._state

    # ----------------------------------------------------------------- public API
    def set_lamps(self, white: int, uv: int, lease_ms: int | None = None) -> float:
        """Set absolute lamp levels (0-100); returns the monotonic time the controller acknowledged.

        The lease is renewed in the background while any lamp is on.
        """
        for name, level in (("white", white), ("uv", uv)):
            if not isinstance(level, int) or isinstance(level, bool) or not 0 <= level <= 100:
                raise InputError(f"{name} lamp level must be an integer 0-100, got {level!r}")
        lease = lease_ms if lease_ms is not None else self._settings.lease_ms
        with self._cmd_lock:
            self._raise_if_reset()
            # confirm_lamps() covers the time since the last set_lamps only
            if white == 0 and uv == 0:
                off = self._request(Off(), effect=lambda _: self._lamps_acknowledged(0, 0))
                self._raise_if_reset()
                return off.received_at
            answer = self._request(
                Lamp(white, uv, lease),
                effect=lambda _: self._lamps_acknowledged(white, uv, lease),
            )
            self._raise_if_reset()
            if isinstance(answer.message, Nak):
                self._raise_nak("LAMP", answer.message)
        self._renew_wake.set()
        return answer.received_at

    def all_off(self) -> None:
        """Switch every lamp off. Works even after a detected reset (it never turns anything on)."""
        with self._cmd_lock:
            self._request(Off(), effect=lambda _: self._set_want(0, 0))

    def status(self) -> ControllerStatus:
        with self._cmd_lock:
            self._raise_if_reset()
            answer = self._request(Status())
            if isinstance(answer.message, Nak):
                self._raise_nak("STATUS", answer.message)
            st = ControllerStatus.from_status(answer.message)
            with self._lock:
                if self._info is not None and st.boot_id != self._info.boot_id:
                    self._note_reset(st.boot_id)
            self._raise_if_reset()
            return st

    def confirm_lamps(self) -> ControllerStatus:
        """Check that the lamps stayed as last set since ``set_lamps``; call after each capture.

        Raises InterlockOpen if the lid opened, LampFault if a lamp was cut or failed to light,
        ControllerReset if the controller rebooted.
        """
        with self._cmd_lock:
            st = self.status()
            with self._lock:
                white, uv = self._want
                tripped, cut = self._interlock_tripped, self._lamps_cut
        if tripped or (uv and not st.lid_closed):
            raise InterlockOpen(
                "the lid was opened while the lamps were on; the lamps are off and the check "
                "was aborted"
            )
        if cut:
            raise LampFault(
                f"the controller switched the lamps off ({cut}); the check was aborted",
                fix=AGAIN_THEN_DOCTOR,
            )
        for name, level in (("white", white), ("uv", uv)):
            lamp = st.lamps[name]
            if level and lamp.level != level:
                raise LampFault(
                    f"{name} lamp is at {lamp.level}% but {level}% was set", fix=AGAIN_THEN_DOCTOR
                )
            if level and lamp.fault:
                raise LampFault(
                    f"{name} lamp fault: {lamp.fault} (current {lamp.current_ma} mA)",
                    fix="run `station doctor`; the lamp may need replacing",
                )
        return st

    def ping(self) -> float:
        """Round-trip time of one PING in milliseconds."""
        with self._cmd_lock:
            start = time.monotonic()
            self._request(Ping())
            return (time.monotonic() - start) * 1000.0

    def self_test(self, name: str) -> tuple[bool, str]:
        """Run one of the controller's built-in tests (``interlock`` or ``watchdog``)."""
        try:
            which = SelfTestName(name)
        except ValueError:
            known = ", ".join(t.value for t in SelfTestName)
            raise InputError(f"unknown controller self-test {name!r}: use {known}") from None
        with self._cmd_lock:
            self._raise_if_reset()
            # both tests leave every lamp off
            answer = self._request(Test(which), budget_s=3.0, effect=lambda _: self._set_want(0, 0))
            if isinstance(answer.message, Nak):
                self._raise_nak("TEST", answer.message)
            return answer.message.passed, answer.message.detail

    @contextlib.contextmanager
    def check_session(self) -> Iterator[LampController]:
        """Bracket one check. A reset that happened *before* it (while idle) is absorbed: the
        session is re-established and logged. A reset *during* it raises ControllerReset from
        the next call, so the check is aborted, never resumed. Lamps are off afterwards."""
        with self._cmd_lock:
            self._apply_events()
            with self._lock:
                state = self._state
            if state in (SessionState.RESET, SessionState.RESET_RESYNCED):
                log.warning("lamp controller was reset while idle; re-established the session")
                if state is SessionState.RESET:
                    self._handshake()
                with self._lock:
                    if self._state is SessionState.RESET_RESYNCED:
                        self._state = SessionState.READY
                    self._reset_boot = None
            with self._lock:
                self._interlock_tripped = False
                self._lamps_cut = None
        try:
            yield self
        finally:
            if not self._stop.is_set():
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
        """Call ``callback(event)`` for every event once it was applied; keep it quick."""
        self._listeners.append(callback)

    def link_stats(self) -> LinkStats:
        c = self._link.counters()
        with self._lock:
            resets = self._resets
        return LinkStats(**{**asdict(c), "controller_resets": resets})

    @property
    def lamps_on(self) -> bool:
        """True while the host wants any lamp on (and so keeps renewing the lease)."""
        with self._lock:
            return self._want != (0, 0)

    @property
    def lamps_requested(self) -> tuple[int, int]:
        with self._lock:
            return self._want

    # ----------------------------------------------------------------- commands
    def _request(
        self,
        command: Command[R],
        budget_s: float | None = None,
        effect: Callable[[R], None] | None = None,
    ) -> Answer[R]:
        """Send one command (cmd lock held) and apply its reply in stream order.

        Events received before the reply are applied first, then ``effect`` (for an OK reply),
        then the events received after it. Re-establishes the session first when the port was
        reopened or the controller reset.
        """
        deadline = time.monotonic() + (budget_s or self._budget_s())
        while True:
            with self._lock:
                if (
                    self._state is SessionState.READY
                    and self._link.generation != self._session_generation
                ):
                    self._state = SessionState.RELINKED
                needs_hello = self._state in (SessionState.RELINKED, SessionState.RESET)
            if needs_hello:
                self._handshake()
                if isinstance(command, Lamp):
                    self._raise_if_reset()  # never switch lamps on in a session that reset
            try:
                answer = self._link.request(command)
            except Relinked:
                if time.monotonic() > deadline:
                    raise LinkTimeout(
                        f"lamp controller on {self._link.url} kept dropping the link during "
                        f"{command.VERB}",
                        fix="check the lamp controller's USB cable and try another USB port",
                    ) from None
                continue
            message = answer.message
            on_ok: Callable[[], None] | None = None
            if effect is not None and not isinstance(message, Nak):
                on_ok = functools.partial(effect, message)
            self._apply_events(answer.position, on_ok)
            return answer

    def _budget_s(self) -> float:
        s = self._settings
        total = sum(
            attempt_timeout_s(s.reply_timeout_s, n) + backoff_s(max(n, 1))
            for n in range(s.retries + 1)
        )
        return total + 2.0

    def _handshake(self) -> None:
        """HELLO (cmd lock held): starts a new session; its boot id tells whether it reset."""
        with self._lock:
            generation = self._link.generation
        answer = self._link.request(Hello(self._host))
        message = answer.message
        if isinstance(message, Nak):
            if message.code is not NakCode.VERSION:
                self._raise_nak("HELLO", message)
            self._raise_mismatch(message.proto or "?")
        if not message.proto.compatible_with(PROTOCOL_VERSION):
            self._raise_mismatch(str(message.proto))
        info = ControllerInfo.from_hello(message)

        def established() -> None:
            old = self._info
            if old is not None and info.boot_id != old.boot_id:
                self._note_reset(info.boot_id)
            if self._state in (SessionState.RESET, SessionState.RESET_RESYNCED):
                self._state = SessionState.RESET_RESYNCED  # this HELLO is the new session
            elif self._state is not SessionState.CLOSED:
                self._state = SessionState.READY
            self._info = info
            self._session_generation = generation

        self._apply_events(answer.position, established)

    def _raise_mismatch(self, theirs: str) -> NoReturn:
        ours = PROTOCOL_VERSION
        raise ProtocolVersionMismatch(
            f"lamp controller on {self._link.url} speaks protocol {theirs}, this station speaks "
            f"{ours} (major {ours.major}); update the station software or "
            f"flash controller firmware that speaks protocol {ours.major}.x"
        )

    def _raise_if_reset(self) -> None:
        """Raise ControllerReset once per reset, after re-establishing the session (cmd lock)."""
        with self._lock:
            state = self._state
            old = self._info.boot_id if self._info else "?"
        if state not in (SessionState.RESET, SessionState.RESET_RESYNCED):
            return
        if state is SessionState.RESET:
            self._handshake()
        with self._lock:
            new = self._info.boot_id if self._info else "?"
            if self._state is SessionState.RESET_RESYNCED:
                self._state = SessionState.READY
            self._reset_boot = None
        raise ControllerReset(
            f"lamp controller reset during the operation (boot id {old} -> {new}); "
            "its lamps are off and the check was aborted"
        )

    def _raise_nak(self, verb: str, nak: Nak) -> NoReturn:
        if nak.code is NakCode.INTERLOCK:
            raise InterlockOpen("UV refused: the lid is open")
        if nak.code is NakCode.NOHELLO:
            with self._lock:
                self._note_reset(UNKNOWN_BOOT)
            self._raise_if_reset()
        raise DeviceError(
            f"lamp controller refused {verb}: {nak.code_text} {nak.msg}".strip(),
            fix="run `station doctor`; if it fails, flash controller firmware that speaks "
            f"protocol {PROTOCOL_VERSION.major}.x",
        )

    # ----------------------------------------------------------------- state (under _lock)
    def _note_reset(self, boot_id: str) -> None:
        """A sign of a controller reset; each distinct reset is logged and counted once."""
        if self._state is SessionState.CLOSED:
            return
        current = self._info.boot_id if self._info else None
        if boot_id == current:
            return  # the session already runs on this boot
        same = self._state is SessionState.RESET and (
            boot_id == self._reset_boot or UNKNOWN_BOOT in (boot_id, self._reset_boot)
        )
        if same:
            if boot_id != UNKNOWN_BOOT:
                self._reset_boot = boot_id
        else:
            log.warning("lamp controller reset detected (boot id now %s)", boot_id)
            self._resets += 1
            self._reset_boot = boot_id
        self._state = SessionState.RESET
        self._want = (0, 0)

    # Effects of replies: ``_apply_events`` runs them with ``_lock`` held.
    def _set_want(self, white: int, uv: int) -> None:
        self._want = (white, uv)

    def _lamps_acknowledged(self, white: int, uv: int, lease_ms: int | None = None) -> None:
        """A LAMP/OFF was accepted: the new levels, and nothing tripped since (yet)."""
        self._want = (white, uv)
        self._lease_since = time.monotonic()
        if lease_ms is not None:
            self._lease_ms = lease_ms
        self._interlock_tripped = False
        self._lamps_cut = None

    def _apply_event(self, received: ReceivedEvent) -> None:
        event = received.event
        if isinstance(event, BootEvent):
            if self._info is not None and event.boot != self._info.boot_id:
                self._note_reset(event.boot)
        elif isinstance(event, LidEvent):
            if event.state is LidState.OPEN and self._want != (0, 0):
                self._interlock_tripped = True
                self._want = (0, 0)
        elif isinstance(event, WatchdogEvent) and self._want != (0, 0):
            self._lamps_cut = f"watchdog: {event.reason.value}"
            if event.reason is WatchdogReason.LID:
                self._interlock_tripped = True
            self._want = (0, 0)

    def _apply_events(
        self, position: int | None = None, effect: Callable[[], None] | None = None
    ) -> None:
        """Apply the queued events in arrival order, with ``effect`` (a reply's) at ``position``.

        Called with the cmd lock held, so no reply can be waiting to be applied meanwhile.
        """
        applied: list[ReceivedEvent] = []
        with self._lock:
            pending = self._link.events.take_all()
            for item in pending:
                if effect is not None and position is not None and item.position > position:
                    effect()
                    effect = None
                self._apply_event(item)
                applied.append(item)
            if effect is not None:
                effect()
        self._publish(applied)

    def _publish(self, applied: list[ReceivedEvent]) -> None:
        for item in applied:
            event = ControllerEvent(
                item.frame.verb, item.frame.seq, dict(item.frame.args), item.received_at
            )
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
                except Exception:  # a listener's bug must not stop the controller
                    log.exception("lamp event listener failed")

    # ----------------------------------------------------------------- threads
    def _pump_loop(self) -> None:
        """Apply events that arrive between commands (waits for the cmd lock to do so)."""
        while not self._stop.is_set():
            if not self._link.events.wait(0.5):
                continue
            with self._cmd_lock:
                if self._stop.is_set():
                    return
                self._apply_events()

    def _renew_loop(self) -> None:
        """RENEW a third of a lease (at most 300 ms, §12) after the last LAMP or renewal."""
        while not self._stop.is_set():
            with self._lock:
                on = self._want != (0, 0) and self._state not in (
                    SessionState.RESET,
                    SessionState.RESET_RESYNCED,
                    SessionState.CLOSED,
                )
                lease_ms, since = self._lease_ms, self._lease_since
            wait = since + min(lease_ms / 3000.0, 0.3) - time.monotonic() if on else 1.0
            if wait > 0 or self._renew_suspended.is_set():
                # woken early by set_lamps or the end of a suspension: look again
                self._renew_wake.wait(wait if wait > 0 else 1.0)
                self._renew_wake.clear()
                continue
            try:
                with self._cmd_lock:
                    with self._lock:
                        on = self._want != (0, 0)
                        lease_ms = self._lease_ms
                        self._lease_since = time.monotonic()  # the next try is an interval away
                    if not on:
                        continue
                    answer = self._request(Renew(lease_ms), effect=self._renewed)
                    if isinstance(answer.message, Nak) and answer.message.code is NakCode.NOHELLO:
                        with self._lock:
                            self._note_reset(UNKNOWN_BOOT)
            except DeviceError as exc:
                log.warning("lease renewal failed: %s", exc)

    def _renewed(self, reply: RenewOk) -> None:
        if reply.lease_ms == 0 and self._want != (0, 0):
            self._lamps_cut = self._lamps_cut or "lease ran out"
            self._want = (0, 0)


__all__ = [
    "PROTOCOL_MAJOR",
    "PROTOCOL_MINOR",
    "ControllerEvent",
    "ControllerInfo",
    "ControllerStatus",
    "FaultBits",
    "LampController",
    "LampState",
    "LinkStats",
    "ProtocolVersion",
    "SessionState",
]
