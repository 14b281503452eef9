"""Signed checkpoints catch what a plain hash chain cannot: a rewrite rehashed forward, a cut
tail with the head moved back, and a changed check record."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from station.checks.service import CheckRequest
from station.context import StationContext
from station.db.engine import Database
from station.db.models import AuditCheckpoint, AuditEntry, AuditHead, Check
from station.records import audit
from station.records.signing import StationKey
from station.settings import StationSettings


@pytest.fixture
def key(tmp_path: Path) -> StationKey:
    return StationKey.load_or_create(tmp_path / "keydir")


def _fill(db: Database, n: int) -> None:
    for i in range(n):
        with db.writer() as s:
            audit.append(s, f"officer{i}", "collection", "check", f"c{i}", {"n": i})


def _rehash_from(db: Database, first: int) -> None:
    """What an intruder with database access (and no key) does after editing entry ``first``."""
    with db.writer() as s:
        entries = s.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars().all()
        prev = audit.GENESIS if first == 1 else entries[first - 2].hash
        for e in entries[first - 1 :]:
            e.prev_hash = prev
            e.hash = audit.entry_hash(
                prev,
                e.id,
                e.at,
                e.actor,
                e.action,
                e.object_type,
                e.object_id,
                e.recipient,
                e.detail,
            )
            prev = e.hash
        head = s.get(AuditHead, 1)
        assert head is not None
        head.last_id = entries[-1].id
        head.last_hash = prev


def test_rewrite_rehashed_forward_passes_the_bare_chain_but_not_the_checkpoint(
    db: Database, key: StationKey
) -> None:
    _fill(db, 6)
    with db.writer() as s:
        cp = audit.checkpoint(s, key, "station-1")
    assert cp.entries == 6
    _fill(db, 2)
    with db.writer() as s:
        s.execute(update(AuditEntry).where(AuditEntry.id == 3).values(actor="mallory"))
    _rehash_from(db, 3)
    with db.session() as s:
        bare = audit.verify_entries(
            s.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars(), s.get(AuditHead, 1)
        )
        report = audit.verify(s, public_key=key.public_bytes)
    assert bare.ok, "the intruder's rehash is consistent on its own"
    assert not report.ok
    assert report.first_broken_id == 6
    assert "rewritten" in report.reason


def test_cut_tail_with_the_head_moved_back_is_detected(db: Database, key: StationKey) -> None:
    _fill(db, 8)
    with db.writer() as s:
        audit.checkpoint(s, key, "station-1")
    with db.writer() as s:
        s.execute(delete(AuditEntry).where(AuditEntry.id > 5))
    _rehash_from(db, 5)
    with db.session() as s:
        report = audit.verify(s, public_key=key.public_bytes)
    assert not report.ok
    assert "removed from the end" in report.reason
    assert report.first_broken_id == 6


def test_a_checkpoint_kept_elsewhere_catches_deleted_checkpoints(
    db: Database, key: StationKey
) -> None:
    _fill(db, 4)
    with db.writer() as s:
        kept = audit.checkpoint(s, key, "station-1").as_dict()
    with db.writer() as s:
        s.execute(delete(AuditCheckpoint))
        s.execute(delete(AuditEntry).where(AuditEntry.id == 4))
    _rehash_from(db, 4)
    with db.session() as s:
        assert audit.verify(s, public_key=key.public_bytes).ok  # nothing left to compare with
        report = audit.verify(
            s,
            public_key=key.public_bytes,
            checkpoints=[audit.SignedCheckpoint.from_dict(kept)],
        )
    assert not report.ok


def test_forged_checkpoint_is_named(db: Database, key: StationKey, tmp_path: Path) -> None:
    _fill(db, 3)
    other = StationKey.load_or_create(tmp_path / "other")
    with db.writer() as s:
        audit.checkpoint(s, other, "station-1")
    with db.session() as s:
        report = audit.verify(s, public_key=key.public_bytes)
    assert not report.ok
    assert "forged or altered" in report.reason


def test_checkpoint_signature_covers_its_fields(db: Database, key: StationKey) -> None:
    _fill(db, 2)
    with db.writer() as s:
        cp = audit.checkpoint(s, key, "station-1")
    assert audit.verify_checkpoint(cp, key.public_bytes)
    moved = audit.SignedCheckpoint.from_dict({**cp.as_dict(), "entries": 1})
    assert not audit.verify_checkpoint(moved, key.public_bytes)


def test_checkpoint_is_due_after_enough_entries_or_time(db: Database, key: StationKey) -> None:
    _fill(db, 3)
    with db.writer() as s:
        assert audit.checkpoint_if_due(s, key, "st", every_entries=5) is not None
    with db.writer() as s:
        assert audit.checkpoint_if_due(s, key, "st", every_entries=5) is None
    _fill(db, 2)
    with db.writer() as s:
        assert audit.checkpoint_if_due(s, key, "st", every_entries=5) is None
        late = audit.checkpoint_if_due(s, key, "st", every_entries=5, every=dt.timedelta(0))
    assert late is not None and late.entries == 5


def test_changed_check_result_is_detected(settings: StationSettings) -> None:
    ctx = StationContext(settings)
    try:
        record = ctx.check_service().manual(
            CheckRequest(officer="officer", identifiers=["C02XK1ABJGH5"])
        )
        with ctx.db.session() as s:
            assert audit.verify(s).ok
        with ctx.db.writer() as s:
            s.execute(update(Check).where(Check.id == record.id).values(verdict="match"))
        with ctx.db.session() as s:
            report = audit.verify(s)
        assert not report.ok
        assert record.id in report.reason and "changed" in report.reason
    finally:
        ctx.close()


def test_audit_verify_command_uses_a_checkpoint_kept_elsewhere(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from station.cli import app

    env = {"STATION_DATA_DIR": str(tmp_path / "data")}
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    ctx = StationContext(StationSettings(data_dir=tmp_path / "data", db_url=url))
    try:
        _fill(ctx.db, 5)
    finally:
        ctx.close()
    runner = CliRunner()
    made = runner.invoke(app, ["audit", "checkpoint", "--db", url], env=env)
    assert made.exit_code == 0, made.output
    kept = tmp_path / "kept.json"
    kept.write_text(made.output)
    assert json.loads(made.output)["entries"] == 5
    db = Database(url)
    try:
        with db.writer() as s:
            s.execute(delete(AuditCheckpoint))
            s.execute(delete(AuditEntry).where(AuditEntry.id == 5))
        _rehash_from(db, 4)
    finally:
        db.dispose()
    plain = runner.invoke(app, ["audit", "verify", "--db", url], env=env)
    assert plain.exit_code == 0, plain.output
    checked = runner.invoke(
        app, ["audit", "verify", "--db", url, "--checkpoint", str(kept)], env=env
    )
    assert checked.exit_code != 0
    assert "removed from the end" in " ".join(checked.output.split())
