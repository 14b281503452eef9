"""The station's outbox: a row per message for the centre, written in the transaction that
made the thing it carries, so nothing committed locally can be forgotten by the uploader.

Each row carries the audit entries appended since the row before it, so the centre receives
the station's whole chain, in order, without gaps, with the records it explains.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from station.db.fleet_models import CheckAmendment, OutboxItem
from station.db.models import AuditEntry, Check
from station.records import audit


def enqueue(session: Session, kind: str, object_id: str) -> OutboxItem:
    """Add a row in the caller's transaction; call it after the audit entries it should carry.

    The audit head is locked by the caller's own ``audit.append`` (or here), so two writers
    cannot both claim the same range of entries."""
    last_id, _ = audit.head(session)
    covered = session.execute(select(func.coalesce(func.max(OutboxItem.audit_to), 0))).scalar_one()
    item = OutboxItem(
        kind=kind, object_id=object_id, audit_from=int(covered), audit_to=max(last_id, covered)
    )
    session.add(item)
    session.flush()
    return item


def pending(session: Session, limit: int = 100) -> list[OutboxItem]:
    """Rows not yet stored by the server, oldest first (the order the chain needs)."""
    query = select(OutboxItem).where(OutboxItem.state == "pending").order_by(OutboxItem.id)
    return list(session.execute(query.limit(limit)).scalars())


def backlog(session: Session) -> int:
    """Rows the centre has not yet given a receipt for."""
    query = select(func.count()).where(OutboxItem.state.in_(("pending", "sent")))
    return int(session.execute(query).scalar_one())


def message_body(session: Session, item: OutboxItem, station_id: str) -> dict[str, Any]:
    """The body of an outbox row's message: what it carries, its audit entries, the head."""
    entries = session.execute(
        select(AuditEntry)
        .where(AuditEntry.id > item.audit_from, AuditEntry.id <= item.audit_to)
        .order_by(AuditEntry.id)
    ).scalars()
    body: dict[str, Any] = {
        "v": 1,
        "station_id": station_id,
        "kind": item.kind,
        "id": message_id(item, station_id),
        "seq": item.id,
        "audit": [audit.entry_document(e).model_dump(mode="json") for e in entries],
        "images": [],
    }
    if item.kind == "record":
        from station.checks.service import check_record

        check = session.execute(
            select(Check)
            .where(Check.id == item.object_id)
            .options(selectinload(Check.images), selectinload(Check.identifiers))
        ).scalar_one()
        body["record"] = check_record(check).model_dump(mode="json")
        body["images"] = sorted({i.sha256 for i in check.images})
    elif item.kind == "amendment":
        amendment = session.get(CheckAmendment, int(item.object_id))
        assert amendment is not None
        body["record"] = {
            "check_id": amendment.check_id,
            "kind": amendment.kind,
            "body": amendment.body,
            "at": audit.entry_document_time(amendment.at),
        }
    if body["audit"]:
        last = body["audit"][-1]
        body["checkpoint"] = {"last_id": last["id"], "last_hash": last["hash"]}
    return body


def message_id(item: OutboxItem, station_id: str) -> str:
    """The message's id, which the stream de-duplicates on and the centre keys records by:
    a record's own id (unique across the force), else kind, station and number."""
    if item.kind == "record":
        return item.object_id
    return f"{item.kind}-{station_id}-{item.object_id}"
