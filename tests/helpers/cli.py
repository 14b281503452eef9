"""Run the real `station` command in a subprocess, as an operator would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_station(
    data_dir: Path, *args: str, stdin: str = "", db_url: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    """`station ARGS` with its data in ``data_dir`` (SQLite there unless ``db_url``)."""
    return subprocess.run(
        [sys.executable, "-m", "station", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, "STATION_DATA_DIR": str(data_dir), "STATION_DB_URL": db_url, **env},
        timeout=300,
    )


#: runs `station ARGS` in this interpreter, then prints the top-level modules it loaded
_LOADED_PROBE = """
import atexit, json, runpy, sys

def report():
    sys.stderr.write("\\nLOADED " + json.dumps(sorted({m.split(".")[0] for m in sys.modules})))

atexit.register(report)
sys.argv = ["station", *sys.argv[1:]]
runpy.run_module("station", run_name="__main__", alter_sys=True)
"""


def run_station_loaded(
    data_dir: Path, *args: str, **env: str
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """`station ARGS` as :func:`run_station`, and the top-level packages the process imported."""
    proc = subprocess.run(
        [sys.executable, "-c", _LOADED_PROBE, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "STATION_DATA_DIR": str(data_dir), "STATION_DB_URL": "", **env},
        timeout=300,
    )
    head, marker, loaded = proc.stderr.rpartition("\nLOADED ")
    assert marker, f"the process did not report its modules:\n{proc.stderr}"
    import json

    proc.stderr = head
    return proc, set(json.loads(loaded))
