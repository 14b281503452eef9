"""Real nats-server processes for the fleet tests (single or clustered), and a TCP proxy that
can cut and restore the link between a station and the server."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any

from tests.helpers.servers import free_port

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


class NatsServer:
    """One nats-server with JetStream on a free port, stoppable, restartable, reloadable.

    Readiness is the server's own "Server is ready" log line, read from its output."""

    def __init__(
        self,
        root: Path,
        name: str = "n1",
        auth: str | None = None,
        cluster: dict[str, Any] | None = None,
        port: int | None = None,
    ) -> None:
        self.root = root / name
        self.root.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.port = port or free_port()
        self.auth_file = self.root / "auth.conf"
        self.auth_file.write_text(auth or "")
        self.cluster = cluster
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.root / "server.log"
        #: notified each time the reader thread appends a line to the log
        self._logged = threading.Condition()
        self._write_config()

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def _write_config(self) -> None:
        lines = [
            f"server_name: {json.dumps(self.name)}",
            "host: 127.0.0.1",
            f"port: {self.port}",
            f"jetstream: {{store_dir: {json.dumps(str(self.root / 'js'))}}}",
            f"include {json.dumps(self.auth_file.name)}",
        ]
        if self.cluster:
            routes = ", ".join(json.dumps(r) for r in self.cluster["routes"])
            lines.append(
                f"cluster: {{name: {json.dumps(self.cluster['name'])}, host: 127.0.0.1, "
                f"port: {self.cluster['port']}, routes: [{routes}]}}"
            )
        (self.root / "server.conf").write_text("\n".join(lines) + "\n")

    def start(self, timeout: float = 60) -> None:
        ready = threading.Event()
        self.proc = subprocess.Popen(
            [NATS_SERVER, "-c", str(self.root / "server.conf")],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        log = open(self.log, "ab")  # noqa: SIM115 - closed by the reader thread

        def read(proc: subprocess.Popen[bytes]) -> None:
            assert proc.stdout is not None
            with log:
                for line in proc.stdout:
                    log.write(line)
                    log.flush()
                    with self._logged:
                        self._logged.notify_all()
                    if b"Server is ready" in line:
                        ready.set()

        threading.Thread(target=read, args=(self.proc,), daemon=True).start()
        if not ready.wait(timeout):
            raise RuntimeError(f"nats-server {self.name} not ready in {timeout} s; see {self.log}")

    def wait_for_log(self, text: str, timeout: float = 120) -> bool:
        """Whether ``text`` appears in the server's log within ``timeout`` seconds (the
        server logs an event a moment after the client sees its effect)."""
        with self._logged:
            return self._logged.wait_for(lambda: text in self.log.read_text(), timeout)

    def stop(self, kill: bool = False) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            self.proc.wait(30)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def set_auth(self, text: str) -> None:
        """Replace the authorization include and make the running server reload it."""
        self.auth_file.write_text(text)
        if self.proc is not None:
            os.kill(self.proc.pid, signal.SIGHUP)


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target; ``cut`` drops every connection and refuses new
    ones until ``restore``. A cut is what a station sees when its network goes away."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._up = threading.Event()
        self._up.set()
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if not self._up.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self._up.clear()
        with self._lock:
            conns, self._conns = self._conns, []
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            c.close()

    def restore(self) -> None:
        self._up.set()

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._server.close()
