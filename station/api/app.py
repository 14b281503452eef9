"""App factory: a lifespan opens the database and devices (or the simulator) and closes them."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import ExitStack, asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from station import __version__
from station.api import (
    audit_routes,
    auth_routes,
    batches,
    checks,
    pages,
    register,
    resumable,
    station_routes,
)
from station.api.apidocs import api_reference_html
from station.api.deps import SESSION_COOKIE, AppState, current_principal
from station.api.guards import BodyLimit, body_limit_for, cross_site_problem
from station.api.server import check_stop, start_app
from station.auth.users import Principal
from station.context import StationContext, hardware, prepare_reading
from station.errors import (
    DeviceError,
    InputError,
    NotFound,
    RegisterImportError,
    StationError,
    TooManyIdentifiers,
    UploadRejected,
    UploadTooLarge,
)
from station.fleet.enrolment import Enrolment
from station.fleet.uploader import fleet_link
from station.records import audit
from station.settings import StationSettings

log = logging.getLogger("station.api")


#: how often the service considers signing an audit checkpoint
CHECKPOINT_INTERVAL_S = 600


def checkpoint_now(ctx: StationContext) -> None:
    """Sign the audit chain's head if enough entries or time passed since the last one."""
    with ctx.db.writer() as s:
        audit.checkpoint_if_due(s, ctx.station_key, ctx.settings.station_id)


async def _checkpoint_periodically(ctx: StationContext) -> None:
    while True:
        try:
            await run_in_threadpool(checkpoint_now, ctx)
        except Exception:  # a failed checkpoint is logged; the next one is tried on time
            log.exception("audit checkpoint failed")
        await asyncio.sleep(CHECKPOINT_INTERVAL_S)


#: pages load scripts, styles and images only from the station itself: nothing inline
CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
STATIC_DIR = Path(__file__).with_name("static")


def warm() -> dict[str, Any]:
    from station.matcher.jit import warm as warm_kernels

    return warm_kernels()


def _start(
    settings: StationSettings, stack: ExitStack, stopping: threading.Event
) -> tuple[StationContext, AppState]:
    """Open the station step by step (everything opened is closed by ``stack``); a stop
    asked for meanwhile ends the start-up at the next step with StoppedWhileStarting."""

    def step(name: str) -> None:
        check_stop(stopping, name)

    scans = settings.sim or bool(settings.devices.lamp_port)
    # the decoder workers and their OCR model load beside the start-up below
    readers = prepare_reading(settings.vision) if scans else []
    step("the database")
    ctx = StationContext(settings)
    stack.callback(ctx.close)
    step("recovering interrupted checks")
    recovered = ctx.check_service().recover_interrupted()
    if recovered:
        log.warning("%d interrupted check(s) marked incomplete", recovered)
    step("the register")
    if settings.sim and Enrolment.load(settings.data_dir) is None:  # else the force's
        ctx.matcher.seed_demo_if_empty()
    # the register index and the matcher's machine code are ready before the server says
    # so, so the first check is as fast as the hundredth
    step("the matcher")
    warmed = warm()
    ctx.matcher.index()
    log.info("matcher kernels ready in %.2f s (%d compiled)", warmed["warm_s"], warmed["compiled"])
    step("the hardware")
    if settings.sim:
        stack.enter_context(hardware(ctx, sim=True))
    elif settings.devices.lamp_port:
        stack.enter_context(hardware(ctx, sim=False))
    # reading is ready too before the server says so (each loader gives up with its worker
    # after the decoder time-out; the scan then reports the model that would not load)
    for loader in readers:
        deadline = time.monotonic() + settings.vision.decoder_timeout_s
        while loader.is_alive() and time.monotonic() < deadline:
            step("reading (the decoder workers were loading the OCR model)")
            loader.join(0.1)
    step("the service")  # the last step: what follows is quick
    state = AppState(ctx)
    try:
        _open_service(settings, ctx, state, stack)
    except BaseException:
        state.shutdown()
        raise
    stack.callback(state.shutdown)  # first at the end: checks running finish, then the rest
    return ctx, state


def _open_service(
    settings: StationSettings, ctx: StationContext, state: AppState, stack: ExitStack
) -> None:
    """Demo users, batches resumed, the force link: the service's last start-up steps."""
    if settings.sim:
        for username, role, password, token in state.users.seed_demo():
            log.warning(
                "demo user %s (%s): password %s, API token %s", username, role, password, token
            )
    elif state.users.count() == 0:
        log.warning(
            "no users yet: create an admin with "
            "`station user add NAME --role admin`, then `station user token NAME`"
        )
    for batch_id in state.batches.resume_unfinished():
        log.warning("resuming interrupted batch %s", batch_id)
        state.submit_batch(batch_id)
    stack.enter_context(fleet_link(ctx))


