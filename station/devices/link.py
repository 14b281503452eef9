"""The link to the lamp controller: framing, sequence numbers, acknowledgement and retry,
late and duplicate replies, and the reader thread (docs/protocol.md §2-§5, §12).

It knows nothing of lamps or sessions: ``LampController`` sends typed commands through
``Link.request`` and takes the controller's events, in the order they arrived, from
``Link.events``. Every frame received gets a position, so the controller can tell whether an
event came before or after a given reply.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Generic, TypeVar

from station.devices.codec import BadFrame, FrameDecoder, WireFrame, encode
from station.devices.protocol import (
    Command,
    Event,
    Hello,
    MessageError,
    Nak,
    NakCode,
    attempt_timeout_s,
    backoff_s,
    decode_event,
    event_gap,
    next_seq,
)
from station.devices.transport import SerialTransport
from station.errors import LinkLost, LinkTimeout, ProtocolError
from station.settings import DeviceSettings

log = logging.getLogger(__name__)

R = TypeVar("R")


class Relinked(Exception):
    """The port was reopened while a command was outstanding: the session must be redone.

    Internal to the device layer; ``LampController`` handles it and never lets it out.
    """


@dataclass(frozen=True)
class Answer(Generic[R]):
    """A command's reply and where it came in the stream of received frames."""

    message: R | Nak
    position: int
    received_at: float


@dataclass(frozen=True)
class ReceivedEvent:
    """An event, its raw frame (name and fields for listeners) and its stream position."""

    event: Event
    frame: WireFrame
    position: int
    received_at: float


class EventInbox:
    """The controller's events, oldest first, handed from the reader thread to the controller.

    A queue whose consumer can wait for "something arrived" without taking it, so it takes
    the events only while it holds its own locks.
    """

    def __init__(self) -> None:
        self._items: collections.deque[ReceivedEvent] = collections.deque()
        self._cv = threading.Condition()

    def put(self, item: ReceivedEvent) -> None:
        with self._cv:
            self._items.append(item)
            self._cv.notify_all()

    def wait(self, timeout: float) -> bool:
        """True once something is waiting (at most ``timeout`` seconds)."""
        with self._cv:
            return self._cv.wait_for(lambda: bool(self._items), timeout)

    def take_all(self) -> list[ReceivedEvent]:
        with self._cv:
            items = list(self._items)
            self._items.clear()
            return items

    def wake(self) -> None:
        """Wake a waiting consumer (used when closing)."""
        with self._cv:
            self._cv.notify_all()


@dataclass
class LinkCounters:
    """What the link has seen; ``LampController.link_stats`` reports them."""

    frames_sent: int = 0
    frames_received: int = 0
    bad_frames: int = 0
    crc_errors: int = 0
    naks: int = 0
    retries: int = 0
    timeouts: int = 0
    reconnects: int = 0
    late_replies: int = 0
    missed_events: int = 0
    rtt_ms: float | None = None
    rtt_avg_ms: float | None = None
    last_received_age_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Pending:
    seq: int
    reply: WireFrame | None = None
    position: int = 0
    received_at: float = 0.0
    resend_now: bool = False
    sent_at: float = 0.0


