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
