"""How long a station's link waits before trying again after a failure.

Fifty stations that lost the centre together would otherwise all try again on the same beat:
every reconnect, every upload retry and every register catch-up would land at once, and the
centre would see a stampede each interval instead of a spread. So each wait doubles after
each failure up to a bound, and a random part of it is left out, different at each station
(and each loop), so that stations that failed together drift apart.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from station.errors import ConfigError
from station.settings import LinkSettings


class Backoff:
    """Waits for one retry loop: :meth:`next` after a failure, :meth:`reset` after a success.

    The n-th wait in a row is ``min(cap, first * 2**n)`` less a random share of it of up to
    ``spread`` (0: the same wait everywhere; 1: anything from nothing to the whole wait).
    ``rand`` gives numbers in [0, 1); tests pass their own."""

    def __init__(
        self,
        first: float,
        cap: float,
        spread: float,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if first <= 0 or cap < first or not 0 <= spread <= 1:
            raise ConfigError(
                f"retry waits need 0 < first ({first}) <= cap ({cap}) and spread ({spread}) "
                "between 0 and 1"
            )
        self.first = first
        self.cap = cap
        self.spread = spread
        self.rand = rand
        self.failures = 0

    @classmethod
    def of(
        cls,
        settings: LinkSettings,
        first: float | None = None,
        rand: Callable[[], float] | None = None,
    ) -> Backoff:
        """A back-off as the station's link settings say (``first`` for a loop whose first
        retry should come later than the default)."""
        return cls(
            first if first is not None else settings.retry_first,
            max(settings.retry_max, first or 0.0),
            settings.retry_spread,
            rand or random.random,
        )

    def next(self) -> float:
        """Seconds to wait before the next try; the one after will be (about) twice as long."""
        full = min(self.cap, self.first * 2.0 ** min(self.failures, 62))
        self.failures += 1
        return full * (1.0 - self.spread * self.rand())

    def jitter(self) -> float:
        """A wait of up to ``first`` before acting on news every station hears at once (the
        centre is back), so they do not all act in the same instant."""
        return self.first * self.spread * self.rand()

    def reset(self) -> None:
        self.failures = 0
