"""Faults between station and centre lose nothing and duplicate nothing: a cut link, a
restarted server, a station killed at the worst moment, messages delivered twice."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import update

from station.db.fleet_models import OutboxItem
from tests.helpers.fleet import Force

WAIT = 120
REPO_ROOT = Path(__file__).resolve().parents[2]


def _exactly_once(force: Force, ids: list[str]) -> None:
    held = force.central_records()
    assert set(held) == set(ids)
    assert set(held.values()) == {1}


def test_a_link_cut_mid_upload_and_restored_loses_and_duplicates_nothing(force: Force) -> None:
    a = force.add_station("desk-a")
    force.start_server()
    force.start_central()
    force.enrol(a)
    ids = [a.check(f"SN-CUT-{i:04d}") for i in range(30)]
    link = force.link(a, batch=5)
    proxy = force.proxies["desk-a"]
    assert link.wait_for(lambda: a.outbox_states().get("committed", 0) >= 5, WAIT)
    proxy.cut()
    ids += [a.check(f"SN-OFF-{i:04d}") for i in range(5)]  # checks go on while offline
    assert link.disconnected.wait(WAIT)
    proxy.restore()
    assert link.wait_for(a.all_committed, WAIT), a.outbox_states()
    _exactly_once(force, ids)


def test_a_server_restarted_mid_upload_loses_and_duplicates_nothing(force: Force) -> None:
    a, b = force.add_station("desk-a"), force.add_station("desk-b")
    force.start_server()
    force.start_central()
    ids = []
    for st in (a, b):
        force.enrol(st)
        ids += [st.check(f"SN-{st.station_id}-{i:04d}") for i in range(20)]
        force.link(st, batch=4)
    assert a.link is not None and b.link is not None
    assert a.link.wait_for(lambda: a.outbox_states().get("committed", 0) >= 4, WAIT)
    force.server.restart()  # the stream and its stored messages survive on disk
    ids += [a.check("SN-AFTER-RESTART")]
    for st in (a, b):
        assert st.link is not None and st.link.wait_for(st.all_committed, WAIT), st.outbox_states()
    _exactly_once(force, ids)


def test_messages_sent_again_after_their_receipt_are_stored_once(force: Force) -> None:
    a = force.add_station("desk-a")
    force.start_server()
    force.start_central()
    force.enrol(a)
    ids = [a.check(f"SN-DUP-{i:04d}") for i in range(5)]
    link = force.link(a)
    assert link.wait_for(a.all_committed, WAIT)
    with a.ctx.db.writer() as s:  # as if every receipt had been lost: all go again
        s.execute(update(OutboxItem).values(state="pending", receipt=None))
    link.wake()
    assert link.wait_for(a.all_committed, WAIT)
    _exactly_once(force, ids)


def test_a_station_killed_between_the_server_ack_and_its_local_mark_loses_nothing(
    force: Force,
) -> None:
    a = force.add_station("desk-a")
    force.start_server()
    force.start_central()
    force.enrol(a)
    ids = [a.check(f"SN-KILL-{i:04d}") for i in range(3)]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "tests.helpers.station_proc", str(a.ctx.settings.data_dir)],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=WAIT,
    )
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    assert a.outbox_states() == {"pending": 3}  # the server has the first; the station never knew
    link = force.link(a)
    assert link.wait_for(a.all_committed, WAIT), a.outbox_states()
    _exactly_once(force, ids)
