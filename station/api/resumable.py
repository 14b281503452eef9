"""Resumable uploads for large batch files over poor links: create, send chunks at an offset,
ask how much arrived, then start a batch from the finished upload.

State lives on disk next to the data (``uploads/partial/<id>.part`` plus a small JSON
sidecar), so an upload survives a server restart as well as a dropped connection.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool

from station.api.deps import AppState, State, require
from station.auth.roles import Permission
from station.auth.users import Principal
from station.checks.service import Purpose
from station.errors import InputError, NotFound, UploadTooLarge

router = APIRouter(prefix="/api/uploads", tags=["batches"])
_ID = re.compile(r"^[0-9a-f]{32}$")


def _paths(state: AppState, upload_id: str) -> tuple[Path, Path]:
    if not _ID.match(upload_id):
        raise NotFound(f"no upload {upload_id!r}")
    root = state.ctx.settings.data_dir / "uploads" / "partial"
    return root / f"{upload_id}.part", root / f"{upload_id}.json"


def _load(state: AppState, upload_id: str, who: Principal) -> tuple[Path, dict[str, Any]]:
    part, meta_path = _paths(state, upload_id)
    if not meta_path.exists():
        raise NotFound(f"no upload {upload_id!r}")
    meta: dict[str, Any] = json.loads(meta_path.read_text())
    if meta["owner"] != who.username:
        raise NotFound(f"no upload {upload_id!r}")  # others' uploads do not exist for you
    return part, meta


def _doc(upload_id: str, part: Path, meta: dict[str, Any]) -> dict[str, Any]:
    received = part.stat().st_size if part.exists() else 0
    return {
        "id": upload_id,
        "filename": meta["filename"],
        "size": meta["size"],
        "received": received,
        "complete": received == meta["size"],
        "href": f"/api/uploads/{upload_id}",
    }


@router.post("", status_code=status.HTTP_201_CREATED)
def create_upload(
    state: State,
    who: Annotated[Principal, Depends(require(Permission.BATCH_RUN))],
    filename: Annotated[str, Query(min_length=1, max_length=300)],
    size: Annotated[int, Query(ge=1, description="total size in bytes")],
) -> dict[str, Any]:
    """Announce a file; then PUT its bytes in chunks at ``offset``."""
    limit = state.ctx.settings.api.max_upload_mb * 1024 * 1024
    if size > limit:
        raise UploadTooLarge(f"{size} bytes is over the limit of {limit} bytes")
    upload_id = uuid.uuid4().hex
    part, meta_path = _paths(state, upload_id)
    part.parent.mkdir(parents=True, exist_ok=True)
    meta = {"filename": Path(filename).name, "size": size, "owner": who.username}
    meta_path.write_text(json.dumps(meta))
    part.touch()
    return _doc(upload_id, part, meta)


@router.get("/{upload_id}")
def upload_status(
    upload_id: str,
    state: State,
    who: Annotated[Principal, Depends(require(Permission.BATCH_RUN))],
) -> dict[str, Any]:
    """How many bytes arrived: resume from ``received``."""
    part, meta = _load(state, upload_id, who)
    return _doc(upload_id, part, meta)


@router.put("/{upload_id}")
async def upload_chunk(
    upload_id: str,
    request: Request,
    state: State,
    who: Annotated[Principal, Depends(require(Permission.BATCH_RUN))],
    offset: Annotated[int, Query(ge=0)],
) -> dict[str, Any]:
    """Append the body at ``offset`` (must equal the bytes received so far, else 409)."""
    part, meta = await run_in_threadpool(_load, state, upload_id, who)
    received = part.stat().st_size
    if offset != received:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"offset {offset} does not continue the upload: {received} bytes received so far",
        )
    room = meta["size"] - received
    written = 0
    with open(part, "ab") as fh:
        try:
            async for chunk in request.stream():
                written += len(chunk)
                if written > room:
                    raise InputError(f"chunk runs past the announced size of {meta['size']} bytes")
                fh.write(chunk)
        except BaseException:
            fh.flush()
            fh.truncate(received)  # a failed chunk leaves nothing half-appended
            raise
        fh.flush()
        os.fsync(fh.fileno())
    return _doc(upload_id, part, meta)


@router.post("/{upload_id}/batch", status_code=status.HTTP_202_ACCEPTED)
def batch_from_upload(
    upload_id: str,
    state: State,
    who: Annotated[Principal, Depends(require(Permission.BATCH_RUN))],
    purpose: Purpose = "property_office",
) -> dict[str, Any]:
    """Start a batch from a complete upload (validated like a direct upload)."""
    part, meta = _load(state, upload_id, who)
    doc = _doc(upload_id, part, meta)
    if not doc["complete"]:
        raise InputError(f"upload has {doc['received']} of {doc['size']} bytes; send the rest")
    try:
        batch_id = state.batches.create(part, meta["filename"], who.username, purpose)
    finally:
        part.unlink(missing_ok=True)
        _paths(state, upload_id)[1].unlink(missing_ok=True)
    state.submit_batch(batch_id)
    result = state.batches.get(batch_id)
    result["events"] = f"/api/batches/{batch_id}/events"
    return result
