"""Checks: start one (202 + id), poll it, or enter identifiers by hand."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import BaseModel

from station.api.deps import AppState, get_service, get_state
from station.checks import CheckRequest, CheckService

router = APIRouter(prefix="/api", tags=["checks"])


class CheckStarted(BaseModel):
    id: str
    state: str
    href: str


@router.post("/checks", status_code=status.HTTP_202_ACCEPTED, response_model=None)
def start_check(
    request: CheckRequest,
    response: Response,
    state: Annotated[AppState, Depends(get_state)],
    wait: Annotated[bool, Query(description="block until the check is finished")] = False,
) -> CheckStarted | dict[str, Any]:
    """Start a scan of the item on the tray; poll ``href`` for the result."""
    service = state.service()
    if request.identifiers:
        response.status_code = status.HTTP_201_CREATED
        return service.manual(request)
    check_id = service.start(request, mode="scan")
    future = state.workers.submit(service.run_scan, check_id, request.officer)
    with state.lock:
        state.running[check_id] = future
    if wait:
        # a failed scan is recorded as incomplete and the record says why
        with contextlib.suppress(Exception):
            future.result()
        response.status_code = status.HTTP_200_OK
        return service.get(check_id, actor=request.officer)
    response.headers["Location"] = f"/api/checks/{check_id}"
    return CheckStarted(id=check_id, state="started", href=f"/api/checks/{check_id}")


@router.get("/checks/{check_id}")
def get_check(
    check_id: str, service: Annotated[CheckService, Depends(get_service)]
) -> dict[str, Any]:
    """One check record: identifiers, marks, matches, images, conditions, earlier checks."""
    return service.get(check_id)
