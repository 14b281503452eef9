"""A three-node NATS cluster with every stream replicated three times keeps working, and
loses nothing, when one node dies in the middle of uploads."""

from __future__ import annotations

from pathlib import Path

from station.fleet.central import CentralSettings
from tests.helpers.fleet import Force, central_import, register_file

WAIT = 180


def test_losing_one_of_three_nodes_loses_no_record_and_the_register_still_arrives(
    tmp_path: Path, pg_url: str
) -> None:
    settings = CentralSettings(replicas=3, publish_interval=0.2)
    force = Force(tmp_path, pg_url, settings, nodes=3)
    try:
        a, b = force.add_station("desk-a"), force.add_station("desk-b")
        force.start_server()
        force.start_central()
        ids = []
        for st in (a, b):
            force.enrol(st, via_proxy=False)
            ids += [st.check(f"SN-{st.station_id}-{i:03d}") for i in range(10)]
            force.link(st, batch=3)
        assert a.link is not None and b.link is not None
        assert a.link.wait_for(lambda: a.outbox_states().get("committed", 0) >= 3, WAIT)
        force.servers[0].stop(kill=True)  # one node gone, mid-upload
        ids += [a.check("SN-AFTER-LOSS"), b.check("SN-AFTER-LOSS-B")]
        version = central_import(force, register_file(tmp_path / "r.csv", ["CL000001"]))
        for st in (a, b):
            assert st.link is not None
            assert st.link.wait_for(st.all_committed, WAIT), (
                st.outbox_states(),
                force.roll.overview()["alerts"],
            )
            assert st.link.wait_for(lambda st=st: st.register_version() == version, WAIT)
        held = force.central_records()
        assert set(held) == set(ids) and set(held.values()) == {1}
    finally:
        force.close()
