"""pyserial ``hwsim://NAME`` ports: the in-memory line of a running ``SimStation``.

Goes through pyserial's own ``serial_for_url``/``SerialBase`` machinery, so the station's
transport runs its real code path, just without a kernel pty in the way.
"""

from __future__ import annotations

import time
import urllib.parse
from typing import Any

from serial.serialutil import PortNotOpenError, SerialBase, SerialException

from hw_sim import port_table
from hw_sim.ports import MemoryPort


class Serial(SerialBase):
    """A host-side handle on a simulator's MemoryPort."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._mem: MemoryPort | None = None
        self._gen = -1
        super().__init__(*args, **kwargs)

    def open(self) -> None:
        if self.is_open:
            raise SerialException("port already open")
        if self.port is None:
            raise SerialException("port must be set before open")
        name = self.from_url(str(self.port))
        mem = port_table.lookup(name)
        if mem is None:
            raise SerialException(f"hwsim://{name}: no running simulator of that name")
        try:
            self._gen = mem.attach()
        except OSError as exc:
            raise SerialException(str(exc)) from exc
        self._mem = mem
        self.is_open = True
        self._reconfigure_port()
        self.reset_input_buffer()

    def from_url(self, url: str) -> str:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "hwsim" or not parts.netloc:
            raise SerialException(f"expected a URL like hwsim://sim1, got {url!r}")
        return parts.netloc

    def _reconfigure_port(self) -> None:
        """Baud rate and framing mean nothing on an in-memory line."""

    def close(self) -> None:
        if self._mem is not None:
            self._mem.detach(self._gen)
        self._mem = None
        self.is_open = False

    def _port_or_fail(self) -> MemoryPort:
        if not self.is_open or self._mem is None:
            raise PortNotOpenError()
        return self._mem

    @property
    def in_waiting(self) -> int:
        try:
            return self._port_or_fail().host_waiting(self._gen)
        except OSError as exc:
            raise SerialException(str(exc)) from exc

    def read(self, size: int = 1) -> bytes:
        """Up to ``size`` bytes, waiting at most ``timeout`` in total (pyserial semantics)."""
        mem = self._port_or_fail()
        end = None if self.timeout is None else time.monotonic() + self.timeout
        out = bytearray()
        try:
            while len(out) < size:
                left = None if end is None else max(0.0, end - time.monotonic())
                chunk = mem.host_read(self._gen, size - len(out), left)
                if not chunk:
                    break
                out += chunk
        except OSError as exc:
            raise SerialException(str(exc)) from exc
        return bytes(out)

    def write(self, data: bytes) -> int:  # type: ignore[override]
        try:
            self._port_or_fail().host_write(self._gen, bytes(data))
        except OSError as exc:
            raise SerialException(str(exc)) from exc
        return len(data)

    def reset_input_buffer(self) -> None:
        self._port_or_fail().host_flush_input()

    def reset_output_buffer(self) -> None:
        self._port_or_fail()

    def flush(self) -> None:
        self._port_or_fail()