class Link:
    """One command outstanding at a time over a ``SerialTransport``; a reader thread."""

    def __init__(self, transport: SerialTransport, settings: DeviceSettings) -> None:
        self._t = transport
        self._settings = settings
        self._decoder = FrameDecoder()
        self._cv = threading.Condition()
        self._closing = threading.Event()
        self._pending: _Pending | None = None
        self._seq = 0
        self._position = 0
        self._last_event_counter: int | None = None
        # counters written by one thread each (sender or reader), read for stats
        self._sent = self._naks = self._retries = self._timeouts = 0
        self._late = self._missed = self._undecodable = self._reconnects = 0
        self._rtt_last: float | None = None
        self._rtt_sum = 0.0
        self._rtt_n = 0
        self._last_rx: float | None = None
        #: bumps each time the port is reopened; a new generation needs a new HELLO
        self.generation = 0
        #: the controller's events in arrival order
        self.events = EventInbox()
        self._reader = threading.Thread(target=self._read_loop, name="lamp-link", daemon=True)

    @property
    def url(self) -> str:
        return self._t.url

    @property
    def closing(self) -> bool:
        return self._closing.is_set()

    def start(self) -> None:
        self._reader.start()

    def close(self) -> None:
        """Stop the reader and release the port (the caller switches lamps off first)."""
        self._closing.set()
        with self._cv:
            self._cv.notify_all()
        self.events.wake()
        if self._reader.is_alive() and self._reader is not threading.current_thread():
            self._reader.join(timeout=2.0)
        self._t.close()

    def counters(self) -> LinkCounters:
        now = time.monotonic()
        d = self._decoder
        return LinkCounters(
            frames_sent=self._sent,
            frames_received=d.frames_ok,
            bad_frames=d.bad_frames + self._undecodable,
            crc_errors=d.crc_errors,
            naks=self._naks,
            retries=self._retries,
            timeouts=self._timeouts,
            reconnects=self._reconnects,
            late_replies=self._late,
            missed_events=self._missed,
            rtt_ms=None if self._rtt_last is None else round(self._rtt_last * 1000, 3),
            rtt_avg_ms=None if not self._rtt_n else round(self._rtt_sum / self._rtt_n * 1000, 3),
            last_received_age_s=None if self._last_rx is None else round(now - self._last_rx, 3),
        )

    # ----------------------------------------------------------------- sending
    def request(self, command: Command[R]) -> Answer[R]:
        """Send ``command`` and return its typed reply, retrying as §5 says.

        Raises LinkTimeout after the last attempt, ProtocolError for a reply that does not
        read as the command's reply, and Relinked when the port was reopened meanwhile
        (except for HELLO, which starts the new session itself).
        """
        if isinstance(command, Hello):
            self._seq = 0  # a new session numbers its commands from 1 again
        frame, answer = self._exchange(command)
        try:
            message = command.decode_reply(frame)
        except MessageError as exc:
            raise ProtocolError(
                f"lamp controller on {self.url} answered {command.VERB} with a reply this "
                f"station cannot read ({exc})"
            ) from exc
        return Answer(message, answer.position, answer.received_at)

    def _exchange(self, command: Command[Any]) -> tuple[WireFrame, _Pending]:
        s = self._settings
        relink_ends_session = not isinstance(command, Hello)
        generation = self.generation
        self._seq = next_seq(self._seq)
        pending = _Pending(self._seq)
        data = encode(command.frame(pending.seq))
        link_error: str | None = None
        with self._cv:
            self._pending = pending
        try:
            for attempt in range(s.retries + 1):
                if attempt:
                    self._retries += 1
                    if not pending.resend_now:
                        time.sleep(backoff_s(attempt))
                if self._closing.is_set():
                    raise LinkTimeout(
                        f"lamp controller link on {self.url} is closing; nothing was sent",
                        fix="wait for the station to finish shutting down, then start it again",
                    )
                timeout = attempt_timeout_s(s.reply_timeout_s, attempt)
                with self._cv:
                    pending.resend_now = False
                    # the reply to the last attempt came in during the back-off: take it
                    # (resending would also measure its round trip from the wrong send)
                    answered = pending.reply is not None
                    if not answered:
                        pending.sent_at = time.monotonic()
                try:
                    if not answered:
                        self._t.write(data)
                        self._sent += 1
                except LinkLost as exc:
                    link_error = str(exc)
                    self._wait_reopen(timeout)
                    if relink_ends_session and self.generation != generation:
                        raise Relinked() from None
                    continue
                reply = self._await_reply(pending, pending.sent_at + timeout)
                if reply is not None:
                    rtt = pending.received_at - pending.sent_at
                    self._rtt_last = rtt
                    self._rtt_sum += rtt
                    self._rtt_n += 1
                    if reply.verb == "NAK":
                        self._naks += 1
                        if reply.args.get("code") == NakCode.CRC:
                            with self._cv:
                                pending.reply = None
                                pending.resend_now = True
                            continue
                    return reply, pending
                if not pending.resend_now:
                    self._timeouts += 1
                if relink_ends_session and self.generation != generation:
                    raise Relinked()
        finally:
            with self._cv:
                self._pending = None
        why = f" ({link_error})" if link_error else ""
        raise LinkTimeout(
            f"lamp controller on {self.url} did not answer {command.VERB} after "
            f"{s.retries + 1} attempts{why}"
        )

    def _await_reply(self, pending: _Pending, end: float) -> WireFrame | None:
        with self._cv:
            while pending.reply is None and not pending.resend_now:
                left = end - time.monotonic()
                if left <= 0 or self._closing.is_set():
                    break
                self._cv.wait(left)
            return pending.reply

    def _wait_reopen(self, timeout: float) -> None:
        """Give the reader thread up to ``timeout`` to reopen a vanished port."""
        with self._cv:
            self._cv.wait_for(lambda: self._t.is_open or self._closing.is_set(), timeout)

    # ----------------------------------------------------------------- receiving
    def _read_loop(self) -> None:
        while not self._closing.is_set():
            try:
                data = self._t.read()
            except LinkLost as exc:
                if self._closing.is_set():
                    return
                log.warning("%s; reopening", exc)
                if self._t.reopen(self._closing):
                    self._reconnects += 1
                    self._decoder = _carry_counters(self._decoder)
                    with self._cv:
                        self.generation += 1
                        self._cv.notify_all()
                continue
            if not data:
                continue
            now = time.monotonic()
            for item in self._decoder.feed(data):
                if isinstance(item, BadFrame):
                    self._on_bad_frame(item)
                    continue
                self._last_rx = now
                self._position += 1
                if item.kind == "R":
                    self._on_reply(item, self._position, now)
                elif item.kind == "E":
                    self._on_event(item, self._position, now)

    def _on_bad_frame(self, bad: BadFrame) -> None:
        log.debug("bad frame from controller: %s %r", bad.reason, bad.raw[:60])
        # One command is outstanding, so a damaged reply (even with its number unreadable) is
        # almost surely ours: resend at once; duplicate suppression makes that harmless.
        if bad.kind in ("R", None):
            with self._cv:
                if self._pending is not None and self._pending.reply is None:
                    self._pending.resend_now = True
                    self._cv.notify_all()

    def _on_reply(self, frame: WireFrame, position: int, now: float) -> None:
        with self._cv:
            pending = self._pending
            if pending is not None and pending.reply is None:
                damaged_seq = frame.seq != pending.seq
                if damaged_seq and frame.verb == "NAK" and frame.args.get("code") == NakCode.CRC:
                    # our command arrived damaged in its sequence number: resend it now
                    self._naks += 1
                    pending.resend_now = True
                    self._cv.notify_all()
                    return
                if frame.seq == pending.seq:
                    pending.reply = frame
                    pending.position = position
                    pending.received_at = now
                    self._cv.notify_all()
                    return
        self._late += 1

    def _on_event(self, frame: WireFrame, position: int, now: float) -> None:
        last = self._last_event_counter
        if last is not None and frame.verb != "BOOT":
            self._missed += event_gap(last, frame.seq)
        self._last_event_counter = frame.seq
        try:
            event = decode_event(frame)
        except MessageError as exc:
            self._undecodable += 1
            log.warning("unreadable event from the lamp controller: %s", exc)
            return
        self.events.put(ReceivedEvent(event, frame, position, now))


def _carry_counters(old: FrameDecoder) -> FrameDecoder:
    """A fresh decoder after a reopen (drop any half frame) that keeps the link counters."""
    new = FrameDecoder()
    new.frames_ok, new.bad_frames = old.frames_ok, old.bad_frames
    new.crc_errors, new.discarded_bytes = old.crc_errors, old.discarded_bytes
    return new
