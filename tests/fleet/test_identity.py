"""Identity and authorisation: each station's key enrolled once, its own NATS user limited to
its own subjects, and a revoked station shut out at the server as well as at the ingester."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import nats
import pytest
from click.testing import Result
from nats.errors import TimeoutError as NatsTimeout
from typer.testing import CliRunner

from station.cli import app
from station.errors import StationError
from station.fleet import messages as m
from station.fleet.enrolment import Enrolment, connect
from station.records.evidence import build_bundle
from station.records.signing import StationKey
from tests.helpers.cli import run_station
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
    violation = 'Publish Violation - User "desk-a", Subject "records.desk-b"'
    assert force.server.wait_for_log(violation, WAIT)


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
    assert force.server.wait_for_log('authentication error - User "desk-a"', WAIT)
    doc = json.loads(json.dumps(force.roll.key_list()))
    assert doc["keys"][0]["revoked_at"] is not None


def test_bundles_verify_offline_against_the_key_list_the_centre_exports(
    force: Force, pg_url: str, tmp_path: Path
) -> None:
    """Enrolled: verifies; revoked since: refused by name; never enrolled: not trusted."""
    a, b, c = force.add_station("desk-a"), force.add_station("desk-b"), force.add_station("desk-c")
    force.start_server()
    force.start_central()
    force.enrol(a, via_proxy=False)
    force.enrol(b, via_proxy=False)
    bundles = {}
    for st in (a, b, c):
        record = st.check(f"SN-EV-{st.station_id}")
        path = tmp_path / f"{st.station_id}.zip"
        path.write_bytes(build_bundle(st.service, st.ctx.images, record, "sgt-2", "CPS", st.key))
        bundles[st.station_id] = path
    force.roll.revoke("desk-b")
    exported = run_station(tmp_path / "centre-cli", "central", "keys", db_url=pg_url)
    assert exported.returncode == 0, exported.stderr
    keys = tmp_path / "force-keys.json"
    keys.write_text(exported.stdout)
    runner = CliRunner()

    def verify(station_id: str) -> Result:
        return runner.invoke(app, ["evidence", "verify", str(bundles[station_id]), "--keys", str(keys)])  # fmt: skip

    good = verify("desk-a")
    assert good.exit_code == 0, good.output
    assert "signed by desk-a" in good.output
    revoked = verify("desk-b")
    assert revoked.exit_code == 1
    assert f"key {b.key.key_id} of station 'desk-b', which the force revoked" in revoked.output
    unknown = verify("desk-c")
    assert unknown.exit_code == 1
    assert f"signed with key {c.key.key_id} (station 'desk-c')" in unknown.output
    assert "not a trusted key" in unknown.output
