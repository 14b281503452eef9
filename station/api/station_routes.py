"""The station itself: live lid/item status, health, self-test, metrics, supervisor figures."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlalchemy import func, select, text

from station import __version__
from station.api.deps import AppState, State, current_principal, require
from station.auth.roles import Permission
from station.auth.users import Principal
from station.checks.outcomes import BookingIn, record_booking, summary
from station.db.models import Check
from station.errors import StationError

router = APIRouter(tags=["station"])
P = Permission


@router.get("/api/station/status")
def station_status(
    state: State, who: Annotated[Principal, Depends(current_principal)]
) -> dict[str, Any]:
    """Lid closed? Item on the tray? Busy? (any signed-in user: it shows on every desk)."""
    return state.station_status()


@router.get("/api/station/events")
async def station_events(
    request: Request, state: State, who: Annotated[Principal, Depends(current_principal)]
) -> StreamingResponse:
    """Server-sent ``status`` events whenever lid, item or busy state changes."""

    async def stream() -> AsyncIterator[str]:
        last = None
        for _ in range(7200):  # the page reconnects after an hour
            doc = await run_in_threadpool(state.station_status)
            if doc != last:
                yield f"event: status\ndata: {json.dumps(doc)}\n\n"
                last = doc
            else:
                yield ": keep-alive\n\n"
            if await request.is_disconnected():
                break
            await asyncio.sleep(0.5)

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
    )


def device_health(state: AppState) -> dict[str, Any]:
    """Link counters and lamp hours from the drivers, whatever they expose."""
    devices = state.ctx.devices
    if devices is None:
        return {"connected": False}
    out: dict[str, Any] = {"connected": True}
    for name in ("lamp", "camera"):
        dev = getattr(devices, name, None)
        if dev is None:
            continue
        for attr in ("info", "link_stats", "health", "stats"):
            value = getattr(dev, attr, None)
            if value is None:
                continue
            try:
                value = value() if callable(value) else value
                if hasattr(value, "as_dict"):
                    value = value.as_dict()
                elif hasattr(value, "__dataclass_fields__"):
                    value = asdict(value)
                out[f"{name}_{attr}"] = value
            except Exception as exc:
                out[f"{name}_{attr}"] = {"error": f"{type(exc).__name__}: {exc}"}
    try:
        st = devices.lamp.status()
        out["lamps"] = {name: asdict(lamp) for name, lamp in st.lamps.items()}
        out["faults"] = list(st.faults)
        out["uptime_ms"] = st.uptime_ms
    except Exception as exc:
        out["lamps"] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


def lamp_usage(state: AppState) -> dict[str, Any]:
    """Lamp-on time estimated from this station's recorded scans (the controller keeps no
    hour meter): each scan lights each lamp for its settle time plus its exposure."""
    ctx = state.ctx
    dev = ctx.settings.devices
    with ctx.db.session() as s:
        scans = s.execute(
            select(func.count(Check.id)).where(
                Check.station_id == ctx.settings.station_id, Check.mode == "scan"
            )
        ).scalar_one()
    white_s = scans * (dev.lamp_settle_ms + dev.exposure_white_ms) / 1000
    uv_s = scans * (dev.lamp_settle_ms + dev.exposure_uv_ms) / 1000
    return {
        "scans": scans,
        "white_on_s_estimate": round(white_s, 3),
        "uv_on_s_estimate": round(uv_s, 3),
        "white_hours_estimate": round(white_s / 3600, 6),
        "uv_hours_estimate": round(uv_s / 3600, 6),
    }


@router.get("/api/health")
def health(
    state: State, who: Annotated[Principal, Depends(require(P.HEALTH_READ))]
) -> dict[str, Any]:
    """Database, devices (link counters, lamp hours), last self-test, register version."""
    ctx = state.ctx
    try:
        with ctx.db.session() as s:
            s.execute(text("select 1"))
        database = {"ok": True, "dialect": ctx.db.dialect}
    except Exception as exc:
        database = {"ok": False, "error": str(exc)}
    register_version: int | str
    try:
        register_version = ctx.matcher.version
    except Exception as exc:
        register_version = f"unavailable: {exc}"
    return {
        "station_id": ctx.settings.station_id,
        "location": ctx.settings.location,
        "version": __version__,
        "sim": ctx.settings.sim,
        "database": database,
        "devices": device_health(state),
        "lamp_usage": lamp_usage(state),
        "last_self_test": ctx.last_self_test,
        "register_version": register_version,
        "status": state.station_status(),
    }


@router.post("/api/doctor")
def doctor(
    state: State,
    who: Annotated[Principal, Depends(require(P.DOCTOR_RUN))],
) -> dict[str, Any]:
    """Run the hardware self-test now and record it (it is shown with every later check).

    A failed self-test is still a 200 answer: the report says which parts failed.
    """
    ctx = state.ctx
    if ctx.devices is None:
        raise StationError("no devices are connected: start with --sim or set devices.lamp_port")
    try:
        from station.checks.doctor import run_doctor
    except ImportError as exc:
        raise StationError(f"the self-test is not available in this build ({exc})") from None

    with state.service().tray:  # never self-test while a scan is using the tray
        report = run_doctor(ctx.devices, ctx.settings).as_dict()
    ctx.record_self_test(report, actor=who.username)
    return report


@router.get("/metrics", response_class=Response, tags=["station"])
def metrics(state: State, who: Annotated[Principal, Depends(require(P.METRICS_READ))]) -> Response:
    """Prometheus text format (needs a token: every call is authenticated)."""
    return Response(state.metrics.render(), media_type="text/plain; version=0.0.4")


@router.get("/api/outcomes")
def outcomes(
    state: State,
    who: Annotated[Principal, Depends(require(P.OUTCOME_READ))],
    since: dt.date | None = None,
    until: dt.date | None = None,
    station_id: str | None = None,
) -> dict[str, Any]:
    """Per day and station: booked in, checked, marked, matched, returned (default: 30 days)."""
    today = dt.datetime.now(dt.UTC).date()
    until = until or today
    since = since or until - dt.timedelta(days=29)
    return summary(state.ctx.db, since, until, station_id)


@router.post("/api/bookings", status_code=status.HTTP_201_CREATED)
def add_booking(
    booking: BookingIn,
    state: State,
    who: Annotated[Principal, Depends(require(P.OUTCOME_WRITE))],
) -> dict[str, Any]:
    """Items booked in at a station on a day (from the custody record), for booked-vs-checked."""
    return record_booking(
        state.ctx.db, booking, who.username, own_station=state.ctx.settings.station_id
    )
