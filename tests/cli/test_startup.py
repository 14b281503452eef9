"""A one-shot command imports only what it needs: no camera, vision, OCR, compiler or web stack
for `station check`, so it starts in about a second (timed by benchmarks/startup_bench.py)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers.cli import run_station, run_station_loaded

DEMO = Path(__file__).resolve().parents[2] / "station" / "data" / "demo_register.csv"

#: what a look-up never needs: vision and OCR, the kernels' compiler, the web service,
#: migrations (the schema is current), the simulator, and rich (nothing to draw for --json)
NOT_FOR_A_CHECK = {
    "cv2",
    "onnxruntime",
    "rapidocr_onnxruntime",
    "zxingcpp",
    "numba",
    "llvmlite",
    "fastapi",
    "starlette",
    "uvicorn",
    "alembic",
    "hw_sim",
    "rich",
}


def test_help_loads_neither_the_database_nor_numpy(tmp_path: Path) -> None:
    proc, loaded = run_station_loaded(tmp_path, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "check" in proc.stdout
    # typer draws its help with rich
    assert not loaded & (NOT_FOR_A_CHECK - {"rich"} | {"sqlalchemy", "numpy", "cryptography"})


def test_a_check_loads_no_vision_compiler_or_web_stack(tmp_path: Path) -> None:
    # the import saves the register's index, so even the first check after it only loads it
    assert run_station(tmp_path, "register", "import", str(DEMO)).returncode == 0
    proc, loaded = run_station_loaded(tmp_path, "check", "C02XK1ABJGH5", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["results"][0]["verdict"] == "match"
    assert "sqlalchemy" in loaded and "numpy" in loaded  # the probe sees what a check uses
    assert not loaded & NOT_FOR_A_CHECK, sorted(loaded & NOT_FOR_A_CHECK)
