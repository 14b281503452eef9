"""Where the matcher's compiled kernels are cached, and compiling them before a check needs them.

numba compiles each kernel once per (signature, CPU, numba version) and keeps the machine code
in a cache directory. The station keeps that cache in its data directory (it survives upgrades
of the package; numba itself recompiles when the kernels' source, the CPU or the numba version
changes) and fills it at install (`station warm`) and at `station serve` start, before the
server reports ready, so no check ever waits on the compiler.

The cache directory must be chosen before numba is imported: :func:`configure_cache` is
called by :class:`~station.context.StationContext` and, as a fallback, when the kernels are
first imported.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

#: environment variable numba reads its cache directory from
CACHE_ENV = "NUMBA_CACHE_DIR"
_warmed = False


def warmed() -> bool:
    """True once :func:`warm` ran in this process: single look-ups may use compiled code.

    A long-running server warms at start, so its single look-ups take the compiled kernel
    (tens of microseconds); a one-shot command never warms and probes with numpy instead,
    so it neither imports numba nor loads machine code.
    """
    return _warmed


def cache_dir_for(data_dir: Path) -> Path:
    """The kernel cache of a station whose data lives in ``data_dir``."""
    return (data_dir / "cache" / "kernels").resolve()


def configure_cache(data_dir: Path | None = None) -> Path | None:
    """Point numba's cache at the data directory unless it is already set or numba loaded.

    Returns the directory in use (None when numba was imported first with its default).
    """
    current = os.environ.get(CACHE_ENV)
    if current:
        return Path(current)
    if "numba" in sys.modules:
        return None
    if data_dir is None:
        data_dir = Path(os.environ.get("STATION_DATA_DIR") or "var")
    path = cache_dir_for(data_dir)
    os.environ[CACHE_ENV] = str(path)
    return path


def compile_misses() -> int:
    """Kernel signatures this process compiled instead of loading them from the cache."""
    from station.matcher import kernels

    total = 0
    for name in kernels.DISPATCHERS:
        stats = getattr(kernels, name).stats
        total += sum(stats.cache_misses.values())
    return total


def _exercise_single_kernels(index: Any) -> None:
    """The one-query kernels: the bulk search's re-search of a crowded query, and tests."""
    import numpy as np

    from station.matcher import kernels
    from station.matcher.arrays import CODES, FOLD, frozen

    state = index._state  # the layers, as the index's own bulk path passes them
    base = state.base
    base.fuzzy_compiled(b"C02XK1ABJGH5", 2, state.dead, 8)
    a = base.arrays
    kernels.partial_one(
        np.frombuffer(b"C02XK1", dtype=np.uint8),
        a["value"],
        a["voff"],
        FOLD,
        CODES,
        a["pre_key"],
        a["pre_slot"],
        frozen(state.dead),
        False,
        8,
    )


def warm() -> dict[str, Any]:
    """Compile (or load from the cache) every kernel signature a station uses.

    Runs the real build, save, load and look-up paths on a tiny register, so the signatures
    are exactly those of production: arrays built in this process and arrays mapped from
    disk have the same types (see :class:`~station.matcher.arrays.ArrayIndex`).
    """
    t0 = time.perf_counter()
    from station.matcher.index import RegisterIndex
    from station.matcher.records import RegisterRecord

    imported = time.perf_counter()
    records = [
        RegisterRecord(1, "356938035643809", "imei", "stolen", "CR/1", "warm"),
        RegisterRecord(2, "C02XK1ABJGH5", "serial", "stolen", None, None),
        RegisterRecord(3, "SW-7K3M-9QX2-4", "mark_code", "registered-owner", None, None),
        RegisterRecord(4, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123", "serial", "lost", None, None),
    ]
    built = RegisterIndex.build(records)
    with tempfile.TemporaryDirectory(prefix="station-warm-") as tmp:
        built.save(Path(tmp) / "index")
        loaded = RegisterIndex.load(Path(tmp) / "index")
        queries = ["C02XKIABJGH5", "35693803564380", "ABCDEFGHIJKLMNOPQRSTUVWXYZ012", "C02XK"]
        for index in (built, loaded):
            for q in queries:
                index.lookup(q)
            index.lookup_many(queries)
            index.search_many(queries)
            index.screen_many(queries)
            _exercise_single_kernels(index)
    global _warmed
    _warmed = True
    return {
        "cache_dir": os.environ.get(CACHE_ENV, ""),
        "import_s": round(imported - t0, 3),
        "warm_s": round(time.perf_counter() - imported, 3),
        "compiled": compile_misses(),
    }
