"""Dependencies injected into routes: the station state and the caller."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from fastapi import Request

from station.checks import CheckService
from station.context import StationContext


class AppState:
    """Per-app objects; checks run on a worker thread so requests return at once."""

    def __init__(self, ctx: StationContext) -> None:
        self.ctx = ctx
        self.workers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="check")
        self.running: dict[str, Future[Any]] = {}
        self.lock = threading.Lock()

    def service(self) -> CheckService:
        return self.ctx.check_service()

    def shutdown(self) -> None:
        self.workers.shutdown(wait=True, cancel_futures=False)


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.station
    return state


def get_service(request: Request) -> CheckService:
    return get_state(request).service()
