"""Serve the simulated controller on a pseudo-terminal, behind a stable symlink.

The symlink lets the port "vanish" (pty closed, link removed) and "reappear" (new pty, same
link path), the way a USB serial adapter disappears and re-enumerates.
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

from hw_sim.link import FaultyLink

log = logging.getLogger(__name__)


class PtyServer:
    """A thread bridging a pty master to a ``FaultyLink``."""

    def __init__(self, link: FaultyLink, link_path: Path, poll_s: float = 0.002) -> None:
        self.link = link
        self.link_path = link_path
        self.poll_s = poll_s
        self._master: int | None = None
        self._slave: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hwsim-pty", daemon=True)
        self._back_at: float | None = None
        self.slave_name = ""
        self.vanish_count = 0

    @property
    def path(self) -> str:
        return str(self.link_path)

    def start(self) -> None:
        self._open()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
        self._close()

    def _open(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line editing, even before the host configures it
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.slave_name = os.ttyname(slave)
        tmp = self.link_path.with_suffix(".tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(self.slave_name)
        tmp.replace(self.link_path)
        self.link.port_reopened()

    def _close(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.link_path.unlink()
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None

    def vanish(self, ms: int) -> None:
        """Take the port away for ``ms`` milliseconds (also used by the ``vanish`` fault)."""
        self.vanish_count += 1
        self._close()
        self._back_at = time.monotonic() + ms / 1000.0

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._step()
            except Exception:  # keep the simulated board alive; the test sees the symptom
                log.exception("pty server step failed")
                time.sleep(0.01)

    def _step(self) -> None:
        if self._master is None:
            if self._back_at is not None and time.monotonic() >= self._back_at:
                self._back_at = None
                self._open()
            else:
                self.link.poll()  # the board keeps running while unplugged
                self.link.due()
                time.sleep(0.005)
            return
        master = self._master
        ready, _, _ = select.select([master], [], [], self.poll_s)
        if ready:
            try:
                data = os.read(master, 4096)
            except (BlockingIOError, InterruptedError):
                data = b""
            except OSError:
                data = b""
            if data:
                self.link.from_host(data)
        self.link.poll()
        if self.link.vanish_ms is not None:
            ms, self.link.vanish_ms = self.link.vanish_ms, None
            self.vanish(ms)
            return
        for chunk in self.link.due():
            self._write(master, chunk.data, chunk.trickle_s)

    def _write(self, fd: int, data: bytes, trickle_s: float) -> None:
        if trickle_s > 0:
            for i in range(len(data)):
                self._write_all(fd, data[i : i + 1])
                time.sleep(trickle_s)
            return
        self._write_all(fd, data)

    @staticmethod
    def _write_all(fd: int, data: bytes) -> None:
        view = memoryview(data)
        deadline = time.monotonic() + 0.2
        while view and time.monotonic() < deadline:
            try:
                n = os.write(fd, view)
            except BlockingIOError:
                time.sleep(0.001)
                continue
            except OSError:
                return  # nobody listening: the bytes are lost, as on a real unplugged line
            view = view[n:]
