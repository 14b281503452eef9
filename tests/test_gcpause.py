"""The cycle collector is paused inside a bulk block and left as it was found afterwards."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from station.gcpause import collector_paused


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_paused_inside_and_back_on_after(collector_on: None) -> None:
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_back_on_after_an_error(collector_on: None) -> None:
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("a bad row")
    assert gc.isenabled()


def test_nested_pauses_end_on_and_an_off_collector_stays_off(collector_on: None) -> None:
    with collector_paused():
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled(), "the inner block switched the collector on early"
    assert gc.isenabled()
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled(), "a collector that was off was switched on"
    gc.enable()
