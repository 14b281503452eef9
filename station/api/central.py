"""The central service's web app: a supervisor's view of the force's stations.

Separate from the station's app (it runs beside ``station central serve`` on the central
PostgreSQL), with the same users and tokens table and the same bearer-token rule: every call is
authenticated, and only supervisors and admins see it.

``station central serve`` passes ``start``, which opens the central service (database
migrations, the matcher's index, the NATS side) step by step in the app's lifespan, so the
server of station.api.server stops it at its next step when asked to stop while it starts,
and closes it when the server stops, as it does the station.
"""

import html
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import ExitStack, asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from station import __version__
from station.api.deps import SESSION_COOKIE
from station.api.server import check_stop, start_app
from station.api.templating import templates
from station.auth.throttle import LoginThrottle
from station.auth.users import Principal, UserStore
from station.db.engine import Database
from station.fleet.stations import StationRoll

log = logging.getLogger("station.api")

#: opens what the centre runs beside its pages: called with the stack that closes it all
#: and ``step(name)``, which stops the start-up before ``name`` if a stop was asked for
CentralStart = Callable[[ExitStack, Callable[[str], None]], None]

CENTRAL_ROLES = ("supervisor", "admin")
_LOGIN = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Centre login</title>
</head><body><h1>Force overview: sign in</h1><p role="alert">{error}</p>
<form method="post" action="/central/login"><label>User <input name="username" required></label>
<label>Password <input name="password" type="password" required></label>
<button type="submit">Sign in</button></form></body></html>"""


def create_central_app(
    db: Database, start: CentralStart | None = None, stopping: threading.Event | None = None
) -> FastAPI:
    """The supervisor's pages on ``db``; ``start`` (if given) runs in the lifespan. A start-up
    that fails with a StationError serves nothing and leaves the error in
    ``app.state.start_error`` for the command to report."""
    stop = stopping or threading.Event()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with ExitStack() as stack:

            def begin() -> bool:
                if start is not None:
                    start(stack, lambda step: check_stop(stop, step))
                return True

            if start_app(app, stop, begin) is None:  # close what was opened; serve nothing
                stack.close()
                yield
                return
            yield
            # the stack closes the central service, then the database

    app = FastAPI(title="Check Station — centre", version=__version__, docs_url=None,
                  redoc_url=None, openapi_url=None, lifespan=lifespan)  # fmt: skip
    users = UserStore(db)
    roll = StationRoll(db)
    throttle = LoginThrottle()

    def supervisor(request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        token = token or request.cookies.get(SESSION_COOKIE, "")
        principal = users.resolve(token) if token else None
        if principal is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "authentication required: send 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if principal.role not in CENTRAL_ROLES:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"role {principal.role!r} may not see the centre"
            )
        return principal

    Supervisor = Annotated[Principal, Depends(supervisor)]

    @app.get("/api/central/overview")
    def overview(_who: Supervisor) -> dict[str, Any]:
        """Stations, their last contact, register version, backlog, self-test, lamps, alerts."""
        return roll.overview()

    @app.get("/api/central/keys")
    def keys(_who: Supervisor) -> dict[str, Any]:
        """The force's station keys, for verifying records and bundles offline."""
        return roll.key_list()

    @app.get("/central/login", response_class=HTMLResponse)
    def login_form(error: str = "") -> HTMLResponse:
        return HTMLResponse(_LOGIN.format(error=html.escape(error)))

    @app.post("/central/login")
    def login(
        request: Request,
        username: Annotated[str, Form(max_length=100)],
        password: Annotated[str, Form(max_length=200)],
    ) -> Response:
        """Check the password (throttled) and set a session cookie for the page."""
        keys = (username, request.client.host if request.client else "")
        if throttle.retry_after(*keys) > 0:
            return HTMLResponse(_LOGIN.format(error="Too many failed logins: wait a minute."), 429)
        principal = users.authenticate(username, password)
        if principal is None or principal.role not in CENTRAL_ROLES:
            throttle.failed(*keys)
            return HTMLResponse(
                _LOGIN.format(error="Wrong username or password, or not a supervisor."), 401
            )
        throttle.succeeded(*keys)
        token = users.issue_token(principal.username, name="centre login", kind="session")
        redirect = RedirectResponse("/central", status_code=status.HTTP_303_SEE_OTHER)
        redirect.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict")
        return redirect

    @app.get("/central", response_class=HTMLResponse)
    def page(request: Request, who: Supervisor) -> HTMLResponse:
        return templates.TemplateResponse(
            request, "central.html", {"o": roll.overview(), "who": who}
        )

    return app
