"""The only module that touches pyserial: open exclusively, read, write, reopen with backoff."""

from __future__ import annotations

import contextlib
import threading
import time

import serial

from station.errors import LinkLost

try:  # tcdrain/tcflush on a vanished tty raise termios.error, which is not an OSError
    from termios import error as _TermiosError
except ImportError:  # pragma: no cover - not POSIX
    _TermiosError = OSError  # type: ignore[misc,assignment]

_PORT_ERRORS = (serial.SerialException, OSError, _TermiosError)


class SerialTransport:
    """A byte pipe to the lamp controller over any pyserial URL or device path.

    Every pyserial/OS failure becomes ``LinkLost`` naming the port, so the driver has a single
    error to handle and the operator sees which port failed.
    """

    def __init__(self, url: str, baudrate: int = 115200, read_timeout_s: float = 0.02) -> None:
        if not url:
            raise LinkLost(
                "no lamp-controller port configured",
                fix="set STATION_DEVICES__LAMP_PORT (or start with --sim)",
            )
        self.url = url
        self.baudrate = baudrate
        self.read_timeout_s = read_timeout_s
        self._port: serial.SerialBase | None = None
        self._write_lock = threading.Lock()
        self.reopen_count = 0

    @property
    def is_open(self) -> bool:
        return self._port is not None and bool(self._port.is_open)

    def open(self) -> None:
        try:
            self._port = serial.serial_for_url(
                self.url,
                baudrate=self.baudrate,
                timeout=self.read_timeout_s,
                write_timeout=1.0,
                exclusive=True,
            )
        except (*_PORT_ERRORS, ValueError) as exc:
            self._port = None
            raise LinkLost(
                f"cannot open lamp-controller port {self.url}: {exc}",
                fix="check the lamp controller's cable and the port setting "
                "(STATION_DEVICES__LAMP_PORT), then run `station doctor`",
            ) from exc

    def reopen(
        self, stop: threading.Event, first_delay_s: float = 0.05, max_delay_s: float = 1.0
    ) -> bool:
        """Reopen until it works or ``stop`` is set; the wait doubles up to ``max_delay_s``."""
        self._close_port()
        delay = first_delay_s
        while not stop.is_set():
            try:
                self.open()
            except LinkLost:
                stop.wait(delay)
                delay = min(delay * 2, max_delay_s)
                continue
            self.reopen_count += 1
            return True
        return False

    def write(self, data: bytes) -> None:
        port = self._port
        if port is None:
            raise LinkLost(f"lamp-controller port {self.url} is not open")
        try:
            with self._write_lock:
                port.write(data)
                port.flush()
        except (*_PORT_ERRORS, TypeError, AttributeError) as exc:
            # TypeError/AttributeError: the reader thread closed the port to reopen it
            raise LinkLost(f"writing to lamp-controller port {self.url} failed: {exc}") from exc

    def read(self) -> bytes:
        """Whatever has arrived, waiting at most ``read_timeout_s`` for the first byte."""
        port = self._port
        if port is None:
            time.sleep(self.read_timeout_s)
            raise LinkLost(f"lamp-controller port {self.url} is not open")
        try:
            first = port.read(1)
            if not first:
                return b""
            waiting = int(getattr(port, "in_waiting", 0))
            return first + (port.read(waiting) if waiting else b"")
        except (*_PORT_ERRORS, TypeError, AttributeError) as exc:
            # TypeError/AttributeError: pyserial's fd was closed under us by close()
            raise LinkLost(f"reading lamp-controller port {self.url} failed: {exc}") from exc

    def _close_port(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(*_PORT_ERRORS):
                port.close()

    def close(self) -> None:
        self._close_port()
