"""`station serve`'s HTTP server: uvicorn's, made to honour a stop asked for during start-up.

uvicorn notes SIGTERM or Ctrl-C during the app's start-up but acts on it only once the
start-up is complete: half a minute on a Pi while the decoder workers load the OCR model,
so systemd, the kiosk's watchdog or an operator waits that long (or kills the process).
Here the signal also tells the app (``create_app(..., stopping)``), whose start-up stops at
its next step and closes what it opened; the server then exits without opening its port.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
from types import FrameType
from typing import Any

import uvicorn

log = logging.getLogger("station.api")


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
        await lifespan.startup()
        if self.should_exit and not lifespan.should_exit:
            # asked to stop while the app started: it stopped early and closed what it had
            # opened; finish its lifespan and never listen (``started`` stays False)
            await lifespan.shutdown()
            return
        # the rest of uvicorn's start-up (listening), with the app's start-up already done
        self.lifespan = _Started(lifespan)  # type: ignore[assignment]
        try:
            await super().startup(sockets)
        finally:
            self.lifespan = lifespan


class _Started:
    """A lifespan whose start-up has run: uvicorn's start-up then only opens the port."""

    def __init__(self, lifespan: Any) -> None:
        self._lifespan = lifespan

    async def startup(self) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lifespan, name)


def run(app: Any, stopping: threading.Event, **options: Any) -> None:
    """Serve ``app`` until SIGTERM or Ctrl-C (``options`` as for ``uvicorn.run``)."""
    config = uvicorn.Config(app, **options)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C, raised again once it has stopped
        StationServer(config, stopping).run()
