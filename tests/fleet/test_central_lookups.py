"""Central look-ups: a front counter holding only part of the register checks locally and
never waits; the centre's answer arrives over request/reply (a queue group of matchers) and
is appended to the record as an audited amendment, queued while the link is down."""

from __future__ import annotations

import asyncio
import collections
import json
from pathlib import Path

import nats
from sqlalchemy import select

from station.db.fleet_models import CheckAmendment
from station.db.models import AuditEntry
from station.fleet import messages as m
from station.fleet.matcher_service import serve_matcher
from station.register.service import RegisterMatcher
from station.settings import MatcherSettings
from tests.helpers.fleet import Force, SimStation, central_import, register_file

WAIT = 120


def test_an_offline_central_check_is_queued_then_appended_as_an_audited_amendment(
    force: Force, tmp_path: Path
) -> None:
    counter = force.add_station("counter-1", scope="partial")
    force.start_server()
    central_import(force, register_file(tmp_path / "r.csv", ["ZZCENTRAL1", "ZZCENTRAL2"]))
    force.start_central(matcher=RegisterMatcher(force.db, MatcherSettings()))
    force.enrol(counter)
    force.proxies["counter-1"].cut()
    link = force.link(counter)
    check_id = counter.check("ZZCENTRAL1")  # finishes offline, against the local part only
    doc = counter.service.get(check_id, audit_read=False)
    assert doc.verdict == "no_match"
    force.proxies["counter-1"].restore()
    assert link.wait_for(lambda: _amendments(counter) == 1 and counter.all_committed(), WAIT)
    with counter.ctx.db.session() as s:
        amendment = s.execute(select(CheckAmendment)).scalar_one()
        assert amendment.check_id == check_id
        assert amendment.body["results"][0]["verdict"] == "match"
        entry = s.execute(
            select(AuditEntry).where(AuditEntry.actor == "central-matcher")
        ).scalar_one()
        assert entry.object_id == check_id and entry.detail["verdicts"] == ["match"]
    assert list(force.central_records("amendment")) == [f"amendment-counter-1-{amendment.id}"]


def _amendments(st: SimStation) -> int:
    with st.ctx.db.session() as s:
        return len(s.execute(select(CheckAmendment.id)).all())


def test_more_matcher_replicas_share_the_look_ups(force: Force, tmp_path: Path) -> None:
    force.start_server()
    central_import(force, register_file(tmp_path / "r.csv", ["QQ000001"]))
    url = force.central_url

    async def run() -> collections.Counter[str]:
        replicas = []
        for name in ("one", "two"):
            nc = await nats.connect(url, name=name)
            matcher = RegisterMatcher(force.db, MatcherSettings())
            matcher.index()  # built before the requests, not during them
            await serve_matcher(nc, matcher, replica=name)
            replicas.append(nc)
        client = await nats.connect(url)
        seen: collections.Counter[str] = collections.Counter()
        for _ in range(40):
            reply = await client.request(
                m.LOOKUP_SUBJECT, m.canonical({"values": [{"value": "QQ000001"}]}), timeout=10
            )
            doc = json.loads(reply.data)
            assert doc["results"][0]["verdict"] == "match"
            seen[doc["replica"]] += 1
        for nc in [*replicas, client]:
            await nc.close()
        return seen

    seen = asyncio.run(run())
    assert set(seen) == {"one", "two"}, seen
