"""Login/logout for the web UI, the caller's identity, and user/token administration."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from station.api.deps import SESSION_COOKIE, State, current_principal, require
from station.api.templating import templates
from station.auth.roles import HOME, Permission, Role
from station.auth.throttle import client_address
from station.auth.users import API_TOKEN_DAYS, DEMO_USERS, SESSION_HOURS, Principal
from station.domain import PlainText
from station.records import audit

router = APIRouter()


def _client(request: Request) -> str:
    proxies = request.app.state.station.ctx.settings.api.trusted_proxies
    return client_address(request, proxies)


def login_page(request: Request, state: State, error: str = "", code: int = 200) -> HTMLResponse:
    demo = DEMO_USERS if state.ctx.settings.sim else ()
    return templates.TemplateResponse(
        request, "login.html", {"error": error, "demo": demo, "user": None}, status_code=code
    )


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_form(request: Request, state: State) -> HTMLResponse:
    return login_page(request, state)


@router.post("/login", response_class=HTMLResponse, include_in_schema=False)
def login(
    request: Request,
    state: State,
    username: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=200)],
) -> Response:
    """Check the password (throttled per user and per address) and set a session cookie."""
    keys = (username, _client(request))
    wait = state.throttle.retry_after(*keys)
    if wait > 0:
        state.metrics.logins.labels("throttled").inc()
        resp = login_page(
            request, state, f"Too many failed logins: try again in {int(wait) + 1} s.", 429
        )
        resp.headers["Retry-After"] = str(int(wait) + 1)
        return resp
    principal = state.users.authenticate(username, password)
    if principal is None:
        state.throttle.failed(*keys)
        state.metrics.logins.labels("failed").inc()
        with state.ctx.db.writer() as s:
            audit.append(s, username[:100], "system", "login", "failed", {"addr": _client(request)})
        return login_page(request, state, "Wrong username or password.", 401)
    state.throttle.succeeded(*keys)
    state.metrics.logins.labels("ok").inc()
    token = state.users.issue_token(principal.username, name="web login", kind="session")
    with state.ctx.db.writer() as s:
        audit.append(s, principal.username, "system", "login", "ok", {"addr": _client(request)})
    home = HOME.get(principal.role, "/")  # type: ignore[call-overload]
    redirect = RedirectResponse(home, status_code=status.HTTP_303_SEE_OTHER)
    redirect.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=SESSION_HOURS * 3600,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return redirect


@router.post("/logout", include_in_schema=False)
def logout(request: Request, state: State) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        state.users.revoke(token)
    resp = RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    resp.delete_cookie(SESSION_COOKIE)
    return resp


@router.get("/api/me", tags=["users"])
def me(who: Annotated[Principal, Depends(current_principal)]) -> dict[str, Any]:
    from station.auth.roles import GRANTS

    return {
        "username": who.username,
        "display_name": who.display_name,
        "role": who.role,
        "permissions": sorted(p.value for p in GRANTS.get(who.role, frozenset())),  # type: ignore[call-overload]
    }


class NewUser(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    role: Role
    password: str = Field(min_length=1, max_length=200)
    display_name: PlainText = Field(default="", max_length=200)


@router.get("/api/users", tags=["users"])
def list_users(
    state: State, who: Annotated[Principal, Depends(require(Permission.USER_ADMIN))]
) -> list[dict[str, Any]]:
    return state.users.list_users()


@router.post("/api/users", status_code=status.HTTP_201_CREATED, tags=["users"])
def create_user(
    body: NewUser,
    state: State,
    who: Annotated[Principal, Depends(require(Permission.USER_ADMIN))],
) -> dict[str, Any]:
    p = state.users.create_user(
        body.username, body.role, body.password, body.display_name, actor=who.username
    )
    return {"username": p.username, "role": p.role, "display_name": p.display_name}


class TokenRequest(BaseModel):
    name: PlainText = Field(default="", max_length=100)
    days: int = Field(default=API_TOKEN_DAYS, ge=1, le=3650, description="days until it expires")


@router.post("/api/users/{username}/tokens", status_code=status.HTTP_201_CREATED, tags=["users"])
def create_token(
    username: str,
    body: TokenRequest,
    state: State,
    who: Annotated[Principal, Depends(require(Permission.USER_ADMIN))],
) -> dict[str, str]:
    """A new API token; shown once in this response and stored only as a hash."""
    token = state.users.issue_token(username, name=body.name, actor=who.username, days=body.days)
    return {"username": username, "token": token}


@router.get("/api/users/{username}/tokens", tags=["users"])
def list_tokens(
    username: str,
    state: State,
    who: Annotated[Principal, Depends(require(Permission.USER_ADMIN))],
) -> list[dict[str, Any]]:
    """A user's API tokens by id (the tokens themselves are never stored)."""
    return state.users.list_tokens(username)


@router.delete("/api/users/{username}/tokens/{token_id}", tags=["users"])
def revoke_token(
    username: str,
    token_id: Annotated[int, Path(ge=1, le=2_147_483_647)],
    state: State,
    who: Annotated[Principal, Depends(require(Permission.USER_ADMIN))],
) -> dict[str, Any]:
    """Revoke one token; the user's other tokens keep working."""
    state.users.revoke_token(username, token_id, actor=who.username)
    return {"username": username, "revoked": token_id}


class UserPatch(BaseModel):
    active: bool


@router.patch("/api/users/{username}", tags=["users"])
def update_user(
    username: str,
    body: UserPatch,
    state: State,
    who: Annotated[Principal, Depends(require(Permission.USER_ADMIN))],
) -> dict[str, Any]:
    """Suspend or restore an account (a leaver's tokens stop working at once)."""
    state.users.set_active(username, body.active, actor=who.username)
    return {"username": username, "active": body.active}
