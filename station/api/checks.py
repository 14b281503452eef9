"""Checks: start one (202 + id), poll or stream it, list them, images, evidence, outcomes."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel

from station.api.deps import State, require
from station.auth.roles import Permission
from station.auth.users import Principal
from station.checks.outcomes import OutcomeIn, outcomes_for, record_outcome
from station.checks.service import (
    CheckQuery,
    CheckRequest,
    OwnerContact,
    require_manual_size,
)
from station.db.models import Check
from station.domain import CheckList, CheckRecord, OutcomeRecord
from station.errors import NotFound, OutcomeContradicts
from station.records.evidence import build_bundle, checked_recipient
from station.vision.overlay import overlay_png

router = APIRouter(prefix="/api", tags=["checks"])
P = Permission


class CheckStarted(BaseModel):
    id: str
    state: str
    href: str
    events: str


def _run_scan(state: State, check_id: str, actor: str) -> None:
    service = state.service()
    state.metrics.running.inc()
    t0 = time.perf_counter()
    try:
        service.run_scan(check_id, actor)
        record = service.get(check_id, audit_read=False)
        state.metrics.checks.labels("complete", record.verdict or "no_match").inc()
        state.metrics.scan_seconds.observe(time.perf_counter() - t0)
    except Exception:
        state.metrics.checks.labels("incomplete", "-").inc()
        raise
    finally:
        state.metrics.running.dec()


@router.post("/checks", status_code=status.HTTP_202_ACCEPTED)
def start_check(
    request: CheckRequest,
    response: Response,
    state: State,
    who: Annotated[Principal, Depends(require(P.CHECK_RUN))],
    wait: Annotated[bool, Query(description="block until the check is finished")] = False,
) -> CheckStarted | CheckRecord:
    """Start a scan of the item on the tray (202; poll ``href`` or stream ``events``).

    With ``identifiers`` it is a manual check, matched at once (201 with the record); at
    most 500 identifiers a request (413 says to send a longer list as a batch). The officer
    recorded is always the authenticated user.
    """
    require_manual_size(len(request.identifiers))
    request = request.model_copy(update={"officer": who.username})
    service = state.service()
    if request.identifiers:
        response.status_code = status.HTTP_201_CREATED
        record = service.manual(request)
        state.metrics.checks.labels(record.state, record.verdict or "-").inc()
        return record
    check_id = service.start(request, mode="scan")
    future = state.workers.submit(_run_scan, state, check_id, who.username)
    with state.lock:
        state.running = {k: f for k, f in state.running.items() if not f.done()}
        state.running[check_id] = future
    if wait:
        # a failed scan is recorded as incomplete and the record says why
        with contextlib.suppress(Exception):
            future.result()
        response.status_code = status.HTTP_200_OK
        return service.get(check_id, actor=who.username)
    response.headers["Location"] = f"/api/checks/{check_id}"
    return CheckStarted(
        id=check_id,
        state="started",
        href=f"/api/checks/{check_id}",
        events=f"/api/checks/{check_id}/events",
    )


@router.get("/checks", response_model=CheckList)
def list_checks(
    state: State,
    who: Annotated[Principal, Depends(require(P.CHECK_READ))],
    check_state: Annotated[
        Literal["started", "complete", "incomplete"] | None, Query(alias="state")
    ] = None,
    verdict: Literal["match", "possible_match", "no_match"] | None = None,
    marked: bool | None = None,
    purpose: str | None = None,
    officer: str | None = None,
    station_id: str | None = None,
    identifier: Annotated[str | None, Query(max_length=64)] = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> CheckList:
    """Checks, newest first, filtered; the consultation is audited."""
    query = CheckQuery(
        state=check_state,
        verdict=verdict,
        marked=marked,
        purpose=purpose,
        officer=officer,
        station_id=station_id,
        identifier=identifier,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
    )
    return state.service().list_checks(query, who.username)


@router.get("/checks/{check_id}", response_model=CheckRecord)
def get_check(
    check_id: str, state: State, who: Annotated[Principal, Depends(require(P.CHECK_READ))]
) -> CheckRecord:
    """One check record: identifiers, marks, matches, images, conditions, earlier checks.

    Reading a finished record is a consultation and is audited; polling a check that is
    still running is not (there is nothing recorded yet to consult).
    """
    return state.service().get(check_id, actor=who.username, with_outcomes=True)


@router.get("/checks/{check_id}/events")
async def check_events(
    check_id: str,
    request: Request,
    state: State,
    who: Annotated[Principal, Depends(require(P.CHECK_READ))],
) -> StreamingResponse:
    """Server-sent events: the check's state until it is complete or incomplete."""

    def current() -> dict[str, Any]:
        with state.ctx.db.session() as s:
            row = s.get(Check, check_id)
            if row is None:
                raise NotFound(f"no check with id {check_id}")
            return {
                "id": row.id,
                "state": row.state,
                "steps": state.service().steps_of(check_id),
                "verdict": row.verdict,
                "marked": row.marked,
                "error": row.error,
            }

    first = await run_in_threadpool(current)

    async def stream() -> AsyncIterator[str]:
        doc = first
        last = None
        for _ in range(1200):  # at most about 2 minutes
            if doc != last:
                yield f"event: state\ndata: {json.dumps(doc)}\n\n"
                last = doc
            if doc["state"] != "started" or await request.is_disconnected():
                break
            await asyncio.sleep(0.1)
            doc = await run_in_threadpool(current)
        yield "event: end\ndata: {}\n\n"

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
    )


