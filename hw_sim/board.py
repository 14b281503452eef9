"""What the simulator needs of a lamp-controller board, whichever implementation runs it:
the Python state machine (``hw_sim.controller``) or the AVR firmware in simavr
(``hw_sim.firmware``)."""

from __future__ import annotations

from typing import Protocol


class Board(Protocol):
    """Bytes in, lines out, a reset button, and the UV level at its output."""

    boot_id: str
    firmware: str
    uv: int
    white: int
    last_watchdog: str | None
    watchdog_reasons: list[str]

    def feed(self, data: bytes) -> None: ...

    def poll(self) -> None: ...

    def take_output(self) -> list[bytes]: ...

    def boot(self) -> None: ...

    def wait_watchdog(self, index: int, timeout: float) -> str | None: ...
