"""SQLAlchemy 2 models. Schema changes go through Alembic (station/db/migrations)."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def key_text(length: int) -> String:
    """Text of a register key (identifier, kind, source): normalised ASCII, so PostgreSQL
    compares it byte by byte ("C" collation) rather than by the database's locale, which
    makes an import's sort and its key index several times cheaper; SQLite does so anyway."""
    return cast(String, String(length).with_variant(String(length, collation="C"), "postgresql"))


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class Owner(Base):
    """Owner personal data, kept apart from register entries and shown only to roles that need it."""

    __tablename__ = "owners"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_ref: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(Text)
    postcode: Mapped[str | None] = mapped_column(String(16), index=True)
    phone: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RegisterImport(Base):
    """One applied register file: each bumps the register version."""

    __tablename__ = "register_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # == register version
    source: Mapped[str] = mapped_column(String(100))
    filename: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    added: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    withdrawn: Mapped[int] = mapped_column(Integer, default=0)
    imported_by: Mapped[str] = mapped_column(String(100), default="system")
    imported_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RegisterEntry(Base):
    """A stolen/lost/registered item (or a range of serials) on a register."""

    __tablename__ = "register_entries"
    __table_args__ = (
        UniqueConstraint("source", "kind", "identifier", name="uq_register_entries_key"),
        Index("ix_register_entries_version", "version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: looked up by (source, kind, identifier) only: the unique key serves every query
    identifier: Mapped[str] = mapped_column(key_text(64))
    kind: Mapped[str] = mapped_column(key_text(20))
    status: Mapped[str] = mapped_column(String(20))
    category: Mapped[str | None] = mapped_column(String(100))
    brand: Mapped[str | None] = mapped_column(String(100))
    model: Mapped[str | None] = mapped_column(String(100))
    crime_ref: Mapped[str | None] = mapped_column(String(64))
    force: Mapped[str | None] = mapped_column(String(100))
    reported_on: Mapped[dt.date | None] = mapped_column(Date)
    owner_applied_number: Mapped[str | None] = mapped_column(String(64))
    #: last serial of a consecutive range (a stolen pallet); None for a single item
    range_end: Mapped[str | None] = mapped_column(String(64))
    owner_ref: Mapped[str | None] = mapped_column(String(64))
    kit_type: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(key_text(100), default="local")
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False)
    #: register version (RegisterImport.id) that last changed this entry
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Check(Base):
    """One check of one item: the evidence record. Written first, completed last."""

    __tablename__ = "checks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    #: started -> complete | incomplete (crash, device fault: what was captured is kept)
    state: Mapped[str] = mapped_column(String(16), default="started", index=True)
    purpose: Mapped[str] = mapped_column(String(32))
    officer: Mapped[str] = mapped_column(String(100))
    station_id: Mapped[str] = mapped_column(String(64))
    location: Mapped[str] = mapped_column(String(200), default="")
    mode: Mapped[str] = mapped_column(String(16), default="scan")  # scan | manual | batch
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    register_version: Mapped[int] = mapped_column(Integer, default=0)
    verdict: Mapped[str | None] = mapped_column(String(16))
    marked: Mapped[bool] = mapped_column(Boolean, default=False)
    #: lamp and camera settings, controller identity and last self-test, for court
    conditions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)

    images: Mapped[list[CheckImage]] = relationship(
        back_populates="check", order_by="CheckImage.id"
    )
    identifiers: Mapped[list[CheckIdentifier]] = relationship(
        back_populates="check", order_by="CheckIdentifier.id"
    )
    matches: Mapped[list[CheckMatch]] = relationship(
        back_populates="check", order_by="CheckMatch.id"
    )


class CheckImage(Base):
    """A frame of a check, stored as a content-addressed file."""

    __tablename__ = "check_images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    check_id: Mapped[str] = mapped_column(ForeignKey("checks.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))  # dark | white | uv | uv_long | overlay
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    media_type: Mapped[str] = mapped_column(String(32), default="image/png")
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    captured_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    check: Mapped[Check] = relationship(back_populates="images")


class CheckIdentifier(Base):
    """An identifier read on (or typed for) the item of a check."""

    __tablename__ = "check_identifiers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    check_id: Mapped[str] = mapped_column(ForeignKey("checks.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(64), index=True)
    raw: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(40))
    confidence: Mapped[float] = mapped_column(Float)
    valid: Mapped[bool] = mapped_column(Boolean)
    bbox: Mapped[list[Any]] = mapped_column(JSON, default=list)
    frame: Mapped[str] = mapped_column(String(8), default="white")

    check: Mapped[Check] = relationship(back_populates="identifiers")


class CheckMatch(Base):
    """A register candidate found for an identifier of a check."""

    __tablename__ = "check_matches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    check_id: Mapped[str] = mapped_column(ForeignKey("checks.id"), index=True)
    query: Mapped[str] = mapped_column(String(64))
    verdict: Mapped[str] = mapped_column(String(16))
    entry_id: Mapped[int | None] = mapped_column(Integer)
    entry_identifier: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str | None] = mapped_column(String(20))
    distance: Mapped[int | None] = mapped_column(Integer)
    score: Mapped[float | None] = mapped_column(Float)
    edits: Mapped[list[Any]] = mapped_column(JSON, default=list)
    crime_ref: Mapped[str | None] = mapped_column(String(64))

    check: Mapped[Check] = relationship(back_populates="matches")


class AuditEntry(Base):
    """Append-only, hash-chained audit log: each entry carries the previous entry's hash."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(100))
    #: collection | consultation | alteration | disclosure | erasure | system
    action: Mapped[str] = mapped_column(String(20))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(64))
    recipient: Mapped[str | None] = mapped_column(String(100))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """Single row locked while appending, so concurrent writers cannot fork the chain."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_id: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """A signed statement of the chain's head (entry count and hash) at a moment.

    Someone with database access but without the station key can rewrite and rehash the
    chain; they cannot sign a new checkpoint, so a rewrite before a checkpoint, or a cut tail
    behind one, no longer matches it."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[str] = mapped_column(String(40))
    station_id: Mapped[str] = mapped_column(String(100))
    entries: Mapped[int] = mapped_column(Integer)
    head_hash: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(16))
    public_key: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(100))


class SelfTest(Base):
    """A doctor run; the newest is recorded with every check."""

    __tablename__ = "self_tests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    station_id: Mapped[str] = mapped_column(String(64))
    passed: Mapped[bool] = mapped_column(Boolean)
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


# The service side's tables (users, tokens, outcomes, bookings, batches) share this metadata.
from station.db import fleet_models as _fleet_models  # noqa: E402, F401
from station.db import service_models as _service_models  # noqa: E402, F401
