"""Stop a real `station central serve` with SIGTERM, as systemd does: while it starts, it stops
at its next step and never listens; while it serves, a response still open does not keep it
running past the grace. The same server as `station serve` (station.api.server)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import nats
import psycopg

from station.auth.users import UserStore
from tests.helpers.fleet import Force
from tests.helpers.servers import free_port, wait_for_port

WAITING_ON = """
SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
WHERE c.relname = %s AND NOT l.granted
"""


def wait_until(what: str, condition: Callable[[], bool], timeout: float = 300) -> None:
    """Poll ``condition``; ``timeout`` is a safety net against a hang, not a speed limit."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.1)


def spawn_central(force: Force, pg_url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "STATION_DATA_DIR": str(force.root / "centre-data")}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "station", "central", "serve", "--db", pg_url,
             "--nats", force.central_url, "--port", str(port), "--no-matcher"],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def waiting_on(conn: psycopg.Connection, table: str) -> bool:
    with conn.cursor() as cur:  # its own cursor: the holder's transaction stays open
        return cur.execute(WAITING_ON, (table,)).fetchone() != (0,)


def streams(force: Force) -> list[str]:
    """The JetStream streams on the force's server (the centre makes them when it starts)."""

    async def names() -> list[str]:
        nc = await nats.connect(force.central_url)
        try:
            return [s.config.name or "" for s in await nc.jetstream().streams_info()]
        finally:
            await nc.close()

    return asyncio.run(names())


def test_sigterm_while_the_centre_starts_stops_it_before_its_next_step(
    force: Force, pg_url: str
) -> None:
    force.start_server()
    port = free_port()
    log = force.root / "central.log"
    with psycopg.connect(pg_url) as blocker:
        # the start-up's migration check waits for this lock: SIGTERM lands while the
        # centre is starting, however fast or slow the machine is
        blocker.execute("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE")
        proc = spawn_central(force, pg_url, port, log)
        try:
            wait_until(
                "the centre waiting for the lock on alembic_version",
                lambda: proc.poll() is not None or waiting_on(blocker, "alembic_version"),
            )
            assert proc.poll() is None, log.read_text()
            proc.send_signal(signal.SIGTERM)
            wait_until("the signal noted", lambda: "SIGTERM while starting" in log.read_text())
            blocker.commit()  # the start-up's current step may finish now
            proc.wait(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    out = log.read_text()
    assert proc.returncode == -signal.SIGTERM, out
    assert "asked to stop while starting: stopped before the central service" in out
    assert "Traceback" not in out
    assert "Application startup complete" not in out
    assert "Uvicorn running on" not in out  # the port was never opened
    assert "central service running" not in out
    # the step it stopped at was never done: the centre never made its streams on NATS
    assert streams(force) == []


def test_sigterm_ends_a_response_still_open_after_the_grace(force: Force, pg_url: str) -> None:
    """A supervisor's request that does not end by itself (here one waiting on a database
    lock) must not keep the centre running after SIGTERM: the server ends it after its grace
    and stops cleanly, as the station does with a desk's event stream."""
    force.start_server()
    users = UserStore(force.db)
    users.create_user("sup", "supervisor", "lamp-Tray-7731")
    token = users.issue_token("sup")
    port = free_port()
    log = force.root / "central.log"
    proc = spawn_central(force, pg_url, port, log)
    answers: list[object] = []
    try:
        wait_for_port(port, proc)
        with psycopg.connect(pg_url) as blocker:
            blocker.execute("LOCK TABLE api_tokens IN ACCESS EXCLUSIVE MODE")
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/central/overview",
                headers={"Authorization": f"Bearer {token}"},
            )

            def ask() -> None:
                try:
                    with urllib.request.urlopen(request, timeout=600) as reply:
                        answers.append(reply.status)
                except (urllib.error.URLError, OSError) as exc:
                    answers.append(exc)

            asking = threading.Thread(target=ask, daemon=True)
            asking.start()
            wait_until(
                "the request waiting on api_tokens", lambda: waiting_on(blocker, "api_tokens")
            )
            proc.send_signal(signal.SIGTERM)
            # a safety net: the request itself would wait as long as the lock is held
            proc.wait(timeout=120)
        asking.join(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = log.read_text()
    assert proc.returncode == -signal.SIGTERM, out
    assert "Application shutdown complete" in out  # the centre closed what it had opened
    assert "Traceback" not in out, out
    assert answers and not isinstance(answers[0], int), answers  # it was ended, not answered
    assert "ended a response still open after 5 s" in out


def test_a_centre_that_cannot_start_says_why_and_exits(tmp_path: Path) -> None:
    """No database: the operator reads the error and what to do, not a traceback, and the
    server neither listens nor waits for a signal."""
    env = {**os.environ, "STATION_DATA_DIR": str(tmp_path / "centre")}
    done = subprocess.run(
        [sys.executable, "-m", "station", "central", "serve", "--no-matcher",
         "--db", "postgresql://nobody@127.0.0.1:1/force", "--port", str(free_port())],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "cannot reach the centre's database" in done.stderr
    assert "what to do: check --db" in done.stderr
    assert "Traceback" not in done.stderr and "Uvicorn running on" not in done.stderr
