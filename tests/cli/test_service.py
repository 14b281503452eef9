"""`station user` and `station evidence` through the real command line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from station.auth.users import UserStore
from station.context import StationContext
from station.settings import StationSettings
from tests.helpers.cli import run_station


def _station(tmp: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return run_station(
        tmp / "data",
        *args,
        stdin=stdin,
        db_url=f"sqlite:///{tmp / 'cli.db'}",
        STATION_OFFICER="op-1",
    )


def test_first_admin_token_and_evidence_from_the_cli(tmp_path: Path) -> None:
    made = _station(
        tmp_path,
        "user",
        "add",
        "chief",
        "--role",
        "admin",
        "--password-stdin",
        stdin="long enough password\n",
    )
    assert made.returncode == 0, made.stderr
    bad = _station(
        tmp_path,
        "user",
        "add",
        "x",
        "--role",
        "wizard",
        "--password-stdin",
        stdin="long enough password\n",
    )
    assert bad.returncode == 2 and "wizard" in bad.stderr
    token = _station(tmp_path, "user", "token", "chief").stdout.strip()
    settings = StationSettings(
        data_dir=tmp_path / "data", db_url=f"sqlite:///{tmp_path / 'cli.db'}"
    )
    ctx = StationContext(settings)
    try:
        who = UserStore(ctx.db).resolve(token)
        assert who is not None and who.role == "admin"
        assert UserStore(ctx.db).authenticate("chief", "long enough password") is not None
    finally:
        ctx.close()
    check = _station(tmp_path, "check", "ABC12345", "--json")
    assert check.returncode == 0, check.stderr
    record = json.loads(check.stdout)["record_id"]
    out = tmp_path / "bundle.zip"
    exp = _station(tmp_path, "evidence", "export", record, "--recipient", "CPS", "-o", str(out))
    assert exp.returncode == 0, exp.stderr
    # the bundle is checked against the station's public key, as the force's key list holds it
    keys = tmp_path / "force-keys.txt"
    keys.write_text(_station(tmp_path, "evidence", "key").stdout)
    ver = _station(tmp_path, "evidence", "verify", str(out), "--keys", str(keys), "--json")
    assert ver.returncode == 0 and json.loads(ver.stdout)["check_id"] == record
    out.write_bytes(out.read_bytes()[:-40])
    assert _station(tmp_path, "evidence", "verify", str(out), "--keys", str(keys)).returncode == 1
