"""The audit log: list entries and verify the hash chain."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from station.api.deps import State, require
from station.auth.roles import Permission
from station.auth.users import Principal
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
    before_id: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[audit.AuditEntryDocument]:
    """Entries newest first; page back with ``before_id``."""
    with state.ctx.db.session() as s:
        return audit.list_entries(
            s,
            object_type=object_type,
            object_id=object_id,
            actor=actor,
            action=action,
            before_id=before_id,
            limit=limit,
        )


@router.get("/verify")
def verify_audit(
    state: State, who: Annotated[Principal, Depends(require(Permission.AUDIT_READ))]
) -> dict[str, Any]:
    """Recompute the whole chain; names the first broken entry if there is one."""
    with state.ctx.db.session() as s:
        return audit.verify(s, public_key=state.ctx.station_key.public_bytes).as_dict()
