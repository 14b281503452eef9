"""The audit log: list entries and verify the hash chain."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from station.api.deps import State, require
from station.auth.roles import Permission
from station.auth.users import Principal
from station.db.models import AuditEntry
from station.records import audit

router = APIRouter(prefix="/api/audit", tags=["audit"])


@router.get("")
def list_audit(
    state: State,
    who: Annotated[Principal, Depends(require(Permission.AUDIT_READ))],
    object_type: str | None = None,
    object_id: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    before_id: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Entries newest first; page back with ``before_id``."""
    q = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
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
    with state.ctx.db.session() as s:
        return [
            {
                "id": e.id,
                "at": e.at.isoformat(),
                "actor": e.actor,
                "action": e.action,
                "object_type": e.object_type,
                "object_id": e.object_id,
                "recipient": e.recipient,
                "detail": e.detail,
                "prev_hash": e.prev_hash,
                "hash": e.hash,
            }
            for e in s.execute(q).scalars()
        ]


@router.get("/verify")
def verify_audit(
    state: State, who: Annotated[Principal, Depends(require(Permission.AUDIT_READ))]
) -> dict[str, Any]:
    """Recompute the whole chain; names the first broken entry if there is one."""
    with state.ctx.db.session() as s:
        return audit.verify(s).as_dict()
