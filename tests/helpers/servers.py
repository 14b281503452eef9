"""A real `station serve` subprocess on a free port, and the Debian Chromium the UI tests drive."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"station serve exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"station serve did not listen on {port} within {timeout} s")


def server_log(data_dir: Path, port: int) -> Path:
    """Where :func:`spawn_server` writes the server's output."""
    return data_dir.parent / f"serve-{port}.log"


def spawn_server(
    data_dir: Path,
    port: int,
    *extra: str,
    db_url: str = "",
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """`station serve` on ``port``, not waited for (see :func:`start_server`)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "STATION_DATA_DIR": str(data_dir),
        "STATION_DB_URL": db_url,
        **(env or {}),
    }
    log = open(server_log(data_dir, port), "ab")  # noqa: SIM115 - lives with proc
    return subprocess.Popen(
        [sys.executable, "-m", "station", "serve", "--port", str(port), *extra],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def start_server(
    data_dir: Path,
    port: int,
    *extra: str,
    db_url: str = "",
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """`station serve` on ``port`` (SQLite in ``data_dir`` unless ``db_url`` is given),
    once it listens; ``env`` adds settings, e.g. ``STATION_SIM_SCENARIO``."""
    proc = spawn_server(data_dir, port, *extra, db_url=db_url, env=env)
    wait_for_port(port, proc)
    return proc


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
