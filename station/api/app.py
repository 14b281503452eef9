"""App factory: a lifespan opens the database and devices (or the simulator) and closes them."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from station import __version__
from station.api import checks, pages
from station.api.deps import AppState
from station.context import StationContext, hardware
from station.errors import InputError, NotFound, StationError
from station.settings import StationSettings

log = logging.getLogger("station.api")


def create_app(settings: StationSettings) -> FastAPI:
    """Build the service for ``settings``; nothing is opened until the app starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx = StationContext(settings)
        with ExitStack() as stack:
            stack.callback(ctx.close)
            recovered = ctx.check_service().recover_interrupted()
            if recovered:
                log.warning("%d interrupted check(s) marked incomplete", recovered)
            if settings.sim:
                ctx.matcher.seed_demo_if_empty()
                stack.enter_context(hardware(ctx, sim=True))
            elif settings.devices.lamp_port:
                stack.enter_context(hardware(ctx, sim=False))
            app.state.station = AppState(ctx)
            yield
            app.state.station.shutdown()

    app = FastAPI(
        title="Check Station",
        version=__version__,
        summary="Screen seized and recovered property for forensic marks, codes and serials.",
        lifespan=lifespan,
    )

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(InputError)
    async def bad_input(_: Request, exc: InputError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(StationError)
    async def station_error(_: Request, exc: StationError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    app.include_router(checks.router)
    app.include_router(pages.router)
    return app
