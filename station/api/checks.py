"""Checks: start one (202 + id), poll or stream it, list them, images, evidence, outcomes."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import cv2
import numpy as np
from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from station.api.deps import State, require
from station.auth.roles import Permission
from station.auth.users import Principal
from station.checks.outcomes import OutcomeIn, outcomes_for, record_outcome
from station.checks.service import CheckRequest
from station.db.models import Check, CheckIdentifier, Owner, RegisterEntry
from station.errors import InputError, NotFound
from station.records import audit
from station.records.evidence import build_bundle

router = APIRouter(prefix="/api", tags=["checks"])
P = Permission


class CheckStarted(BaseModel):
    id: str
    state: str
    href: str
    events: str


class CheckSummary(BaseModel):
    id: str
    state: str
    purpose: str
    officer: str
    station_id: str
    mode: str
    started_at: str | None
    completed_at: str | None
    verdict: str | None
    marked: bool
    identifiers: list[str]


class CheckList(BaseModel):
    total_returned: int
    checks: list[CheckSummary]


def _run_scan(state: State, check_id: str, actor: str) -> None:
    service = state.service()
    state.metrics.running.inc()
    t0 = time.perf_counter()
    try:
        service.run_scan(check_id, actor)
        doc = service.get(check_id, audit_read=False)
        state.metrics.checks.labels("complete", doc["verdict"] or "no_match").inc()
        state.metrics.scan_seconds.observe(time.perf_counter() - t0)
    except Exception:
        state.metrics.checks.labels("incomplete", "-").inc()
        raise
    finally:
        state.metrics.running.dec()


@router.post("/checks", status_code=status.HTTP_202_ACCEPTED, response_model=None)
def start_check(
    request: CheckRequest,
    response: Response,
    state: State,
    who: Annotated[Principal, Depends(require(P.CHECK_RUN))],
    wait: Annotated[bool, Query(description="block until the check is finished")] = False,
) -> CheckStarted | dict[str, Any]:
    """Start a scan of the item on the tray (202; poll ``href`` or stream ``events``).

    With ``identifiers`` it is a manual check, matched at once (201 with the record). The
    officer recorded is always the authenticated user.
    """
    request = request.model_copy(update={"officer": who.username})
    service = state.service()
    if request.identifiers:
        response.status_code = status.HTTP_201_CREATED
        doc = service.manual(request)
        state.metrics.checks.labels(doc["state"], doc["verdict"] or "-").inc()
        return doc
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
    offset: Annotated[int, Query(ge=0)] = 0,
) -> CheckList:
    """Checks, newest first, filtered; the consultation is audited."""
    q = select(Check).order_by(Check.started_at.desc())
    filters: dict[str, Any] = {}
    for name, column, value in (
        ("state", Check.state, check_state),
        ("verdict", Check.verdict, verdict),
        ("marked", Check.marked, marked),
        ("purpose", Check.purpose, purpose),
        ("officer", Check.officer, officer),
        ("station_id", Check.station_id, station_id),
    ):
        if value is not None:
            q = q.where(column == value)
            filters[name] = value
    if identifier:
        from station.identifiers import compact

        value = compact(identifier).upper()
        q = q.where(
            Check.id.in_(select(CheckIdentifier.check_id).where(CheckIdentifier.value == value))
        )
        filters["identifier"] = value
    if since:
        q = q.where(Check.started_at >= since)
        filters["since"] = since.isoformat()
    if until:
        q = q.where(Check.started_at < until)
        filters["until"] = until.isoformat()
    with state.ctx.db.writer() as s:
        rows = s.execute(q.limit(limit).offset(offset)).scalars().all()
        idents: dict[str, list[str]] = {r.id: [] for r in rows}
        if rows:
            for cid, val in s.execute(
                select(CheckIdentifier.check_id, CheckIdentifier.value).where(
                    CheckIdentifier.check_id.in_(list(idents))
                )
            ):
                idents[cid].append(val)
        audit.append(s, who.username, "consultation", "check_list", "-", filters)
        out = []
        for r in rows:
            out.append(
                CheckSummary(
                    id=r.id,
                    state=r.state,
                    purpose=r.purpose,
                    officer=r.officer,
                    station_id=r.station_id,
                    mode=r.mode,
                    started_at=_iso(r.started_at),
                    completed_at=_iso(r.completed_at),
                    verdict=r.verdict,
                    marked=r.marked,
                    identifiers=idents[r.id],
                )
            )
    return CheckList(total_returned=len(out), checks=out)


@router.get("/checks/{check_id}")
def get_check(
    check_id: str, state: State, who: Annotated[Principal, Depends(require(P.CHECK_READ))]
) -> dict[str, Any]:
    """One check record: identifiers, marks, matches, images, conditions, earlier checks.

    Reading a finished record is a consultation and is audited; polling a check that is
    still running is not (there is nothing recorded yet to consult).
    """
    doc = state.service().get(check_id, audit_read=False)
    if doc["state"] != "started":
        with state.ctx.db.writer() as s:
            audit.append(s, who.username, "consultation", "check", check_id)
    doc["outcomes"] = outcomes_for(state.ctx.db, check_id)
    return describe_entries(state, doc)


def describe_entries(state: State, doc: dict[str, Any]) -> dict[str, Any]:
    """Add what the register says about each candidate's item (category, make, force) so the
    officer can compare it with the item in hand. No owner data: that lives elsewhere."""
    ids = {c["entry_id"] for m in doc.get("matches", []) for c in m.get("candidates", [])}
    if not ids:
        return doc
    with state.ctx.db.session() as s:
        rows = s.execute(
            select(
                RegisterEntry.id,
                RegisterEntry.category,
                RegisterEntry.brand,
                RegisterEntry.model,
                RegisterEntry.force,
                RegisterEntry.reported_on,
            ).where(RegisterEntry.id.in_(ids))
        ).all()
    entries = {
        r[0]: {
            "category": r[1],
            "brand": r[2],
            "model": r[3],
            "force": r[4],
            "reported_on": r[5].isoformat() if r[5] else None,
        }
        for r in rows
    }
    for m in doc.get("matches", []):
        for c in m.get("candidates", []):
            c["entry"] = entries.get(c["entry_id"])
    return doc


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
                "verdict": row.verdict,
                "marked": row.marked,
                "error": row.error,
            }

    first = await run_in_threadpool(current)

    async def stream() -> AsyncIterator[str]:
        doc = first
        last = None
        for _ in range(600):  # at most about 2 minutes
            if doc != last:
                yield f"event: state\ndata: {json.dumps(doc)}\n\n"
                last = doc
            if doc["state"] != "started" or await request.is_disconnected():
                break
            await asyncio.sleep(0.2)
            doc = await run_in_threadpool(current)
        yield "event: end\ndata: {}\n\n"

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
    )


OVERLAY_MAX_WIDTH = 960
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
    doc = state.service().get(check_id, audit_read=False)
    image = next((i for i in doc["images"] if i["role"] == role), None)
    if image is None:
        raise NotFound(f"check {check_id} has no {role} image")
    data = state.ctx.images.read_bytes(image["sha256"])
    headers = {"X-Content-SHA256": image["sha256"], "Cache-Control": "private, max-age=3600"}
    if overlay:
        data = draw_overlay(data, doc, role)
        headers.pop("X-Content-SHA256")
    return Response(data, media_type="image/png", headers=headers)


def draw_overlay(png: bytes, doc: dict[str, Any], role: str) -> bytes:
    """Boxes for fluorescent marks (yellow/magenta) and identifiers (cyan) on the frame."""
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise InputError("stored image could not be decoded")
    scale = max(1, img.shape[1] // 640)
    colours = {
        "forensic_liquid": (0, 230, 255),
        "uv_pen": (255, 0, 255),
        "brightener": (200, 200, 200),
        "unknown": (0, 140, 255),
    }
    for m in doc.get("marks", []):
        x, y, w, h = m["bbox"]
        colour = colours.get(m.get("class", "unknown"), (0, 140, 255))
        cv2.rectangle(img, (x, y), (x + w, y + h), colour, 2 * scale)
        cv2.putText(
            img,
            f"{m.get('class')} {m.get('score', 0):.2f}",
            (x, max(12, y - 4)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5 * scale,
            colour,
            scale,
        )
    for i in doc.get("identifiers", []):
        if i.get("frame", "white") != ("uv" if role.startswith("uv") else "white"):
            continue
        x, y, w, h = i["bbox"]
        if w and h:
            cv2.rectangle(img, (x, y), (x + w, y + h), (255, 255, 0), 2 * scale)
            cv2.putText(
                img,
                i["value"],
                (x, y + h + 14 * scale),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.5 * scale,
                (255, 255, 0),
                scale,
            )
    if img.shape[1] > OVERLAY_MAX_WIDTH:  # the desk shows it at card width; keep it light
        f = OVERLAY_MAX_WIDTH / img.shape[1]
        img = cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise InputError("overlay could not be encoded")
    return buf.tobytes()


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
    data = build_bundle(state.service(), state.ctx.images, check_id, who.username, recipient)
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="check-{check_id}.zip"'},
    )


@router.post("/checks/{check_id}/outcomes", status_code=status.HTTP_201_CREATED)
def add_outcome(
    check_id: str,
    outcome: OutcomeIn,
    state: State,
    who: Annotated[Principal, Depends(require(P.OUTCOME_WRITE))],
) -> dict[str, Any]:
    """Record what happened later (owner notified, returned, retained as evidence)."""
    return record_outcome(state.ctx.db, check_id, outcome, who.username)


@router.get("/checks/{check_id}/outcomes")
def list_outcomes(
    check_id: str, state: State, who: Annotated[Principal, Depends(require(P.CHECK_READ))]
) -> list[dict[str, Any]]:
    state.service().get(check_id, audit_read=False)
    return outcomes_for(state.ctx.db, check_id)


class OwnerOut(BaseModel):
    owner_ref: str
    name: str | None
    address: str | None
    postcode: str | None
    phone: str | None
    email: str | None
    entries: list[str] = Field(description="register identifiers this owner is recorded for")


@router.get("/checks/{check_id}/owners", response_model=list[OwnerOut])
def check_owners(
    check_id: str, state: State, who: Annotated[Principal, Depends(require(P.OWNER_READ))]
) -> list[OwnerOut]:
    """Owner personal data for the register entries a check matched; every access audited."""
    doc = state.service().get(check_id, audit_read=False)
    entry_ids = {
        c["entry_id"]
        for m in doc["matches"]
        for c in m.get("candidates", [])
        if m.get("verdict") in ("match", "possible_match")
    }
    out: dict[str, OwnerOut] = {}
    with state.ctx.db.writer() as s:
        if entry_ids:
            rows = s.execute(
                select(RegisterEntry.identifier, Owner)
                .join(Owner, Owner.owner_ref == RegisterEntry.owner_ref)
                .where(RegisterEntry.id.in_(entry_ids))
            ).all()
            for ident, owner in rows:
                o = out.setdefault(
                    owner.owner_ref,
                    OwnerOut(
                        owner_ref=owner.owner_ref,
                        name=owner.name,
                        address=owner.address,
                        postcode=owner.postcode,
                        phone=owner.phone,
                        email=owner.email,
                        entries=[],
                    ),
                )
                o.entries.append(ident)
        for ref in out:
            audit.append(s, who.username, "consultation", "owner", ref, {"check": check_id})
        if not out:
            audit.append(
                s, who.username, "consultation", "owner", "-", {"check": check_id, "found": 0}
            )
    return list(out.values())


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.isoformat()
