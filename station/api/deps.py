"""Per-app state and the dependencies routes use: the station, the caller and their rights."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status

from station.api.metrics import Metrics
from station.auth.roles import Permission, allowed
from station.auth.throttle import LoginThrottle, RateLimit
from station.auth.users import Principal, UserStore
from station.batches.service import BatchService
from station.checks.service import CheckService
from station.context import StationContext

SESSION_COOKIE = "station_session"


class AppState:
    """Objects of one running app. Checks and batches run on worker threads."""

    def __init__(self, ctx: StationContext) -> None:
        self.ctx = ctx
        self.workers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="check")
        self.batch_workers = ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch")
        self.running: dict[str, Future[Any]] = {}
        self.lock = threading.Lock()
        self.users = UserStore(ctx.db)
        self.throttle = LoginThrottle()
        self.dealer_limit = RateLimit(ctx.settings.api.dealer_checks_per_hour, 3600.0)
        self.metrics = Metrics()
        #: one service for the process, so its tray lock really serialises scans
        self._service = ctx.check_service()
        self.batches = BatchService(ctx.db, ctx.matcher, ctx.settings)
        self._status: tuple[float, dict[str, Any]] = (0.0, {})
        #: the controller is asked for its status on its own thread, so a silent controller
        #: is reported after a short deadline instead of after every retry has run out
        self._prober = ThreadPoolExecutor(max_workers=1, thread_name_prefix="status")
        self._probe: Future[Any] | None = None
        self._probe_at = 0.0

    @property
    def silence_deadline_s(self) -> float:
        """How long a status request may go unanswered before the desk says so."""
        return max(0.8, 4 * self.ctx.settings.devices.reply_timeout_s)

    def _controller_status(self, devices: Any) -> dict[str, Any]:
        with self.lock:
            if self._probe is None or self._probe.done():
                self._probe = self._prober.submit(devices.lamp.status)
                self._probe_at = time.monotonic()
            probe, asked_at = self._probe, self._probe_at
        wait = max(0.0, self.silence_deadline_s - (time.monotonic() - asked_at))
        try:
            st = probe.result(timeout=wait)
        except FutureTimeout:
            quiet = time.monotonic() - asked_at
            return {
                "connected": False,
                "silent": True,
                "lid_closed": None,
                "item_present": None,
                "error": f"the lamp controller has not answered a status request for {quiet:.1f} s",
            }
        except Exception as exc:  # a device fault is shown, not raised, on the desk
            return {
                "connected": False,
                "silent": False,
                "lid_closed": None,
                "item_present": None,
                "error": f"{type(exc).__name__}: {exc}",
            }
        return {
            "connected": True,
            "silent": False,
            "lid_closed": bool(getattr(st, "lid_closed", False)),
            "item_present": bool(getattr(st, "item_present", False)),
        }

    def service(self) -> CheckService:
        return self._service

    def submit_batch(self, batch_id: str) -> None:
        self.batch_workers.submit(self.batches.run, batch_id)

    def station_status(self, max_age_s: float = 0.4) -> dict[str, Any]:
        """Lid and item state, asked of the controller at most every ``max_age_s``."""
        with self.lock:
            at, cached = self._status
            if time.monotonic() - at < max_age_s and cached:
                return cached
            busy = any(not f.done() for f in self.running.values())
        doc: dict[str, Any] = {
            "connected": False,
            "silent": False,
            "lid_closed": None,
            "item_present": None,
        }
        devices = self.ctx.devices
        if devices is not None:
            doc = self._controller_status(devices)
        doc["busy"] = busy
        doc["sim"] = self.ctx.settings.sim
        with self.lock:
            self._status = (time.monotonic(), doc)
        return doc

    def shutdown(self) -> None:
        self.workers.shutdown(wait=True, cancel_futures=False)
        self._prober.shutdown(wait=False, cancel_futures=True)
        self.batch_workers.shutdown(wait=False, cancel_futures=True)


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.station
    return state


def get_service(request: Request) -> CheckService:
    return get_state(request).service()


def _token_of(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(SESSION_COOKIE)


def optional_principal(request: Request) -> Principal | None:
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    token = _token_of(request)
    if not token:
        return None
    principal = get_state(request).users.resolve(token)
    request.state.principal = principal
    return principal


def current_principal(request: Request) -> Principal:
    """The caller, or 401: every API call is authenticated."""
    principal = optional_principal(request)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "authentication required: send 'Authorization: Bearer <token>' or log in",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


def require(permission: Permission) -> Callable[..., Principal]:
    """A dependency that lets the call through only for roles granted ``permission``."""

    def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not allowed(principal.role, permission):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"role {principal.role!r} may not do this ({permission.value})",
            )
        return principal

    dependency.__name__ = f"require_{permission.name.lower()}"
    return dependency


State = Annotated[AppState, Depends(get_state)]
