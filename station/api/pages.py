"""Server-rendered pages: desk, result card, checks, batches, outcomes, audit, engineer, dealer."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from sqlalchemy import select

from station.api.deps import AppState, State, optional_principal
from station.api.templating import templates
from station.auth.roles import GRANTS, HOME, Permission
from station.auth.users import Principal
from station.checks.outcomes import summary
from station.checks.presentation import PURPOSE_WORDS, ResultCard, result_card, when_words
from station.checks.service import PURPOSES, CheckQuery
from station.domain import CheckRecord
from station.errors import InputError

router = APIRouter(include_in_schema=False)
P = Permission
PAGE_SIZE = 25
AUDIT_PAGE = 50
VERDICT_FILTERS = {
    "match": "on register",
    "possible_match": "possible match",
    "no_match": "no match",
}
AUDIT_ACTIONS = ("collection", "consultation", "alteration", "disclosure", "erasure", "system")


def _grants(who: Principal | None) -> frozenset[Permission]:
    if who is None:
        return frozenset()
    return GRANTS.get(who.role, frozenset())  # type: ignore[call-overload,no-any-return]


def _page(
    request: Request,
    who: Principal | None,
    permission: Permission,
    template: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    if who is None:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    grants = _grants(who)
    state: AppState = request.app.state.station
    common = {
        "user": who,
        "sim": state.ctx.settings.sim,
        "idle_logout_s": state.ctx.settings.desk.idle_logout_s,
    }
    if permission not in grants:
        return templates.TemplateResponse(
            request,
            "forbidden.html",
            {**common, "grants": {g.value for g in grants}, "home": HOME.get(who.role, "/")},  # type: ignore[call-overload]
            status_code=403,
        )
    return templates.TemplateResponse(
        request,
        template,
        {**common, "grants": {g.value for g in grants}, **(context or {})},
        status_code=status_code,
    )


Who = Annotated[Principal | None, Depends(optional_principal)]


def card_of(state: AppState, record: CheckRecord) -> ResultCard:
    """The result card of ``record`` worded by this station's settings."""
    settings = state.ctx.settings
    return result_card(record, settings.desk, settings.vision.mark_score_threshold)


@router.get("/", response_class=HTMLResponse)
def desk(request: Request, state: State, who: Who) -> Response:
    if who is not None and who.role == "dealer":
        return RedirectResponse("/dealer", status_code=303)
    card = None
    if who is not None and P.CHECK_RUN in _grants(who):
        last = state.service().last_check_of(who.username)
        if last is not None:
            record = state.service().get(last.id, audit_read=False, with_outcomes=True)
            card = card_of(state, record)
    purposes = [(p, PURPOSE_WORDS.get(p, p)) for p in PURPOSES]
    # the boot self-test (or a later one): a failed part shows on the desk at once
    self_test = state.ctx.last_self_test if who is not None else None
    return _page(
        request,
        who,
        P.CHECK_RUN,
        "desk.html",
        {"card": card, "purposes": purposes, "self_test": self_test},
    )


