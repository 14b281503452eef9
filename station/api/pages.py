"""Server-rendered pages: desk, check record, batches, outcomes, engineer, dealer."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from station.api.deps import State, optional_principal
from station.api.templating import templates
from station.auth.roles import GRANTS, HOME, Permission
from station.auth.users import Principal
from station.checks.outcomes import summary
from station.checks.service import PURPOSES, CheckQuery

router = APIRouter(include_in_schema=False)
P = Permission


def _page(
    request: Request,
    who: Principal | None,
    permission: Permission,
    template: str,
    context: dict[str, Any] | None = None,
) -> Response:
    if who is None:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    grants = GRANTS.get(who.role, frozenset())  # type: ignore[call-overload]
    if permission not in grants:
        return templates.TemplateResponse(
            request,
            "forbidden.html",
            {"user": who, "grants": grants, "home": HOME.get(who.role, "/")},  # type: ignore[call-overload]
            status_code=403,
        )
    return templates.TemplateResponse(
        request, template, {"user": who, "grants": {g.value for g in grants}, **(context or {})}
    )


Who = Annotated[Principal | None, Depends(optional_principal)]


@router.get("/", response_class=HTMLResponse)
def desk(request: Request, state: State, who: Who) -> Response:
    if who is not None and who.role == "dealer":
        return RedirectResponse("/dealer", status_code=303)
    doc = None
    if who is not None:
        last = state.service().last_check_of(who.username)
        doc = last.document() if last else None
    return _page(
        request,
        who,
        P.CHECK_RUN,
        "desk.html",
        {"check": doc, "sim": state.ctx.settings.sim, "purposes": PURPOSES},
    )


@router.get("/checks", response_class=HTMLResponse)
def checks_page(
    request: Request,
    state: State,
    who: Who,
    verdict: str | None = None,
    marked: bool | None = None,
    check_state: Annotated[str | None, Query(alias="state")] = None,
) -> Response:
    rows: list[Any] = []
    if who is not None and P.CHECK_READ in GRANTS.get(who.role, frozenset()):  # type: ignore[call-overload]
        query = CheckQuery(
            state=check_state if check_state in ("started", "complete", "incomplete") else None,  # type: ignore[arg-type]
            verdict=verdict if verdict in ("match", "possible_match", "no_match") else None,  # type: ignore[arg-type]
            marked=marked,
            limit=100,
        )
        rows = [c.model_dump() for c in state.service().list_checks(query, who.username).checks]
    return _page(request, who, P.CHECK_READ, "checks.html", {"checks": rows})


@router.get("/checks/{check_id}", response_class=HTMLResponse)
def check_page(check_id: str, request: Request, state: State, who: Who) -> Response:
    doc = None
    if who is not None and P.CHECK_READ in GRANTS.get(who.role, frozenset()):  # type: ignore[call-overload]
        doc = state.service().get(check_id, actor=who.username, with_outcomes=True).document()
    return _page(request, who, P.CHECK_READ, "check.html", {"check": doc})


@router.get("/batches", response_class=HTMLResponse)
def batches_page(request: Request, state: State, who: Who) -> Response:
    batches = state.batches.recent(20) if who is not None else []
    return _page(request, who, P.BATCH_READ, "batches.html", {"batches": batches})


@router.get("/outcomes", response_class=HTMLResponse)
def outcomes_page(
    request: Request,
    state: State,
    who: Who,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> Response:
    until = until or dt.datetime.now(dt.UTC).date()
    since = since or until - dt.timedelta(days=13)
    figures = summary(state.ctx.db, since, until) if who is not None else None
    peak = 1
    if figures:
        peak = max([1] + [max(d["booked_in"], d["checked"]) for d in figures["days"]])
    return _page(
        request,
        who,
        P.OUTCOME_READ,
        "outcomes.html",
        {"figures": figures, "peak": peak, "station_id": state.ctx.settings.station_id},
    )


@router.get("/engineer", response_class=HTMLResponse)
def engineer_page(request: Request, state: State, who: Who) -> Response:
    from station.api.station_routes import device_health, lamp_usage

    context: dict[str, Any] = {}
    if who is not None:
        context = {
            "devices": device_health(state),
            "usage": lamp_usage(state),
            "self_test": state.ctx.last_self_test,
            "settings": state.ctx.settings.devices.model_dump(),
            "station_id": state.ctx.settings.station_id,
        }
    return _page(request, who, P.HEALTH_READ, "engineer.html", context)


@router.get("/dealer", response_class=HTMLResponse)
def dealer_page(request: Request, who: Who) -> Response:
    return _page(request, who, P.DEALER_CHECK, "dealer.html")


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    state: State,
    who: Who,
    action: str | None = None,
    actor: str | None = None,
) -> Response:
    from station.records import audit

    context: dict[str, Any] = {"action": action, "actor": actor}
    if who is not None and P.AUDIT_READ in GRANTS.get(who.role, frozenset()):  # type: ignore[call-overload]
        with state.ctx.db.session() as s:
            context["chain"] = audit.verify(s).as_dict()
            context["entries"] = [
                e.model_dump()
                for e in audit.list_entries(
                    s, action=action or None, actor=actor or None, limit=200
                )
            ]
    return _page(request, who, P.AUDIT_READ, "audit.html", context)
