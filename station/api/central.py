"""The central service's web app: a supervisor's view of the force's stations.

Separate from the station's app (it runs beside ``station central serve`` on the central
PostgreSQL), with the same users and tokens table and the same bearer-token rule: every call is
authenticated, and only supervisors and admins see it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import HTMLResponse

from station import __version__
from station.api.templating import templates
from station.auth.users import Principal, UserStore
from station.db.engine import Database
from station.fleet.stations import StationRoll

CENTRAL_ROLES = ("supervisor", "admin")


def create_central_app(db: Database) -> FastAPI:
    app = FastAPI(title="Check Station — centre", version=__version__, docs_url=None,
                  redoc_url=None, openapi_url=None)  # fmt: skip
    users = UserStore(db)
    roll = StationRoll(db)

    def supervisor(request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        token = token or request.query_params.get("token", "")
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

    @app.get("/central", response_class=HTMLResponse)
    def page(request: Request, who: Supervisor) -> HTMLResponse:
        return templates.TemplateResponse(
            request, "central.html", {"o": roll.overview(), "who": who}
        )

    return app
