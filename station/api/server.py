"""`station serve`'s HTTP server: uvicorn's, made to honour a stop asked for during start-up.

uvicorn notes SIGTERM or Ctrl-C during the app's start-up but acts on it only once the
start-up is complete: half a minute on a Pi while the decoder workers load the OCR model,
so systemd, the kiosk's watchdog or an operator waits that long (or kills the process).
Here the signal also tells the app (``create_app(..., stopping)``), whose start-up stops at
its next step and closes what it opened; the server then exits without opening its port.
An app whose start-up failed with a StationError sets ``stopping`` too after logging the
message (no traceback at the operator): the server then exits the same way. Both the
station's ``station serve`` and the centre's ``station central serve`` run here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any, TypeVar

import uvicorn

from station.errors import StationError

log = logging.getLogger("station.api")
T = TypeVar("T")

#: seconds a stopping server lets open responses finish: a desk's event stream lasts an hour,
#: so without a limit SIGTERM waits for it (systemd then kills the server after its own wait)
GRACEFUL_STOP_S = 5


class StoppedWhileStarting(Exception):
    """A stop was asked for during start-up; carries the step that was not started."""

    def __init__(self, step: str) -> None:
        super().__init__(step)
        self.step = step


def check_stop(stopping: threading.Event, step: str) -> None:
    """Call before each start-up step: raises StoppedWhileStarting if a stop was asked for."""
    if stopping.is_set():
        raise StoppedWhileStarting(step)


def start_app(app: Any, stopping: threading.Event, start: Callable[[], T]) -> T | None:
    """Run an app's start-up in its lifespan; None when it ended early and must serve nothing.

    A stop asked for meanwhile (StoppedWhileStarting) is logged; a StationError (an
    unreachable database, say) is left in ``app.state.start_error`` for the command to report,
    and ``stopping`` is set so the server exits without listening. Either way the caller
    closes what was opened and yields without serving.
    """
    try:
        return start()
    except StoppedWhileStarting as exc:
        log.warning("asked to stop while starting: stopped before %s", exc.step)
    except StationError as exc:
        app.state.start_error = exc
        stopping.set()
    return None


def options(host: str, port: int, log_level: str = "info") -> dict[str, Any]:
    """uvicorn options of every server here: its own proxy-header rewriting is off, because
    it believes X-Forwarded-For from 127.0.0.1 by default (the apps trust only configured
    proxies), and a stop ends responses still open after GRACEFUL_STOP_S."""
    return {
        "host": host,
        "port": port,
        "log_level": log_level,
        "proxy_headers": False,
        "server_header": False,
        "timeout_graceful_shutdown": GRACEFUL_STOP_S,
    }


class StationServer(uvicorn.Server):
    """uvicorn's server; a stop signal during start-up ends the start-up, not only the serving."""

    def __init__(self, config: uvicorn.Config, stopping: threading.Event) -> None:
        super().__init__(config)
        #: set at the first SIGTERM or SIGINT; the app's start-up looks at it between steps
        self.stopping = stopping

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.started and not self.stopping.is_set():
            log.warning("%s while starting: stopping at the next step", signal.Signals(sig).name)
        super().handle_exit(sig, frame)
        self.stopping.set()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        lifespan = self.lifespan
        logger = lifespan.logger
        # uvicorn says "Application startup complete." whenever the app's start-up returns,
        # also when it stopped early: the stop's own warning says what happened instead
        lifespan.logger = _StartupLog(logger, self.stopping)
        try:
            await lifespan.startup()
        finally:
            lifespan.logger = logger
        if (self.should_exit or self.stopping.is_set()) and not lifespan.should_exit:
            # asked to stop while the app started (or its start-up failed and said so): it
            # stopped early and closed what it had opened; finish its lifespan and never
            # listen (``started`` stays False)
            await lifespan.shutdown()
            self.should_exit = True
            return
        # the rest of uvicorn's start-up (listening), with the app's start-up already done
        self.lifespan = _Started(lifespan)  # type: ignore[assignment]
        try:
            await super().startup(sockets)
        finally:
            self.lifespan = lifespan


class _StartupLog:
    """uvicorn's lifespan logger, without its "startup complete" line after a stop."""

    def __init__(self, logger: logging.Logger, stopping: threading.Event) -> None:
        self._logger = logger
        self._stopping = stopping

    def info(self, msg: str, *args: Any, **kwargs: Any) -> None:
        if not (self._stopping.is_set() and msg.startswith("Application startup complete")):
            self._logger.info(msg, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._logger, name)


class _Started:
    """A lifespan whose start-up has run: uvicorn's start-up then only opens the port."""

    def __init__(self, lifespan: Any) -> None:
        self._lifespan = lifespan

    async def startup(self) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lifespan, name)


class _EndedResponses(logging.Filter):
    """A response still open after the grace is cancelled by uvicorn, which then logs it as an
    "Exception in ASGI application" with a traceback: say instead, in one line, what happened."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, asyncio.CancelledError) and str(record.msg).startswith(
            "Exception in ASGI application"
        ):
            record.msg = "stopping: ended a response still open after %d s (%s)"
            record.args = (GRACEFUL_STOP_S, "a long request or an event stream")
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def run(app: Any, stopping: threading.Event, **options: Any) -> None:
    """Serve ``app`` until SIGTERM or Ctrl-C (``options`` as for ``uvicorn.run``)."""
    config = uvicorn.Config(app, **options)  # sets up uvicorn's loggers
    errors = logging.getLogger("uvicorn.error")
    ended = _EndedResponses()
    errors.addFilter(ended)
    try:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C, raised again once it stopped
            StationServer(config, stopping).run()
    finally:
        errors.removeFilter(ended)
