"""A station's link tries again later after each failure in a row, up to a bound, and a random
share of each wait differs from station to station, so a force's stations that lost the centre
together do not come back in step. The random source is injected; no clock is waited on."""

from __future__ import annotations

import asyncio
import random
from types import SimpleNamespace
from typing import Any

import pytest

from station.errors import ConfigError
from station.fleet.backoff import Backoff
from station.fleet.uploader import StationLink
from station.settings import LinkSettings, load_settings


def test_waits_double_up_to_the_bound_and_start_again_after_a_success() -> None:
    fixed = Backoff(first=0.5, cap=30.0, spread=0.5, rand=lambda: 0.0)  # nothing left out
    assert [fixed.next() for _ in range(9)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    fixed.reset()
    assert fixed.next() == 0.5


def test_a_random_share_of_each_wait_is_left_out_within_the_spread() -> None:
    draws = iter([0.0, 0.5, 0.999])
    b = Backoff(first=1.0, cap=60.0, spread=0.5, rand=lambda: next(draws))
    assert [b.next() for _ in range(3)] == [1.0, 2 * 0.75, pytest.approx(4 * (1 - 0.4995))]
    seeded = Backoff(first=0.5, cap=30.0, spread=0.5, rand=random.Random(7).random)
    for n in range(40):
        full = min(30.0, 0.5 * 2**n)
        assert full / 2 <= seeded.next() <= full
    assert Backoff(first=0.5, cap=30.0, spread=0.0, rand=lambda: 0.9).next() == 0.5


def test_two_stations_that_failed_together_wait_differently() -> None:
    a = Backoff(first=0.5, cap=30.0, spread=0.5, rand=random.Random(1).random)
    b = Backoff(first=0.5, cap=30.0, spread=0.5, rand=random.Random(2).random)
    waits_a, waits_b = [a.next() for _ in range(8)], [b.next() for _ in range(8)]
    assert all(x != y for x, y in zip(waits_a, waits_b, strict=True))
    # after a failure that hit every station at once, what each one waits differs
    spread = [Backoff(0.5, 30.0, 0.5, random.Random(s).random).next() for s in range(50)]
    assert max(spread) - min(spread) > 0.1


def test_the_link_settings_bound_the_waits_and_bad_ones_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STATION_LINK__RETRY_MAX", "4")
    settings = load_settings().link
    assert settings == LinkSettings(retry_first=0.5, retry_max=4.0, retry_spread=0.5)
    b = Backoff.of(settings, rand=lambda: 0.0)
    assert [b.next() for _ in range(5)] == [0.5, 1, 2, 4, 4]
    with pytest.raises(ConfigError, match="retry_max"):
        load_settings(link={"retry_first": 5, "retry_max": 1})
    with pytest.raises(ConfigError, match="retry_spread"):
        load_settings(link={"retry_spread": 1.5})


class _Stop(Exception):
    """Raised by the recording sleep once enough waits were seen."""


def test_the_uploader_backs_off_while_failing_and_starts_over_after_a_send() -> None:
    """The upload loop's waits, recorded instead of slept: failures double the wait (less
    the injected random share), a batch that goes through resets it."""
    enrolment = SimpleNamespace(station_id="desk-1", centre_public=b"", scope="full")
    link = StationLink(
        None, None, None, None, enrolment,  # type: ignore[arg-type]
        settings=LinkSettings(retry_first=0.5, retry_max=3.0, retry_spread=0.5),
        rand=lambda: 0.5,
    )  # fmt: skip
    outcomes = iter(["fail"] * 5 + ["sent"] + ["fail"] * 2)
    waits: list[float] = []

    async def batch(_js: Any) -> bool:
        if next(outcomes) == "fail":
            raise ConnectionError("centre unreachable")
        return True  # busy: the loop goes straight on

    async def sleep(seconds: float, wake: Any = None) -> None:
        waits.append(seconds)
        if len(waits) == 7:
            raise _Stop

    link._upload_batch = batch  # type: ignore[method-assign]
    link._sleep = sleep  # type: ignore[method-assign]
    with pytest.raises(_Stop):
        asyncio.run(link._uploads(None))  # type: ignore[arg-type]
    assert waits == [0.375, 0.75, 1.5, 2.25, 2.25, 0.375, 0.75]
