"""Register down: versions published centrally reach stations verified, as deltas, and a
station away longer than the stream's history bootstraps from the latest snapshot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from station.db.engine import Database
from station.db.models import RegisterEntry, RegisterImport
from station.fleet import messages as m
from station.fleet.central import CentralSettings
from station.fleet.register_feed import FeedError, RegisterFollower, bucket
from station.matcher.index import RegisterIndex
from station.register import service
from tests.helpers.fleet import Force, central_import, register_file

WAIT = 120


def _serials(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i:06d}" for i in range(n)]


def test_each_central_import_reaches_stations_and_their_index_follows(
    force: Force, tmp_path: Path
) -> None:
    a, b = force.add_station("front-a"), force.add_station("front-b")
    force.start_server()
    force.start_central()
    v1 = central_import(force, register_file(tmp_path / "r1.csv", _serials("AB", 50)))
    for st in (a, b):
        force.enrol(st)
        force.link(st)
    v2 = central_import(
        force, register_file(tmp_path / "r2.csv", ["ZZ999111"], withdraw=["AB000003"])
    )
    assert v2 == v1 + 1
    for st in (a, b):
        assert st.link is not None
        assert st.link.wait_for(lambda st=st: st.register_version() == v2, WAIT)
        assert st.ctx.matcher.version == v2  # the index, not only the database
        assert st.ctx.matcher.lookup("ZZ999111").verdict == "match"
        assert st.ctx.matcher.lookup("AB000003").verdict != "match"
        assert st.ctx.matcher.lookup("AB000049").verdict == "match"


def test_a_station_away_longer_than_the_history_bootstraps_from_the_snapshot(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    force = Force(
        tmp_path, pg_url, CentralSettings(history=3, snapshot_every=2, publish_interval=0.2)
    )
    try:
        a = force.add_station("store-a")
        force.start_server()
        force.start_central()
        force.enrol(a)
        central_import(force, register_file(tmp_path / "r0.csv", _serials("AA", 20)))
        link = force.link(a)
        assert link.wait_for(lambda: a.register_version() == 1, WAIT)
        proxy = force.proxies["store-a"]
        proxy.cut()  # a week away: many versions, more than the stream keeps
        last = 1
        for n in range(1, 8):
            withdraw = [f"AA{n:06d}"]
            last = central_import(
                force, register_file(tmp_path / f"r{n}.csv", [f"NEW{n:05d}"], withdraw=withdraw)
            )
        assert a.register_version() == 1
        check_id = a.check("AA000001")  # a check finishes while the network is down
        assert check_id
        assert force.published(last, WAIT)  # all of it out: version 1 has left the history
        builds = _count_index_builds(monkeypatch)
        proxy.restore()
        assert link.wait_for(lambda: a.register_version() == last, WAIT)
        m = a.ctx.matcher
        assert m.version == last
        assert m.lookup("NEW00007").verdict == "match"
        assert m.lookup("NEW00001").verdict == "match"
        assert m.lookup("AA000005").verdict != "match"  # withdrawn while away
        assert m.lookup("AA000000").verdict == "match"
        assert link.wait_for(a.all_committed, WAIT)
        with a.ctx.db.session() as s:
            applied = s.execute(select(RegisterImport.filename).order_by(RegisterImport.id))
            names = list(applied.scalars())
        assert names[0] == "delta-1"
        assert any(n.startswith("snapshot-") for n in names[1:]), names  # not delta after delta
        assert builds == [], "the station rebuilt its index instead of loading the snapshot's"
        snapshot = max(int(n.split("-")[1]) for n in names if n.startswith("snapshot-"))
        shipped = _entry_ids(a.ctx.db, snapshot)  # the rows the snapshot brought...
        assert shipped and shipped.items() <= _entry_ids(force.db).items()  # ...under its ids
        assert RegisterIndex.load(a.ctx.index_dir).version == last  # saved, for the next start
    finally:
        force.close()


def _count_index_builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every full index build from a database from now on (a snapshot's index needs none)."""
    builds: list[int] = []
    real = service.build_from_db

    def counting(*args: Any, **kwargs: Any) -> RegisterIndex:
        index = real(*args, **kwargs)
        builds.append(len(index))
        return index

    monkeypatch.setattr(service, "build_from_db", counting)
    return builds


