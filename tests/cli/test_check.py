"""`station check`: typed identifiers matched and recorded; a bad one is named, nothing stored."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from station.context import StationContext
from station.db.models import Check
from station.settings import StationSettings
from tests.helpers.cli import run_station

DEMO = Path(__file__).resolve().parents[2] / "station" / "data" / "demo_register.csv"


def station(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return run_station(tmp_path, *args, stdin=stdin)


def _checks(tmp_path: Path) -> int:
    ctx = StationContext(StationSettings(data_dir=tmp_path))
    try:
        with ctx.db.session() as s:
            return s.query(Check).count()
    finally:
        ctx.close()


def test_stdin_identifiers_are_matched_and_recorded(tmp_path: Path) -> None:
    assert station(tmp_path, "register", "import", str(DEMO)).returncode == 0
    proc = station(
        tmp_path,
        "check",
        "-",
        "--json",
        "--purpose",
        "dealer_check",
        stdin="c02x-kiab-jgh5\n\n35 693803 564380 9\nNOTONREGISTER99\n",
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    verdicts = [r["verdict"] for r in doc["results"]]
    assert verdicts == ["match", "match", "no_match"]
    assert doc["results"][0]["candidates"][0]["identifier"] == "C02XK1ABJGH5"
    assert _checks(tmp_path) == 1


def test_a_bad_identifier_is_named_and_nothing_is_recorded(tmp_path: Path) -> None:
    proc = station(tmp_path, "check", "-", stdin="C02XK1ABJGH5\n\x01bad\n")
    assert proc.returncode == 2
    assert "identifier 2" in proc.stderr and "non-printable" in proc.stderr
    assert _checks(tmp_path) == 0
