"""Register down: versions published centrally reach stations verified, as deltas, and a
station away longer than the stream's history bootstraps from the latest snapshot."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from station.db.models import RegisterImport
from station.fleet.central import CentralSettings
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
    tmp_path: Path, pg_url: str
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
    finally:
        force.close()
