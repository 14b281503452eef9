"""Pausing Python's cycle collector over bulk work that builds many small objects.

Reading a 100,000-row spreadsheet or checking it chunk by chunk creates hundreds of thousands
of lists, dicts and strings that all live until the chunk is stored. Each of the collector's
full passes walks every tracked object of the process (SQLAlchemy, pydantic and the index's
modules included), and a growing heap triggers several of them: measured on a 100,000-row
clearance, about a third of the CPU time of the batch. Reference counting still frees
everything that is not in a cycle while the collector is paused; cycles wait for the next pass.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block; the previous state afterwards.

    The collector's switch is per process: when two threads pause it at once, the first to
    leave may switch it back on early (slower, never wrong), and it ends on whenever it was
    on when the first of them entered.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
