"""Batches: upload a CSV/XLSX of serials or a zip of captures, follow progress, get the report."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, StreamingResponse

from station.api.deps import State, require
from station.api.report_view import render_batch_report
from station.api.uploads_route import receive_upload
from station.auth.roles import Permission
from station.auth.users import Principal
from station.checks.service import Purpose
from station.records import audit

router = APIRouter(prefix="/api", tags=["batches"])
P = Permission


@router.post("/batches", status_code=status.HTTP_202_ACCEPTED)
async def upload_batch(
    request: Request,
    state: State,
    who: Annotated[Principal, Depends(require(P.BATCH_RUN))],
    filename: Annotated[
        str,
        Query(
            min_length=1,
            max_length=300,
            description="name of the uploaded file (.csv, .xlsx, .zip)",
        ),
    ],
    purpose: Purpose = "property_office",
) -> dict[str, Any]:
    """Send the file as the raw request body. Rejected files store nothing (422 lists rows)."""
    path = await receive_upload(request, state, Path(filename).suffix.lower()[:8])
    try:
        batch_id = await run_in_threadpool(
            state.batches.create, path, Path(filename).name, who.username, purpose
        )
    finally:
        path.unlink(missing_ok=True)
    state.submit_batch(batch_id)
    doc = await run_in_threadpool(state.batches.get, batch_id)
    doc["events"] = f"/api/batches/{batch_id}/events"
    return doc


@router.get("/batches")
def list_batches(
    state: State, who: Annotated[Principal, Depends(require(P.BATCH_READ))]
) -> list[dict[str, Any]]:
    return state.batches.recent()


@router.get("/batches/{batch_id}")
def get_batch(
    batch_id: str, state: State, who: Annotated[Principal, Depends(require(P.BATCH_READ))]
) -> dict[str, Any]:
    doc = state.batches.get(batch_id)
    finished = doc["state"] == "complete"
    report = state.batches.report(batch_id) if finished else None
    doc["hits_detail"] = report.hits if report else []
    doc["unreadable"] = report.unreadable if report else []
    if report is not None:
        doc.update(report.summary())
    return doc


@router.get("/batches/{batch_id}/events")
async def batch_events(
    batch_id: str,
    request: Request,
    state: State,
    who: Annotated[Principal, Depends(require(P.BATCH_READ))],
) -> StreamingResponse:
    """Server-sent ``progress`` events (done, total, hits) until the batch ends."""
    first = await run_in_threadpool(state.batches.get, batch_id)

    async def stream() -> AsyncIterator[str]:
        doc = first
        last = None
        for _ in range(36000):
            view = {k: doc[k] for k in ("id", "state", "done", "total", "hits", "error")}
            if view != last:
                yield f"event: progress\ndata: {json.dumps(view)}\n\n"
                last = view
            if doc["state"] in ("complete", "failed") or await request.is_disconnected():
                break
            await asyncio.sleep(0.25)
            doc = await run_in_threadpool(state.batches.get, batch_id)
        yield "event: end\ndata: {}\n\n"

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
    )


def _audit_report(state: State, who: Principal, batch_id: str, form: str) -> None:
    with state.ctx.db.writer() as s:
        audit.append(s, who.username, "consultation", "batch", batch_id, {"report": form})


@router.get("/batches/{batch_id}/report.csv", response_class=StreamingResponse)
def batch_report_csv(
    batch_id: str, state: State, who: Annotated[Principal, Depends(require(P.BATCH_READ))]
) -> StreamingResponse:
    """Every hit: line, identifier, register entry, status, crime reference, edits assumed.

    Streamed a block of rows at a time; an unknown batch is a 404 before the first byte.
    """
    blocks = state.batches.iter_report_csv(batch_id)
    _audit_report(state, who, batch_id, "csv")
    return StreamingResponse(
        blocks,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="batch-{batch_id}-hits.csv"'},
    )


@router.get("/batches/{batch_id}/report.html", response_class=HTMLResponse)
def batch_report_html(
    batch_id: str,
    state: State,
    who: Annotated[Principal, Depends(require(P.BATCH_READ))],
) -> HTMLResponse:
    """The batch and every hit with the spreadsheet's own columns beside it."""
    report = state.batches.report(batch_id)
    _audit_report(state, who, batch_id, "html")
    return HTMLResponse(render_batch_report(report))
