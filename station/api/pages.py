"""Server-rendered pages for the desk."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from station.api.deps import AppState, get_state
from station.db.models import Check

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))


@router.get("/", response_class=HTMLResponse)
def desk(request: Request, state: Annotated[AppState, Depends(get_state)]) -> Any:
    with state.ctx.db.session() as s:
        last = s.execute(select(Check.id).order_by(Check.started_at.desc()).limit(1)).scalar()
    doc = state.service().get(last, audit_read=False) if last else None
    return templates.TemplateResponse(
        request, "desk.html", {"check": doc, "sim": state.ctx.settings.sim}
    )
