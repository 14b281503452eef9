"""Where the simulated controller's serial line ends: a pseudo-terminal or an in-memory pipe.

``LinkServer`` runs the board (a ``FaultyLink`` around the firmware) on a thread and moves
bytes between it and one port. ``PtyPort`` hides the pty behind a stable symlink so the port
can vanish (pty closed, link removed) and reappear at the same path, as a USB adapter does.
``MemoryPort`` backs the ``hwsim://`` pyserial URL for fast tests.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time
import tty
from pathlib import Path
from typing import Protocol

from hw_sim.link import FaultyLink

log = logging.getLogger(__name__)


class SimPort(Protocol):
    @property
    def path(self) -> str: ...

    def open(self) -> None: ...

    def close(self) -> None: ...

    @property
    def is_open(self) -> bool: ...

    def read_host(self, timeout: float) -> bytes: ...

    def write_host(self, data: bytes) -> None: ...


class PtyPort:
    """A pty whose slave is reachable at ``link_path`` (a symlink that survives reopening)."""

    def __init__(self, link_path: Path) -> None:
        self.link_path = link_path
        self._master: int | None = None
        self._slave: int | None = None
        self.slave_name = ""

    @property
    def path(self) -> str:
        return str(self.link_path)

    @property
    def is_open(self) -> bool:
        return self._master is not None

    def open(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo or line editing, even before the host configures it
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.slave_name = os.ttyname(slave)
        tmp = self.link_path.with_suffix(".tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(self.slave_name)
        tmp.replace(self.link_path)

    def close(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.link_path.unlink()
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None

    def read_host(self, timeout: float) -> bytes:
        master = self._master
        if master is None:
            time.sleep(timeout)
            return b""
        ready, _, _ = select.select([master], [], [], timeout)
        if not ready:
            return b""
        try:
            return os.read(master, 4096)
        except OSError:  # includes BlockingIOError; EIO while no host has the slave open
            return b""

    def write_host(self, data: bytes) -> None:
        master = self._master
        if master is None:
            return
        view = memoryview(data)
        deadline = time.monotonic() + 0.2
        while view and time.monotonic() < deadline:
            try:
                n = os.write(master, view)
            except BlockingIOError:
                time.sleep(0.001)
                continue
            except OSError:
                return  # nobody listening: lost, as on a real unplugged line
            view = view[n:]


class MemoryPort:
    """Both ends of an in-memory serial line; the host end is ``hw_sim.urlhandler``'s Serial."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._cv = threading.Condition()
        self._to_host = bytearray()
        self._to_board = bytearray()
        self._present = False
        self.host_attached = False
        #: bumps each time the port vanishes, so a host holding the old one sees the loss
        self.generation = 0

    @property
    def path(self) -> str:
        return f"hwsim://{self.name}"

    @property
    def is_open(self) -> bool:
        return self._present

    def open(self) -> None:
        with self._cv:
            self._present = True
            self._to_host.clear()
            self._to_board.clear()
            self._cv.notify_all()

    def close(self) -> None:
        with self._cv:
            self._present = False
            self.generation += 1
            self.host_attached = False
            self._cv.notify_all()

    # board side
    def read_host(self, timeout: float) -> bytes:
        with self._cv:
            if not self._to_board:
                self._cv.wait(timeout)
            data = bytes(self._to_board)
            self._to_board.clear()
            return data

    def write_host(self, data: bytes) -> None:
        with self._cv:
            if self._present and self.host_attached:
                self._to_host.extend(data)
                self._cv.notify_all()

    # host side (used by the pyserial URL handler)
    def attach(self) -> int:
        with self._cv:
            if not self._present:
                raise OSError(f"{self.path}: no such device (the port has vanished)")
            if self.host_attached:
                raise OSError(f"{self.path}: port is busy (already opened exclusively)")
            self.host_attached = True
            self._to_host.clear()
            return self.generation

    def detach(self, generation: int) -> None:
        with self._cv:
            if generation == self.generation:
                self.host_attached = False

    def host_write(self, generation: int, data: bytes) -> None:
        with self._cv:
            if generation != self.generation or not self._present:
                raise OSError(f"{self.path}: device disconnected")
            self._to_board.extend(data)
            self._cv.notify_all()

    def host_read(self, generation: int, size: int, timeout: float | None) -> bytes:
        end = None if timeout is None else time.monotonic() + timeout
        with self._cv:
            while True:
                if generation != self.generation or not self._present:
                    raise OSError(f"{self.path}: device disconnected")
                if self._to_host:
                    data = bytes(self._to_host[:size])
                    del self._to_host[:size]
                    return data
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    return b""
                self._cv.wait(left)

    def host_waiting(self, generation: int) -> int:
        with self._cv:
            if generation != self.generation or not self._present:
                raise OSError(f"{self.path}: device disconnected")
            return len(self._to_host)

    def host_flush_input(self) -> None:
        with self._cv:
            self._to_host.clear()


class LinkServer:
    """A thread running the simulated board and moving its bytes through one port."""

    def __init__(self, link: FaultyLink, port: PtyPort | MemoryPort, poll_s: float = 0.002) -> None:
        self.link = link
        self.port = port
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hwsim-link", daemon=True)
        self._back_at: float | None = None
        self.vanish_count = 0

    @property
    def path(self) -> str:
        return self.port.path

    def start(self) -> None:
        self.port.open()
        self.link.port_reopened()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
        self.port.close()

    def vanish(self, ms: int) -> None:
        """Take the port away for ``ms`` milliseconds (also what the ``vanish`` fault does)."""
        self.vanish_count += 1
        self.port.close()
        self._back_at = time.monotonic() + ms / 1000.0

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._step()
            except Exception:  # keep the simulated board alive; tests see the symptom
                log.exception("simulated board step failed")
                time.sleep(0.01)

    def _step(self) -> None:
        if not self.port.is_open:
            if self._back_at is not None and time.monotonic() >= self._back_at:
                self._back_at = None
                self.port.open()
                self.link.port_reopened()
            else:
                self.link.poll()  # the board keeps running while unplugged
                self.link.due()
                time.sleep(0.005)
            return
        data = self.port.read_host(self.poll_s)
        if data:
            self.link.from_host(data)
        self.link.poll()
        if self.link.vanish_ms is not None:
            ms, self.link.vanish_ms = self.link.vanish_ms, None
            self.vanish(ms)
            return
        for chunk in self.link.due():
            if chunk.trickle_s > 0:
                for i in range(len(chunk.data)):
                    self.port.write_host(chunk.data[i : i + 1])
                    time.sleep(chunk.trickle_s)
            else:
                self.port.write_host(chunk.data)