@router.get("/checks", response_class=HTMLResponse)
def checks_page(
    request: Request,
    state: State,
    who: Who,
    identifier: Annotated[str, Query(max_length=64)] = "",
    verdict: str = "",
    marked: str = "",
    check_state: Annotated[str, Query(alias="state")] = "",
    since: str = "",
    until: str = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    """The checks list: search by any identifier form, date, verdict; 25 a page."""
    context: dict[str, Any] = {
        "identifier": identifier,
        "verdict": verdict if verdict in VERDICT_FILTERS else "",
        "marked": marked == "true",
        "state": check_state if check_state in ("complete", "incomplete") else "",
        "since": since,
        "until": until,
        "page": page,
        "verdicts": VERDICT_FILTERS,
        "rows": [],
        "more": False,
        "error": "",
    }
    if who is not None and P.CHECK_READ in _grants(who):
        try:
            start = dt.date.fromisoformat(since) if since else None
            end = dt.date.fromisoformat(until) if until else None
        except ValueError:
            start = end = None
            context["error"] = "Dates are written as year-month-day, e.g. 2026-05-04."
        if start and end and end < start:
            context["error"] = f"The 'to' date ({end}) is before the 'from' date ({start})."
        if not context["error"]:
            query = CheckQuery(
                state=context["state"] or None,
                verdict=context["verdict"] or None,
                marked=True if context["marked"] else None,
                identifier=identifier.strip() or None,
                since=dt.datetime.combine(start, dt.time.min, tzinfo=dt.UTC) if start else None,
                until=dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
                if end
                else None,
                limit=PAGE_SIZE,
                offset=(page - 1) * PAGE_SIZE,
            )
            found = state.service().list_checks(query, who.username)
            context["more"] = found.more
            context["rows"] = [
                {
                    "id": c.id,
                    "when": when_words(c.started_at),
                    "result": (c.verdict or c.state),
                    "result_words": VERDICT_FILTERS.get(c.verdict or "", "")
                    or ("incomplete" if c.state == "incomplete" else c.state),
                    "marked": c.marked,
                    "identifiers": c.identifiers,
                    "purpose": PURPOSE_WORDS.get(c.purpose, c.purpose),
                    "officer": c.officer,
                    "station_id": c.station_id,
                }
                for c in found.checks
            ]
    args = {
        k: v
        for k, v in (
            ("identifier", identifier),
            ("verdict", context["verdict"]),
            ("marked", "true" if context["marked"] else ""),
            ("state", context["state"]),
            ("since", since),
            ("until", until),
        )
        if v
    }
    context["page_args"] = args
    return _page(request, who, P.CHECK_READ, "checks.html", context)


@router.get("/checks/{check_id}", response_class=HTMLResponse)
def check_page(check_id: str, request: Request, state: State, who: Who) -> Response:
    card = None
    if who is not None and P.CHECK_READ in _grants(who):
        record = state.service().get(check_id, actor=who.username, with_outcomes=True)
        card = card_of(state, record)
    return _page(request, who, P.CHECK_READ, "check.html", {"card": card})


@router.get("/checks/{check_id}/card", response_class=HTMLResponse)
def check_card(check_id: str, request: Request, state: State, who: Who) -> Response:
    """The result card alone (HTML), which the desk puts in place when a check ends."""
    if who is None or P.CHECK_READ not in _grants(who):
        return Response("not allowed", status_code=403 if who else 401)
    record = state.service().get(check_id, actor=who.username, with_outcomes=True)
    return templates.TemplateResponse(
        request,
        "_card.html",
        {"card": card_of(state, record), "grants": {g.value for g in _grants(who)}},
    )


@router.get("/batches", response_class=HTMLResponse)
def batches_page(request: Request, state: State, who: Who) -> Response:
    batches = state.batches.recent(20) if who is not None else []
    for b in batches:
        b["when"] = when_words(b.get("created_at"))
    return _page(request, who, P.BATCH_READ, "batches.html", {"batches": batches})


def known_stations(state: AppState) -> list[str]:
    """Stations with checks or bookings here, and this one: bookings name one of these."""
    from station.db.models import Check
    from station.db.service_models import Booking

    with state.ctx.db.session() as s:
        names = set(s.execute(select(Check.station_id).distinct()).scalars())
        names |= set(s.execute(select(Booking.station_id).distinct()).scalars())
    names.add(state.ctx.settings.station_id)
    return sorted(names)


@router.get("/outcomes", response_class=HTMLResponse)
def outcomes_page(
    request: Request,
    state: State,
    who: Who,
    since: str = "",
    until: str = "",
) -> Response:
    today = dt.datetime.now(dt.UTC).date()
    error = ""
    try:
        end = dt.date.fromisoformat(until) if until else today
        start = dt.date.fromisoformat(since) if since else end - dt.timedelta(days=13)
    except ValueError:
        end, start = today, today - dt.timedelta(days=13)
        error = "Dates are written as year-month-day, e.g. 2026-05-04. Showing the last 14 days."
    figures = None
    if who is not None and P.OUTCOME_READ in _grants(who):
        try:
            figures = summary(state.ctx.db, start, end)
        except InputError as exc:
            error = f"{str(exc).capitalize()}. Showing the 14 days up to the 'to' date instead."
            start = end - dt.timedelta(days=13)
            figures = summary(state.ctx.db, start, end)
    peak = 1
    if figures:
        peak = max([1] + [max(d["booked_in"], d["checked"]) for d in figures["days"]])
    return _page(
        request,
        who,
        P.OUTCOME_READ,
        "outcomes.html",
        {
            "figures": figures,
            "peak": peak,
            "error": error,
            "station_id": state.ctx.settings.station_id,
            "stations": known_stations(state) if who is not None else [],
        },
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


def detail_words(detail: dict[str, Any]) -> list[str]:
    """An audit entry's detail as "name: value" lines instead of raw JSON."""
    out = []
    for key, value in detail.items():
        if isinstance(value, list):
            text = ", ".join(str(v) for v in value) or "none"
        elif isinstance(value, dict):
            text = "; ".join(f"{k} {v}" for k, v in value.items())
        elif isinstance(value, bool):
            text = "yes" if value else "no"
        else:
            text = str(value)
        out.append(f"{key.replace('_', ' ')}: {text}")
    return out


def _audit_rows(
    state: AppState, action: str | None, actor: str | None, before: int | None, limit: int
) -> list[dict[str, Any]]:
    from station.records import audit

    with state.ctx.db.session() as s:
        entries = audit.list_entries(s, action=action, actor=actor, before_id=before, limit=limit)
    return [
        {
            **e.model_dump(),
            "when": when_words(e.at),
            "details": detail_words(e.detail),
        }
        for e in entries
    ]


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    state: State,
    who: Who,
    action: str = "",
    actor: Annotated[str, Query(max_length=100)] = "",
    before: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """The audit log, newest first, 50 a page (``before`` pages back), with readable details."""
    from station.records import audit

    action = action if action in AUDIT_ACTIONS else ""
    context: dict[str, Any] = {
        "action": action,
        "actor": actor,
        "actions": AUDIT_ACTIONS,
        "before": before,
    }
    if who is not None and P.AUDIT_READ in _grants(who):
        with state.ctx.db.session() as s:
            context["chain"] = audit.verify(s).as_dict()
        rows = _audit_rows(state, action or None, actor or None, before, AUDIT_PAGE + 1)
        context["more"] = len(rows) > AUDIT_PAGE
        context["entries"] = rows[:AUDIT_PAGE]
        context["older"] = rows[AUDIT_PAGE - 1]["id"] if context["more"] else None
        context["filters"] = {k: v for k, v in (("action", action), ("actor", actor)) if v}
    return _page(request, who, P.AUDIT_READ, "audit.html", context)


@router.get("/audit/export.csv")
def audit_export(
    request: Request,
    state: State,
    who: Who,
    action: str = "",
    actor: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    """Every entry matching the filters as CSV (newest first), hashes included; the export
    itself is recorded as a disclosure."""
    from station.records import audit

    if who is None or P.AUDIT_READ not in _grants(who):
        return Response("not allowed", status_code=403 if who else 401)
    action = action if action in AUDIT_ACTIONS else ""
    with state.ctx.db.writer() as s:
        audit.append(
            s,
            who.username,
            "disclosure",
            "audit",
            "-",
            {
                "export": "csv",
                **({"action": action} if action else {}),
                **({"actor": actor} if actor else {}),
            },
        )

    def rows() -> Iterator[str]:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(
            [
                "id",
                "time_utc",
                "person",
                "action",
                "object",
                "object_id",
                "recipient",
                "details",
                "detail_json",
                "hash",
            ]
        )
        before: int | None = None
        while True:
            with state.ctx.db.session() as s:
                page = audit.list_entries(
                    s, action=action or None, actor=actor or None, before_id=before, limit=1000
                )
            for e in page:
                w.writerow(
                    [
                        e.id,
                        e.at,
                        e.actor,
                        e.action,
                        e.object_type,
                        e.object_id,
                        e.recipient or "",
                        "; ".join(detail_words(e.detail)),
                        json.dumps(e.detail, sort_keys=True),
                        e.hash,
                    ]
                )
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
            if len(page) < 1000:
                break
            before = page[-1].id

    return StreamingResponse(
        rows(),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )
