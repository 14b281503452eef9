"""The matcher's machine code is compiled once and serves every later process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from station.matcher import RegisterIndex, RegisterRecord
from station.matcher.jit import cache_dir_for

LOAD_AND_LOOK_UP = """
import json, sys
from station.matcher.index import RegisterIndex
from station.matcher.jit import compile_misses
index = RegisterIndex.load(sys.argv[1])
single = index.lookup("C02XKIABJGH5").verdict
bulk = [r.verdict for r in index.lookup_many(["C02XK1ABJGH5", "NOTHERE123", "C02XK1"])]
print(json.dumps({"single": single, "bulk": bulk, "compiled": compile_misses()}))
"""


def test_a_process_that_loads_a_saved_index_compiles_nothing(tmp_path: Path) -> None:
    """Arrays mapped from disk have the types of arrays built in memory: one cache serves both."""
    index = RegisterIndex.build(
        [
            RegisterRecord(1, "C02XK1ABJGH5", "serial", "stolen"),
            RegisterRecord(2, "356938035643809", "imei", "lost"),
        ]
    )
    index.lookup("C02XK1ABJGH5")
    index.save(tmp_path / "index")
    proc = subprocess.run(
        [sys.executable, "-c", LOAD_AND_LOOK_UP, str(tmp_path / "index")],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["single"] == "match" and doc["bulk"] == ["match", "no_match", "possible_match"]
    assert doc["compiled"] == 0


def test_the_cache_lives_in_the_data_directory_unless_set(tmp_path: Path) -> None:
    show = (
        "import pathlib, sys; from station.matcher.jit import configure_cache; "
        "print(configure_cache(pathlib.Path(sys.argv[1])))"
    )
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    own = subprocess.run(
        [sys.executable, "-c", show, str(tmp_path)], capture_output=True, text=True, env=env
    )
    assert own.stdout.strip() == str(cache_dir_for(tmp_path))
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "elsewhere")
    given = subprocess.run(
        [sys.executable, "-c", show, str(tmp_path)], capture_output=True, text=True, env=env
    )
    assert given.stdout.strip() == str(tmp_path / "elsewhere")
