"""Identity and authorisation: each station's key enrolled once, its own NATS user limited to
its own subjects, and a revoked station shut out at the server as well as at the ingester."""

from __future__ import annotations

import asyncio
import json

import nats
import pytest
from nats.errors import TimeoutError as NatsTimeout

from station.errors import StationError
from station.fleet import messages as m
from station.fleet.enrolment import Enrolment, connect
from station.records.signing import StationKey
from tests.helpers.fleet import Force

WAIT = 120


def test_enrolment_lists_the_station_key_and_a_second_key_is_refused(force: Force) -> None:
    a = force.add_station("desk-a")
    force.start_server()
    force.start_central()
    enrolment = force.enrol(a, via_proxy=False)
    assert enrolment.centre_key == force.central_key.public_text
    keys = {k["station_id"]: k for k in force.roll.key_list()["keys"]}
    assert keys["desk-a"]["public_key"] == a.key.public_text
    assert force.enrol(a, via_proxy=False).station_id == "desk-a"  # the same key again: fine
    (a.ctx.settings.data_dir / "keys" / "station.ed25519").unlink()
    a.key = StationKey.load_or_create(a.ctx.settings.data_dir)  # a new key: a new identity
    with pytest.raises(StationError, match="already enrolled"):
        force.enrol(a, via_proxy=False)


def test_a_station_may_publish_only_its_own_records_subject(force: Force) -> None:
    a, b = force.add_station("desk-a"), force.add_station("desk-b")
    force.start_server()
    force.start_central()
    force.enrol(a, via_proxy=False)
    force.enrol(b, via_proxy=False)
    enrolment = Enrolment.load(a.ctx.settings.data_dir)
    assert enrolment is not None

    async def attempt() -> tuple[bool, bool, bool]:
        nc = await connect(enrolment)
        js = nc.jetstream(timeout=3)
        try:
            own = await js.publish(m.records_subject("desk-a"), b"{}", headers={m.MSG_ID: "x1"})
            try:
                await js.publish(m.records_subject("desk-b"), b"{}", headers={m.MSG_ID: "x2"})
                other = True
            except NatsTimeout:
                other = False
            try:
                await nc.request("$JS.API.STREAM.DELETE.RECORDS", b"", timeout=3)
                delete = True
            except NatsTimeout:
                delete = False
            return own.stream == m.RECORDS_STREAM, other, delete
        finally:
            await nc.close()

    own, other, delete = asyncio.run(attempt())
    assert own and not other and not delete
    log = force.server.log.read_text()
    assert 'Publish Violation - User "desk-a", Subject "records.desk-b"' in log


def test_a_revoked_station_is_disconnected_by_the_server_and_cannot_return(force: Force) -> None:
    a = force.add_station("desk-a")
    force.start_server()
    force.start_central()
    force.enrol(a, via_proxy=False)
    link = force.link(a)
    a.check("SN-REV-0001")
    assert link.wait_for(a.all_committed, WAIT)
    force.roll.revoke("desk-a")
    force.server.set_auth(force.auth_text())
    assert link.disconnected.wait(WAIT)
    enrolment = Enrolment.load(a.ctx.settings.data_dir)
    assert enrolment is not None

    async def reconnect() -> None:
        nc = await connect(enrolment, max_reconnect_attempts=0, allow_reconnect=False)
        await nc.close()

    with pytest.raises((nats.errors.Error, OSError)):
        asyncio.run(reconnect())
    assert 'authentication error - User "desk-a"' in force.server.log.read_text()
    doc = json.loads(json.dumps(force.roll.key_list()))
    assert doc["keys"][0]["revoked_at"] is not None
