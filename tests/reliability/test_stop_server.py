"""Stop a real `station serve --sim` with SIGTERM, as systemd does when the box shuts down:
while it is still starting, it stops at its next step instead of starting first."""

from __future__ import annotations

import signal
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from station.api.app import create_app
from station.db.engine import Database
from station.db.migrate import upgrade
from station.settings import StationSettings
from tests.helpers.servers import (
    free_port,
    server_log,
    spawn_server,
    start_server,
    stop_server,
)

LOCK_WAITS_ON_CHECKS = """
SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
WHERE c.relname = 'checks' AND NOT l.granted
"""


def wait_until(what: str, condition: Callable[[], bool], timeout: float = 300) -> None:
    """Poll ``condition``; ``timeout`` is a safety net against a hang, not a speed limit."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.1)


def decoder_workers(parent: int) -> set[int]:
    """The decoder worker processes `parent` started (live ones)."""
    found = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == parent and b"station.vision.isolation" in cmdline:
            found.add(int(proc.name))
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited


@pytest.mark.postgres
def test_sigterm_while_starting_stops_at_the_next_step_and_serves_nothing(
    pg_url: str, tmp_path: Path
) -> None:
    database = Database(pg_url)
    upgrade(database)
    database.dispose()
    port = free_port()
    data = tmp_path / "data"
    log = server_log(data, port)
    with psycopg.connect(pg_url) as blocker:
        # the start-up's look for interrupted checks waits for this lock: SIGTERM lands
        # while the station is starting, however fast or slow the machine is
        blocker.execute("LOCK TABLE checks IN ACCESS EXCLUSIVE MODE")
        proc = spawn_server(data, port, "--sim", db_url=pg_url)
        try:
            wait_until(
                "the server waiting for the lock on checks",
                lambda: (
                    proc.poll() is not None
                    or blocker.execute(LOCK_WAITS_ON_CHECKS).fetchone() != (0,)
                ),
            )
            assert proc.poll() is None, log.read_text()
            workers = decoder_workers(proc.pid)
            proc.send_signal(signal.SIGTERM)
            wait_until("the signal noted", lambda: "SIGTERM while starting" in log.read_text())
            blocker.commit()  # the start-up's current step may finish now
            proc.wait(timeout=300)
        finally:
            stop_server(proc)
    out = log.read_text()
    assert proc.returncode == -signal.SIGTERM, out
    assert "asked to stop while starting: stopped before the register" in out
    assert "Uvicorn running on" not in out  # the port was never opened
    assert "Application startup complete" not in out and "Traceback" not in out
    with psycopg.connect(pg_url) as conn:
        # what comes after the step it stopped at was never done: no demo register, no users
        assert conn.execute("SELECT count(*) FROM register_imports").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (0,)
    assert workers, "the decoder workers start first, beside the start-up"
    wait_until("its decoder workers gone", lambda: not any(alive(p) for p in workers))


def test_a_station_asked_to_stop_before_its_start_opens_nothing(tmp_path: Path) -> None:
    settings = StationSettings(data_dir=tmp_path / "data", db_url=f"sqlite:///{tmp_path / 's.db'}")
    stopping = threading.Event()
    stopping.set()  # SIGTERM before the lifespan began
    app = create_app(settings, stopping)
    with TestClient(app):
        assert not hasattr(app.state, "station")
    assert not (tmp_path / "s.db").exists()  # not even the database was opened


def test_sigterm_stops_a_server_whose_desk_has_its_event_stream_open(tmp_path: Path) -> None:
    """A kiosk's desk page keeps the station's event stream open for an hour: SIGTERM must
    still stop the server by itself (a clean stop), not leave it for systemd to kill."""
    port = free_port()
    data = tmp_path / "data"
    proc = start_server(data, port, "--sim", env={"STATION_VISION__PRELOAD_OCR": "false"})
    try:
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/station/events",
            headers={"Authorization": "Bearer demo-custody-token"},
        )
        with urllib.request.urlopen(req, timeout=60) as stream:
            assert stream.readline().startswith(b"event: status")
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=120)  # a safety net: the stream itself would last an hour
    finally:
        stop_server(proc)
    out = server_log(data, port).read_text()
    assert proc.returncode == -signal.SIGTERM, out
    assert "Application shutdown complete" in out  # the station closed what it had opened
    assert "Traceback" not in out


def test_a_station_whose_database_cannot_be_reached_says_so_and_exits(tmp_path: Path) -> None:
    """No traceback at the operator: the error, what to do, exit status 2, no port opened."""
    dead = free_port()  # nothing listens there
    port = free_port()
    proc = spawn_server(
        tmp_path / "data", port, db_url=f"postgresql://postgres@127.0.0.1:{dead}/station"
    )
    try:
        assert proc.wait(timeout=300) == 2
    finally:
        stop_server(proc)
    log = server_log(tmp_path / "data", port).read_text()
    assert "cannot open the station's database" in log
    assert "what to do:" in log
    assert "Traceback" not in log
    assert "Application startup complete" not in log
