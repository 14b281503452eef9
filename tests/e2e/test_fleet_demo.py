"""The force on one machine as an operator runs it (scripts/fleet-demo.sh): `station central
serve`, nats-server and two `station serve --sim` processes; a register imported centrally
reaches both stations, and both stations' checks and self-tests reach the central page."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
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
    # and stopped what it started: no process left whose environment names its folder (the
    # servers, their decoder workers, nats-server); a stopping process gets a little while
    deadline = time.monotonic() + 60
    while (running := _processes_naming(str(tmp_path))) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert running == [], running


def _processes_naming(folder: str) -> list[str]:
    """Command lines of the processes whose environment mentions ``folder``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if folder.encode() in (proc / "environ").read_bytes():
                found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found
