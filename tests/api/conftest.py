"""Fixtures: the real app on SQLite and PostgreSQL (helpers in tests/helpers/api.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from station.settings import StationSettings
from tests.helpers.api import Station, make_station


@pytest.fixture
def station(settings: StationSettings, tmp_path: Path) -> Iterator[Station]:
    """The app on SQLite and on PostgreSQL."""
    yield from make_station(settings, tmp_path)


@pytest.fixture
def sqlite_station(sqlite_settings: StationSettings, tmp_path: Path) -> Iterator[Station]:
    """The app on SQLite only (for tests whose subject is not the database)."""
    yield from make_station(sqlite_settings, tmp_path)
