"""Shared helper: stream a raw request body to a file under the size limit."""

from __future__ import annotations

import uuid
from pathlib import Path

from fastapi import Request

from station.api.deps import AppState
from station.batches.uploads import save_stream
from station.errors import UploadTooLarge


async def receive_upload(request: Request, state: AppState, suffix: str = "") -> Path:
    """The body as a temporary file in the data dir (caller deletes it)."""
    limit = state.ctx.settings.api.max_upload_mb * 1024 * 1024
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise UploadTooLarge(
            f"upload of {int(declared)} bytes is over the limit of "
            f"{state.ctx.settings.api.max_upload_mb} MB"
        )
    dest = state.ctx.settings.data_dir / "uploads" / "incoming" / (uuid.uuid4().hex + suffix)
    await save_stream(request.stream(), dest, limit)
    return dest
