"""Tables of the service side (people, tokens, outcomes, bookings, batches).

They live on the same metadata as station.db.models, which imports this module, so Alembic
and the migration/model parity test always see them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from station.db.models import Base, utcnow


class User(Base):
    """A member of staff (or a dealer) with exactly one role."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20))
    #: argon2id hash; never the password itself
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user")


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored, so a database leak reveals no token."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    #: "api" for long-lived tokens, "session" for a web login
    kind: Mapped[str] = mapped_column(String(16), default="api")
    name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)

    user: Mapped[User] = relationship(back_populates="tokens")


class Outcome(Base):
    """A follow-up recorded against a check, later than the check itself."""

    __tablename__ = "check_outcomes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    check_id: Mapped[str] = mapped_column(ForeignKey("checks.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Booking(Base):
    """Items booked in at a station on a day (from the custody record), to compare with checks."""

    __tablename__ = "bookings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    station_id: Mapped[str] = mapped_column(String(64), index=True)
    day: Mapped[dt.date] = mapped_column(Date, index=True)
    items: Mapped[int] = mapped_column(Integer)
    reference: Mapped[str] = mapped_column(String(100), default="")
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Batch(Base):
    """One bulk upload and its progress."""

    __tablename__ = "batches"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # serials | captures
    filename: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    #: queued -> running -> complete | failed
    state: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    hits: Mapped[int] = mapped_column(Integer, default=0)
    officer: Mapped[str] = mapped_column(String(100))
    purpose: Mapped[str] = mapped_column(String(32), default="property_office")
    station_id: Mapped[str] = mapped_column(String(64))
    register_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(Text)
    #: the validated inputs: [[line, label, raw identifier or stored image path], ...]
    inputs: Mapped[list[Any]] = mapped_column(JSON, default=list, deferred=True)


class BatchItem(Base):
    """The result for one row or one photograph of a batch.

    A row with a register candidate keeps its explained result, its spreadsheet columns and
    one :class:`BatchHit` per candidate (what the report lists, so the report never parses
    the results); a clean no-match is a compact row: position, line, the identifier as
    given, its verdict and an empty result. One row per position (``seq``), enforced: a
    resumed batch can never store a row twice.
    """

    __tablename__ = "batch_items"
    __table_args__ = (Index("ix_batch_items_batch_seq", "batch_id", "seq", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id"))
    seq: Mapped[int] = mapped_column(Integer)
    line: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(300))
    verdict: Mapped[str] = mapped_column(String(16))
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: the row's other spreadsheet columns as JSON text (hits only)
    sheet: Mapped[str | None] = mapped_column(Text)
    #: how many BatchHit rows the item has; None for an item stored before they existed,
    #: whose report is read from its result
    hit_rows: Mapped[int | None] = mapped_column(Integer)


class BatchHit(Base):
    """One register candidate of a batch item that hit, as the report lists it.

    Written with its item, in the same bulk write and transaction, so a resumed batch has
    them exactly once (the key is the item's position, the match and the candidate's rank).
    """

    __tablename__ = "batch_hits"

    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: which identifier of the item (a photograph may show several), then the rank
    match_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    rank: Mapped[int] = mapped_column(Integer, primary_key=True)
    query: Mapped[str] = mapped_column(Text)
    verdict: Mapped[str] = mapped_column(String(16))
    entry_id: Mapped[int] = mapped_column(Integer)
    identifier: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    crime_ref: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(Text)
    distance: Mapped[int] = mapped_column(Integer)
    #: the edits assumed, as the report shows them ("; " between them)
    edits: Mapped[str] = mapped_column(Text)
    score: Mapped[float] = mapped_column(Float)
