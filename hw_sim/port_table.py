"""Running in-memory simulator ports by name, so ``hwsim://NAME`` can find its board.

pyserial resolves URLs by name inside ``serial_for_url``; there is no way to hand it an
object, so this one lock-guarded table is the deliberate exception to "no global state".
"""

from __future__ import annotations

import itertools
import threading

from hw_sim.ports import MemoryPort

_lock = threading.Lock()
_ports: dict[str, MemoryPort] = {}
_ids = itertools.count(1)


def new_name() -> str:
    return f"sim{next(_ids)}"


def register(port: MemoryPort) -> None:
    with _lock:
        _ports[port.name] = port


def unregister(port: MemoryPort) -> None:
    with _lock:
        if _ports.get(port.name) is port:
            del _ports[port.name]


def lookup(name: str) -> MemoryPort | None:
    with _lock:
        return _ports.get(name)
