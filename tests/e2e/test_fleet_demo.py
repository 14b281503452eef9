"""The force on one machine as an operator runs it (scripts/fleet-demo.sh): `station central
serve`, nats-server and two `station serve --sim` processes; a register imported centrally
reaches both stations, and both stations' checks and self-tests reach the central page."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.postgres


def test_the_fleet_demo_shows_the_register_down_and_both_stations_checks_up(
    pg_admin_url: str, tmp_path: Path
) -> None:
    env = {**os.environ, "PYTHON": sys.executable, "PG_ADMIN": pg_admin_url, "TMPDIR": str(tmp_path)}  # fmt: skip
    run = subprocess.run(["bash", str(ROOT / "scripts" / "fleet-demo.sh")], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=1500)  # fmt: skip
    out = run.stdout
    assert run.returncode == 0, out[-3000:] + run.stderr[-3000:]
    version = re.search(r"register version (\d+) at the centre", out)
    assert version is not None, out
    for desk in ("desk-a", "desk-b"):
        assert f"ok: {desk} holds version {version[1]}" in out
        line = re.search(rf"^{desk} +register v(\d+) +records (\d+) +backlog (\d+) +chain (\w+) +"
                         r"self-test (\w+) +lamps: (.*)$", out, re.M)  # fmt: skip
        assert line is not None, out
        assert line.groups()[:5] == (version[1], "1", "0", "ok", "passed")
        assert "uv_lamp ok" in line[6]
    assert "force-wide: booked_in 0, checked 2, marked 0, matched 2" in out
    assert "alerts: 0" in out
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith("fleet-demo.")]
    assert leftovers == []  # it removed what it made