ImageRole = Literal["white", "uv", "dark", "uv_long"]


@router.get(
    "/checks/{check_id}/images/{role}",
    responses={200: {"content": {"image/png": {}}}},
    response_class=Response,
)
def check_image(
    check_id: str,
    role: ImageRole,
    state: State,
    who: Annotated[Principal, Depends(require(P.CHECK_READ))],
    overlay: bool = False,
) -> Response:
    """A stored frame (PNG); ``overlay=true`` outlines marks and codes found on it."""
    record = state.service().get(check_id, audit_read=False)
    image = next((i for i in record.images if i.role == role), None)
    if image is None:
        raise NotFound(f"check {check_id} has no {role} image")
    data = state.ctx.images.read_bytes(image.sha256)
    headers = {"X-Content-SHA256": image.sha256, "Cache-Control": "no-store"}
    if overlay:
        data = overlay_png(data, record, "uv" if role.startswith("uv") else "white")
        headers.pop("X-Content-SHA256")
    return Response(data, media_type="image/png", headers=headers)


@router.get(
    "/checks/{check_id}/evidence",
    responses={200: {"content": {"application/zip": {}}}},
    response_class=Response,
)
def evidence_bundle(
    check_id: str,
    state: State,
    who: Annotated[Principal, Depends(require(P.EVIDENCE_EXPORT))],
    recipient: Annotated[
        str, Query(min_length=1, max_length=100, description="who the bundle is disclosed to")
    ],
) -> Response:
    """Zip of the record, images, audit entries and hashes; logged as a disclosure."""
    recipient = checked_recipient(recipient)
    data = build_bundle(
        state.service(),
        state.ctx.images,
        check_id,
        who.username,
        recipient,
        state.ctx.station_key,
    )
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="check-{check_id}.zip"'},
    )


@router.post(
    "/checks/{check_id}/outcomes",
    status_code=status.HTTP_201_CREATED,
    response_model=OutcomeRecord,
    responses={409: {"description": "contradicts an outcome already recorded"}},
)
def add_outcome(
    check_id: str,
    outcome: OutcomeIn,
    state: State,
    who: Annotated[Principal, Depends(require(P.OUTCOME_WRITE))],
) -> OutcomeRecord | JSONResponse:
    """Record what happened later (owner told, returned, kept as evidence, match confirmed).

    One that contradicts what is already recorded is refused (409, with the reason) unless
    ``confirm`` is true."""
    try:
        return record_outcome(state.ctx.db, check_id, outcome, who.username)
    except OutcomeContradicts as exc:
        return JSONResponse(
            {"detail": str(exc), "fix": exc.fix, "contradiction": True}, status_code=409
        )


@router.get("/checks/{check_id}/outcomes")
def list_outcomes(
    check_id: str, state: State, who: Annotated[Principal, Depends(require(P.CHECK_READ))]
) -> list[OutcomeRecord]:
    state.service().get(check_id, audit_read=False)
    return outcomes_for(state.ctx.db, check_id)


@router.get("/checks/{check_id}/owners", response_model=list[OwnerContact])
def check_owners(
    check_id: str, state: State, who: Annotated[Principal, Depends(require(P.OWNER_READ))]
) -> list[OwnerContact]:
    """Owner personal data for the register entries a check matched; every access audited."""
    return state.service().owners(check_id, who.username)
