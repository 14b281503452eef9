"""The central ingester's rules, driven with real station databases and real PostgreSQL
(no transport): exactly once, signatures, chain continuity, tampering, forks, revocation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from station.checks.service import CheckRequest
from station.context import StationContext
from station.db.engine import Database
from station.db.fleet_models import FleetAlert, FleetStation, OutboxItem
from station.db.migrate import upgrade
from station.db.models import AuditEntry, AuditHead
from station.fleet import messages as m
from station.fleet import outbox
from station.fleet.ingest import ingest, verify_station_chain
from station.fleet.stations import StationRoll, enrol_bytes
from station.records import audit
from station.records.signing import StationKey
from station.settings import StationSettings


@pytest.fixture
def central(pg_url: str) -> Iterator[Database]:
    db = Database(pg_url)
    upgrade(db)
    yield db
    db.dispose()


@pytest.fixture
def station(tmp_path: Path, central: Database) -> Iterator[tuple[StationContext, StationKey]]:
    settings = StationSettings(data_dir=tmp_path / "st", station_id="desk-1")
    ctx = StationContext(settings)
    key = StationKey.load_or_create(settings.data_dir)
    roll = StationRoll(central)
    roll.add("desk-1")
    roll.enrol("desk-1", key.public_text, key.sign(enrol_bytes("desk-1", key.public_text)))
    yield ctx, key
    ctx.close()


def _messages(ctx: StationContext, key: StationKey) -> list[tuple[bytes, str]]:
    with ctx.db.session() as s:
        items = s.execute(select(OutboxItem).order_by(OutboxItem.id)).scalars().all()
        bodies = [m.canonical(outbox.message_body(s, i, "desk-1")) for i in items]
    return [(b, m.b64(key.sign(b))) for b in bodies]


def _check(ctx: StationContext, *idents: str) -> None:
    ctx.check_service().manual(CheckRequest(identifiers=list(idents), officer="pc-2"))


def _alerts(db: Database) -> list[str]:
    with db.session() as s:
        return list(s.execute(select(FleetAlert.kind).order_by(FleetAlert.id)).scalars())


def test_a_message_delivered_twice_is_stored_once_with_the_same_receipt(
    central: Database, station: tuple[StationContext, StationKey]
) -> None:
    ctx, key = station
    _check(ctx, "SN-AAA-1")
    (data, sig), = _messages(ctx, key)  # fmt: skip
    first = ingest(central, "desk-1", data, sig)
    again = ingest(central, "desk-1", data, sig, deliveries=2)
    assert first.status == again.status == "committed"
    assert again.duplicate and not first.duplicate
    assert first.receipt == again.receipt
    with central.session() as s:
        assert verify_station_chain(s, "desk-1").ok


def test_a_forged_signature_is_refused_and_raises_an_alert(
    central: Database, station: tuple[StationContext, StationKey], tmp_path: Path
) -> None:
    ctx, _key = station
    _check(ctx, "SN-AAA-2")
    forger = StationKey.load_or_create(tmp_path / "forger")
    (data, sig), = _messages(ctx, forger)  # fmt: skip
    out = ingest(central, "desk-1", data, sig)
    assert out.status == "rejected" and "signature" in out.reason
    assert out.receipt["status"] == "rejected"
    assert _alerts(central) == ["signature"]


def test_a_record_changed_after_signing_is_refused(
    central: Database, station: tuple[StationContext, StationKey]
) -> None:
    ctx, key = station
    _check(ctx, "SN-AAA-3")
    (data, sig), = _messages(ctx, key)  # fmt: skip
    tampered = data.replace(b'"verdict":"no_match"', b'"verdict":"match"')
    assert tampered != data
    assert ingest(central, "desk-1", tampered, sig).status == "rejected"
    assert _alerts(central) == ["signature"]


def test_an_audit_entry_edited_in_the_station_database_is_caught_even_when_signed(
    central: Database, station: tuple[StationContext, StationKey]
) -> None:
    ctx, key = station
    _check(ctx, "SN-AAA-4")
    with ctx.db.writer() as s:
        s.execute(update(AuditEntry).where(AuditEntry.id == 1).values(actor="someone-else"))
    (data, sig), = _messages(ctx, key)  # fmt: skip
    out = ingest(central, "desk-1", data, sig)
    assert out.status == "rejected"
    assert _alerts(central) == ["tampered"]


def test_a_station_database_rewritten_after_anchoring_is_caught_as_a_fork(
    central: Database, station: tuple[StationContext, StationKey]
) -> None:
    ctx, key = station
    _check(ctx, "SN-AAA-5")
    for data, sig in _messages(ctx, key):
        assert ingest(central, "desk-1", data, sig).status == "committed"
    # rewrite history and re-hash the whole chain, as a careful forger would
    with ctx.db.writer() as s:
        entries = s.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars().all()
        prev = audit.GENESIS
        for e in entries:
            if e.id == 1:
                e.actor = "someone-else"
            e.prev_hash = prev
            e.hash = audit.entry_hash(prev, e.id, e.at, e.actor, e.action, e.object_type,
                                      e.object_id, e.recipient, e.detail)  # fmt: skip
            prev = e.hash
        head = s.get(AuditHead, 1)
        assert head is not None
        head.last_hash = prev
    _check(ctx, "SN-AAA-6")
    data, sig = _messages(ctx, key)[-1]
    out = ingest(central, "desk-1", data, sig)
    assert out.status == "committed"  # the record itself is kept...
    assert _alerts(central) == ["fork"]  # ...and the supervisor is told
    with central.session() as s:
        st = s.get(FleetStation, "desk-1")
        assert st is not None and not st.chain_ok


def test_entries_that_skip_ahead_wait_for_the_missing_ones_then_raise_a_gap(
    central: Database, station: tuple[StationContext, StationKey]
) -> None:
    ctx, key = station
    _check(ctx, "SN-AAA-7")
    _check(ctx, "SN-AAA-8")
    first, second = _messages(ctx, key)
    assert ingest(central, "desk-1", *second, deliveries=1).status == "retry"
    assert ingest(central, "desk-1", *first).status == "committed"
    assert ingest(central, "desk-1", *second, deliveries=2).status == "committed"
    assert _alerts(central) == []
    _check(ctx, "SN-AAA-9")
    _check(ctx, "SN-AAA-10")
    _never_sent, fourth = _messages(ctx, key)[2:]
    assert ingest(central, "desk-1", *fourth, deliveries=9).status == "committed"
    assert _alerts(central) == ["gap"]


def test_a_revoked_station_is_refused_by_the_ingester(
    central: Database, station: tuple[StationContext, StationKey]
) -> None:
    ctx, key = station
    StationRoll(central).revoke("desk-1")
    _check(ctx, "SN-AAA-11")
    (data, sig), = _messages(ctx, key)  # fmt: skip
    assert ingest(central, "desk-1", data, sig).status == "rejected"
    assert _alerts(central) == ["revoked"]


def test_a_message_naming_another_station_on_this_subject_is_refused(
    central: Database, station: tuple[StationContext, StationKey]
) -> None:
    ctx, key = station
    StationRoll(central).add("desk-2")
    _check(ctx, "SN-AAA-12")
    (data, sig), = _messages(ctx, key)  # fmt: skip
    assert ingest(central, "desk-2", data, sig).status == "rejected"
