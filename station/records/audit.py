"""Append-only, hash-chained audit log.

Each entry's hash covers its own fields and the previous entry's hash, so editing, deleting or
reordering any row breaks the chain from that row on; ``verify`` names the first broken entry.
Appends lock the single ``audit_head`` row, so concurrent writers cannot fork the chain.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from station.db.models import AuditEntry, AuditHead
from station.errors import StationError

AuditAction = Literal["collection", "consultation", "alteration", "disclosure", "erasure", "system"]
GENESIS = "0" * 64


def entry_hash(
    prev_hash: str,
    entry_id: int,
    at: dt.datetime,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    recipient: str | None,
    detail: dict[str, Any],
) -> str:
    """SHA-256 over a canonical JSON encoding of the entry and its predecessor's hash."""
    body = json.dumps(
        [prev_hash, entry_id, _ts(at), actor, action, object_type, object_id, recipient, detail],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def _ts(at: dt.datetime) -> str:
    # SQLite returns naive datetimes; hash the UTC wall time to microseconds either way.
    if at.tzinfo is not None:
        at = at.astimezone(dt.UTC).replace(tzinfo=None)
    return at.isoformat(timespec="microseconds")


def append(
    session: Session,
    actor: str,
    action: AuditAction,
    object_type: str,
    object_id: str,
    detail: dict[str, Any] | None = None,
    recipient: str | None = None,
) -> AuditEntry:
    """Add one entry in the caller's transaction (it commits with the change it records)."""
    head = session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar()
    if head is None:
        raise StationError("the audit log has no head row: run `station db upgrade`")
    at = dt.datetime.now(dt.UTC)
    entry_id = head.last_id + 1
    clean_detail = json.loads(json.dumps(detail or {}, default=str))
    digest = entry_hash(
        head.last_hash, entry_id, at, actor, action, object_type, object_id, recipient, clean_detail
    )
    entry = AuditEntry(
        id=entry_id,
        at=at,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        recipient=recipient,
        detail=clean_detail,
        prev_hash=head.last_hash,
        hash=digest,
    )
    session.add(entry)
    head.last_id = entry_id
    head.last_hash = digest
    session.flush()
    return entry


class AuditEntryDocument(BaseModel):
    """One audit entry as served by the API and written into evidence bundles.

    ``at`` is the UTC time the hash covers (microseconds), so anyone holding the entries can
    recompute every hash with :func:`entry_hash`."""

    id: int
    at: str
    actor: str
    action: str
    object_type: str
    object_id: str
    recipient: str | None
    detail: dict[str, Any]
    prev_hash: str
    hash: str


def entry_document(e: AuditEntry) -> AuditEntryDocument:
    """The one serialisation of a stored entry."""
    return AuditEntryDocument(
        id=e.id,
        at=_ts(e.at) + "+00:00",
        actor=e.actor,
        action=e.action,
        object_type=e.object_type,
        object_id=e.object_id,
        recipient=e.recipient,
        detail=e.detail,
        prev_hash=e.prev_hash,
        hash=e.hash,
    )


def list_entries(
    session: Session,
    *,
    object_type: str | None = None,
    object_id: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
    oldest_first: bool = False,
) -> list[AuditEntryDocument]:
    """Entries matching every given filter, newest first (or oldest first), at most ``limit``."""
    order = AuditEntry.id.asc() if oldest_first else AuditEntry.id.desc()
    q = select(AuditEntry).order_by(order).limit(limit)
    for column, value in (
        (AuditEntry.object_type, object_type),
        (AuditEntry.object_id, object_id),
        (AuditEntry.actor, actor),
        (AuditEntry.action, action),
    ):
        if value is not None:
            q = q.where(column == value)
    if before_id is not None:
        q = q.where(AuditEntry.id < before_id)
    return [entry_document(e) for e in session.execute(q).scalars()]


@dataclass(frozen=True)
class ChainReport:
    entries: int
    ok: bool
    first_broken_id: int | None = None
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "entries": self.entries,
            "ok": self.ok,
            "first_broken_id": self.first_broken_id,
            "reason": self.reason,
        }


def verify_entries(entries: Iterable[AuditEntry], head: AuditHead | None = None) -> ChainReport:
    """Recompute the chain over entries in id order."""
    prev = GENESIS
    expected_id = 1
    count = 0
    for e in entries:
        count += 1
        if e.id != expected_id:
            return ChainReport(count, False, e.id, f"entry {expected_id} is missing (found {e.id})")
        if e.prev_hash != prev:
            return ChainReport(count, False, e.id, "prev_hash does not match the entry before it")
        digest = entry_hash(
            prev, e.id, e.at, e.actor, e.action, e.object_type, e.object_id, e.recipient, e.detail
        )
        if digest != e.hash:
            return ChainReport(count, False, e.id, "entry content was changed after it was written")
        prev = e.hash
        expected_id += 1
    if head is not None and (head.last_id != expected_id - 1 or head.last_hash != prev):
        return ChainReport(
            count,
            False,
            expected_id,
            f"the log ends at entry {expected_id - 1} but the head "
            f"records entry {head.last_id}: entries were removed from the end",
        )
    return ChainReport(count, True)


def verify(session: Session, batch: int = 5000) -> ChainReport:
    """Verify the whole chain stored in the database."""
    head = session.get(AuditHead, 1)
    rows = session.execute(
        select(AuditEntry).order_by(AuditEntry.id).execution_options(yield_per=batch)
    )
    return verify_entries(rows.scalars(), head)


# -- carrying the chain elsewhere (a central store) and anchoring it there -----------------------


def document_hash(doc: dict[str, Any]) -> str:
    """Recompute the hash of an entry from its JSON document (see :func:`entry_document`)."""
    return entry_hash(
        doc["prev_hash"],
        int(doc["id"]),
        dt.datetime.fromisoformat(doc["at"]),
        doc["actor"],
        doc["action"],
        doc["object_type"],
        doc["object_id"],
        doc["recipient"],
        doc["detail"],
    )


def entry_document_time(at: dt.datetime) -> str:
    """A time as the audit log writes it (UTC, microseconds, no zone)."""
    return _ts(at)


def head(session: Session) -> tuple[int, str]:
    """The chain's head (last entry id and hash) as committed."""
    row = session.get(AuditHead, 1)
    return (0, GENESIS) if row is None else (row.last_id, row.last_hash)