def _entry_ids(db: Database, version: int | None = None) -> dict[str, int]:
    """Identifier -> entry id of the live entries (last changed by ``version`` when given)."""
    query = select(RegisterEntry.identifier, RegisterEntry.id).where(
        RegisterEntry.withdrawn.is_(False)
    )
    if version is not None:
        query = query.where(RegisterEntry.version == version)
    with db.session() as s:
        return {ident: int(i) for ident, i in s.execute(query)}


@pytest.mark.parametrize("altered", ["index", "snapshot"])
def test_a_snapshot_whose_rows_or_index_were_altered_is_refused_and_nothing_is_applied(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch, altered: str
) -> None:
    force = Force(tmp_path, pg_url, CentralSettings(history=3, snapshot_every=2))
    try:
        a = force.add_station("store-a")
        force.start_server()
        last = 0
        for n in range(6):
            last = central_import(
                force, register_file(tmp_path / f"r{n}.csv", _serials(f"B{n}", 30))
            )
            force.publish()
        follower = RegisterFollower(a.ctx.db, a.ctx.matcher, force.central_key.public_bytes)
        store = lambda js: bucket(js, m.REGISTER_BUCKET)  # noqa: E731
        name = f"{altered}-{last}"
        original = force.with_central_js(lambda js: store(js).get(name))
        blob = bytearray(original.data)
        blob[len(blob) // 2] ^= 0xFF
        force.with_central_js(lambda js: store(js).put(name, bytes(blob)))
        with pytest.raises(FeedError, match=f"{name} does not match its manifest's digest"):
            force.with_central_js(follower.catch_up)
        assert a.register_version() == 0  # nothing applied: not the rows, not the index
        assert a.ctx.matcher.lookup("B5000001").verdict != "match"
        force.with_central_js(lambda js: store(js).put(name, bytes(original.data)))
        builds = _count_index_builds(monkeypatch)
        assert force.with_central_js(follower.catch_up) == 1  # one step: the snapshot
        assert a.register_version() == last and a.ctx.matcher.version == last
        assert a.ctx.matcher.lookup("B5000001").verdict == "match"
        assert a.ctx.matcher.lookup("B0000029").verdict == "match"
        assert builds == []
    finally:
        force.close()


def test_register_objects_no_station_needs_are_pruned(tmp_path: Path, pg_url: str) -> None:
    """The bucket keeps the deltas the stream's history names and the last two snapshots,
    however many versions the centre publishes."""
    force = Force(tmp_path, pg_url, CentralSettings(history=3, snapshot_every=2))
    try:
        force.start_server()

        async def names(js: Any) -> tuple[set[str], int]:
            objects = await bucket(js, m.REGISTER_BUCKET).list()  # deleted ones too
            held = (await js.stream_info(m.object_stream(m.REGISTER_BUCKET))).state.messages
            return {o.name for o in objects}, held

        seen, messages = [], []
        for n in range(1, 11):
            version = central_import(
                force, register_file(tmp_path / f"r{n}.csv", _serials(f"C{n}", 5))
            )
            assert force.publish() == [version]
            listed, held = force.with_central_js(names)
            seen.append(listed)
            messages.append(held)
        assert seen[-1] == {"delta-8", "delta-9", "delta-10", "snapshot-8", "index-8",
                            "snapshot-10", "index-10"}  # fmt: skip
        assert max(len(s) for s in seen) == 7  # 3 deltas and 2 snapshots of 2 objects at most
        assert seen[0] == {"delta-1", "snapshot-1", "index-1"}
        assert messages[-1] == messages[-3] == 2 * 7  # a description and a chunk each: no markers
    finally:
        force.close()
