"""Login throttling: growing waits after repeated failures, per person at a desk.

Failures count per (user name, client address), so one officer's typing mistakes at a shared
custody desk never lock the colleagues on the same desk, and a guesser elsewhere cannot lock
an officer out. After ``free_failures`` the wait doubles with each further failure (capped),
instead of a hard lock. A second, looser count per client address slows one address that
sprays many user names. The client address is the socket's peer, or the forwarded address
only when the peer is a configured trusted proxy (see :func:`client_address`).
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable, Sequence

from starlette.requests import Request


def client_address(request: Request, trusted_proxies: Sequence[str] = ()) -> str:
    """Who is calling: the peer address, or the last untrusted hop of X-Forwarded-For when
    the peer is one of ``trusted_proxies`` (addresses or networks). Anyone else can write any
    X-Forwarded-For they like, so it is ignored."""
    peer = request.client.host if request.client else "unknown"
    if not trusted_proxies or not _in(peer, trusted_proxies):
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _in(hop, trusted_proxies):
            return hop
    return peer


def _in(address: str, networks: Sequence[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for net in networks:
        try:
            if ip in ipaddress.ip_network(net, strict=False):
                return True
        except ValueError:
            continue
    return False


class LoginThrottle:
    """Exponential back-off on failed logins, per user at a client and per client."""

    def __init__(
        self,
        free_failures: int = 5,
        base_s: float = 30.0,
        max_wait_s: float = 900.0,
        client_free_failures: int = 30,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free_failures = free_failures
        self.base_s = base_s
        self.max_wait_s = max_wait_s
        self.client_free_failures = client_free_failures
        self.clock = clock
        self._failures: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def _wait(self, key: str, free: int, now: float) -> float:
        count, last = self._failures.get(key, (0, 0.0))
        if count < free:
            return 0.0
        wait = min(self.max_wait_s, self.base_s * 2 ** (count - free))
        return max(0.0, last + wait - now)

    @staticmethod
    def _keys(username: str, client: str) -> tuple[str, str]:
        return f"user:{username.casefold()}@{client}", f"client:{client}"

    def retry_after(self, username: str, client: str) -> float:
        """Seconds until this user may try again from this client (0 when allowed now)."""
        user_key, client_key = self._keys(username, client)
        now = self.clock()
        with self._lock:
            return max(
                self._wait(user_key, self.free_failures, now),
                self._wait(client_key, self.client_free_failures, now),
            )

    def failed(self, username: str, client: str) -> None:
        now = self.clock()
        with self._lock:
            for key in self._keys(username, client):
                count, last = self._failures.get(key, (0, now))
                if now - last > self.max_wait_s * 2:
                    count = 0  # long quiet: start afresh
                self._failures[key] = (count + 1, now)

    def succeeded(self, username: str, client: str) -> None:
        with self._lock:
            self._failures.pop(self._keys(username, client)[0], None)


class RateLimit:
    """At most ``limit`` calls per key in any ``window_s`` (sliding window)."""

    def __init__(
        self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self._calls: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Count a call for ``key``: 0 when allowed, else seconds until one is allowed again."""
        now = self.clock()
        with self._lock:
            calls = [t for t in self._calls.get(key, []) if now - t < self.window_s]
            if len(calls) >= self.limit:
                self._calls[key] = calls
                return self.window_s - (now - calls[0])
            calls.append(now)
            self._calls[key] = calls
            return 0.0
