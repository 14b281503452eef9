"""A station link in a process of its own that SIGKILLs itself right after the server has
stored its first message and before the station marks it: the worst moment to die.

Run as ``python -m tests.helpers.station_proc DATA_DIR`` (the station must be enrolled)."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

from station.context import StationContext
from station.fleet.enrolment import Enrolment
from station.fleet.uploader import StationLink
from station.records.signing import StationKey
from station.settings import StationSettings


def main(data_dir: Path) -> None:
    settings = StationSettings(data_dir=data_dir, db_url=f"sqlite:///{data_dir / 'station.db'}")
    ctx = StationContext(settings)
    enrolment = Enrolment.load(data_dir)
    assert enrolment is not None
    link = StationLink(
        ctx.db, ctx.images, ctx.matcher, StationKey.load_or_create(data_dir), enrolment
    )
    link.after_server_ack = lambda _item: os.kill(os.getpid(), signal.SIGKILL)
    link.start()
    threading.Event().wait()  # until the kill


if __name__ == "__main__":
    main(Path(sys.argv[1]))
