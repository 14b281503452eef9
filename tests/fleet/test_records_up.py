"""Records up: a check commits locally, the link sends it, the centre stores it exactly once,
verifies the signature and the chain, and the station marks it committed on the receipt."""

from __future__ import annotations

from sqlalchemy import select

from station.db.fleet_models import FleetImage, FleetStation
from station.fleet.ingest import verify_station_chain
from tests.helpers.fleet import Force

WAIT = 120  # safety net only; every wait ends on its condition


def test_checks_reach_the_centre_once_with_images_and_chain_and_are_marked_on_receipt(
    force: Force,
) -> None:
    a = force.add_station("custody-a")
    force.start_server()
    force.start_central()
    force.enrol(a)
    first = a.check("SN-0001-AB")  # before the link runs: it waits in the outbox
    assert a.outbox_states() == {"pending": 1}
    force.link(a)
    second = a.scan("SN77665544")
    assert a.link is not None
    assert a.link.wait_for(a.all_committed, WAIT), a.outbox_states()
    assert force.central_records() == {first: 1, second: 1}
    with force.db.session() as s:
        images = s.execute(select(FleetImage.sha256)).scalars().all()
        assert len(images) == 2
        station = s.get(FleetStation, "custody-a")
        assert station is not None and station.chain_ok
        report = verify_station_chain(s, "custody-a")
    assert report.ok, report
    with a.ctx.db.session() as s:
        from station.records import audit

        assert report.entries == audit.head(s)[0]