def create_app(settings: StationSettings, stopping: threading.Event | None = None) -> FastAPI:
    """Build the service for ``settings``; nothing is opened until the app starts.

    ``stopping`` is set by the server when it is asked to stop (SIGTERM, Ctrl-C): during
    start-up the station then stops at its next step instead of finishing its start first,
    and serves nothing (see station.api.server). A start-up that fails with a StationError
    (an unreachable database, say) serves nothing either and leaves the error in
    ``app.state.start_error`` for the command to report."""
    stop = stopping or threading.Event()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with ExitStack() as stack:
            opened = start_app(app, stop, lambda: _start(settings, stack, stop))
            if opened is None:  # what was opened is closed; the server exits without serving
                stack.close()
                yield
                return
            ctx, state = opened
            app.state.station = state
            checkpoints = asyncio.create_task(_checkpoint_periodically(ctx))
            yield
            checkpoints.cancel()
            stack.close()  # checks running finish, then the force link, hardware, database
            if getattr(app.state, "station", None) is state:  # the app may outlive it
                del app.state.station

    app = FastAPI(
        title="Check Station",
        version=__version__,
        summary="Screen seized and recovered property for forensic marks, codes and serials.",
        description="Every call needs `Authorization: Bearer <token>` (or a web login).",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(who: Annotated[Principal, Depends(current_principal)]) -> dict[str, Any]:
        return app.openapi()

    @app.get("/docs", include_in_schema=False)
    def docs(who: Annotated[Principal, Depends(current_principal)]) -> HTMLResponse:
        # a station is often offline: the reference is rendered here, nothing from a CDN
        return HTMLResponse(api_reference_html(app.openapi()))

    def problem(status: int, exc: StationError, **extra: Any) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "fix": exc.fix, **extra}, status_code=status)

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return problem(404, exc)

    @app.exception_handler(UploadTooLarge)
    async def too_large(_: Request, exc: UploadTooLarge) -> JSONResponse:
        return problem(413, exc)

    @app.exception_handler(TooManyIdentifiers)
    async def too_many(_: Request, exc: TooManyIdentifiers) -> JSONResponse:
        return problem(413, exc)

    @app.exception_handler(InputError)
    async def bad_input(_: Request, exc: InputError) -> JSONResponse:
        problems = getattr(exc, "problems", None)
        if isinstance(exc, UploadRejected | RegisterImportError) or problems:
            rows = [{"line": line, "reason": reason} for line, reason in (problems or [])]
            return problem(422, exc, problems=rows)
        return problem(422, exc)

    @app.exception_handler(DeviceError)
    async def device_error(_: Request, exc: DeviceError) -> JSONResponse:
        return problem(503, exc)

    @app.exception_handler(StationError)
    async def station_error(_: Request, exc: StationError) -> JSONResponse:
        return problem(503, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        # never echo the input back: it may be a password, or NaN that JSON cannot carry
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
            for e in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    upload_limit = settings.api.max_upload_mb * 1024 * 1024

    @app.middleware("http")
    async def guard_and_measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        declared = request.headers.get("content-length", "")
        limit = body_limit_for(request.url.path, upload_limit)
        if declared.isdigit() and int(declared) > limit:
            return JSONResponse(
                {"detail": f"request body of {declared} bytes is over the limit of {limit}"},
                status_code=413,
            )
        refused = cross_site_problem(request)
        if refused is not None:
            return JSONResponse(
                {"detail": refused, "fix": "use the station's own pages or an API token"},
                status_code=403,
            )
        t0 = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        state: AppState | None = getattr(request.app.state, "station", None)
        if state is not None:
            state.metrics.requests.labels(request.method, path, str(response.status_code)).inc()
            state.metrics.latency.labels(path).observe(time.perf_counter() - t0)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if "authorization" in request.headers or SESSION_COOKIE in request.cookies:
            # after logout, Back must not show the previous user's pages from the cache
            response.headers["Cache-Control"] = "no-store"
        if request.url.path != "/docs":  # the API reference page carries its own inline style
            response.headers.setdefault("Content-Security-Policy", CSP)
        return response

    # outermost: counts the body as it streams in, whatever Content-Length said
    app.add_middleware(BodyLimit, limit_for=lambda path: body_limit_for(path, upload_limit))

    for module in (
        checks,
        batches,
        resumable,
        register,
        audit_routes,
        station_routes,
        auth_routes,
        pages,
    ):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
