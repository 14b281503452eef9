"""A station's app lets go of what it holds when its lifespan ends."""

from __future__ import annotations

import gc
import os
from pathlib import Path

from station.settings import StationSettings
from tests.helpers.api import make_station


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_stopped_stations_release_their_index_files(tmp_path: Path) -> None:
    """Each served index is memory-mapped, one open descriptor per array: a process that
    opens station after station (tests, tools) must not pile them up (pyserial's select()
    fails once descriptors pass 1024)."""

    def one_station(n: int) -> None:
        home = tmp_path / f"s{n}"
        home.mkdir()
        settings = StationSettings(data_dir=home / "data", db_url=f"sqlite:///{home / 's.db'}")
        stations = make_station(settings, home)
        station = next(stations)
        station.load_register()
        assert station.state.ctx.matcher.index().version >= 1
        stations.close()  # the lifespan's exit, as at the end of a test

    one_station(0)  # first use: imports, caches and pools that stay for the process
    gc.collect()
    before = _open_descriptors()
    for n in range(1, 4):
        one_station(n)
    gc.collect()
    assert _open_descriptors() - before < 8
