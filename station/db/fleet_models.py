"""Tables of force-wide operation: a station's outbox and amendments, the centre's copies.

Station side: ``outbox`` (what still has to reach the centre, in audit order),
``check_amendments`` (answers appended to a record later, e.g. a central look-up) and
``central_lookups`` (central checks queued while offline). Central side (``fleet_*``): the
enrolled stations and their keys, every station's records, images and audit entries, alerts,
and the register versions published. They share one metadata so one migration history serves
both ends.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from station.db.models import Base, utcnow

# --- station side ---------------------------------------------------------------------------------


class OutboxItem(Base):
    """One message the centre must acknowledge with a receipt; rows go up in id order."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_state_id", "state", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: record | amendment | checkpoint
    kind: Mapped[str] = mapped_column(String(16))
    object_id: Mapped[str] = mapped_column(String(64))
    #: the audit entries this message carries: (audit_from, audit_to], contiguous over rows
    audit_from: Mapped[int] = mapped_column(Integer)
    audit_to: Mapped[int] = mapped_column(Integer)
    #: pending -> sent (the server stored it) -> committed (receipt) | rejected (receipt says no)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    committed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    receipt: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class CheckAmendment(Base):
    """Something appended to a check record after it was completed (never an edit of it)."""

    __tablename__ = "check_amendments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    check_id: Mapped[str] = mapped_column(ForeignKey("checks.id"), index=True)
    #: central_match
    kind: Mapped[str] = mapped_column(String(32))
    body: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CentralLookup(Base):
    """A central check of a record's identifiers, queued until the centre answers."""

    __tablename__ = "central_lookups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    check_id: Mapped[str] = mapped_column(ForeignKey("checks.id"), index=True)
    values: Mapped[list[Any]] = mapped_column(JSON, default=list)
    #: queued -> answered
    state: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    answered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


# --- central side ---------------------------------------------------------------------------------


class FleetStation(Base):
    """An enrolled station: its key, its NATS user, and what it last told the centre."""

    __tablename__ = "fleet_stations"

    station_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    location: Mapped[str] = mapped_column(String(200), default="")
    #: base64 Ed25519 public key; empty until the station enrols
    public_key: Mapped[str] = mapped_column(String(64), default="")
    key_id: Mapped[str] = mapped_column(String(16), default="")
    nats_user: Mapped[str] = mapped_column(String(100))
    #: argon2 hash is not usable by nats-server's config; the bcrypt hash it accepts
    nats_password_hash: Mapped[str] = mapped_column(String(100))
    #: the register is all a station holds (full) or only part of it (partial: asks centrally)
    register_scope: Mapped[str] = mapped_column(String(16), default="full")
    added_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    enrolled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_contact: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: the latest heartbeat: register version, upload backlog, self-test, lamp health
    status: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: the station's audit chain as anchored here: last entry id and hash received in order
    audit_last_id: Mapped[int] = mapped_column(Integer, default=0)
    audit_last_hash: Mapped[str] = mapped_column(String(64), default="0" * 64)
    chain_ok: Mapped[bool] = mapped_column(Boolean, default=True)


class FleetRecord(Base):
    """A station's record (check or amendment) as received, exactly once per id."""

    __tablename__ = "fleet_records"
    __table_args__ = (Index("ix_fleet_records_station_received", "station_id", "received_at"),)

    record_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    station_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    #: the signed message body as received, and its SHA-256 (a retry must match it)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    body_sha256: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: copied out of the body for the supervisor's figures
    purpose: Mapped[str | None] = mapped_column(String(32))
    verdict: Mapped[str | None] = mapped_column(String(16))
    marked: Mapped[bool] = mapped_column(Boolean, default=False)


class FleetImage(Base):
    """A check image, content-addressed, copied from the Object Store."""

    __tablename__ = "fleet_images"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FleetAuditEntry(Base):
    """One entry of a station's audit chain, as the station wrote it."""

    __tablename__ = "fleet_audit"

    station_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    entry_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(20))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(64))
    recipient: Mapped[str | None] = mapped_column(String(100))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class FleetAlert(Base):
    """Something a supervisor must look at: a gap or fork in a chain, a bad signature."""

    __tablename__ = "fleet_alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    station_id: Mapped[str] = mapped_column(String(64), index=True)
    #: gap | fork | tampered | signature | revoked | unknown_station | conflict
    kind: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FleetRegisterVersion(Base):
    """A register version published to the stations: its signed manifest."""

    __tablename__ = "fleet_register_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON)
    signature: Mapped[str] = mapped_column(String(100))
    published_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
