"""`station check`: typed identifiers matched and recorded; a bad one is named, nothing stored."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from station.cli import app
from station.context import StationContext
from station.db.models import AuditEntry, Check
from station.db.service_models import Batch, BatchItem
from station.register import service
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
    assert "line 2" in proc.stderr and "non-printable" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert _checks(tmp_path) == 0


def _batches(tmp_path: Path) -> list[Batch]:
    ctx = StationContext(StationSettings(data_dir=tmp_path))
    try:
        with ctx.db.session() as s:
            return list(s.query(Batch).all())
    finally:
        ctx.close()


def _long_list(count: int) -> list[str]:
    """Serials not on the demo register, with two that are (one misread) among them."""
    values = [f"ZQ{n:08d}" for n in range(count)]
    values[1234 % count] = "C02XK1ABJGH5"
    values[4321 % count] = "35 693803 564380 9"
    return values


def test_five_thousand_piped_identifiers_get_five_thousand_answers_and_one_record(
    tmp_path: Path,
) -> None:
    assert station(tmp_path, "register", "import", str(DEMO)).returncode == 0
    values = _long_list(5000)
    proc = station(tmp_path, "check", "-", "--jsonl", stdin="\n".join(values) + "\n")
    assert proc.returncode == 0, proc.stderr
    answers = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(answers) == 5000
    assert [a["line"] for a in answers] == list(range(1, 5001))
    hits = {a["line"]: a["verdict"] for a in answers if a["verdict"] != "no_match"}
    assert hits == {1235: "match", 4322: "match"}
    (batch,) = _batches(tmp_path)
    assert (batch.kind, batch.state, batch.total, batch.hits) == ("list", "complete", 5000, 2)
    assert _checks(tmp_path) == 0  # one bulk record, not ten manual checks
    ctx = StationContext(StationSettings(data_dir=tmp_path))
    try:
        with ctx.db.session() as s:
            entries = s.query(AuditEntry).filter(AuditEntry.object_id == batch.id).all()
            stored = {i.seq: i.result for i in s.query(BatchItem).all()}
    finally:
        ctx.close()
    assert len(entries) == 2  # opened and closed, not one per identifier
    assert stored[1234]["matches"][0]["verdict"] == "match" and stored[0] == {}


def test_a_bad_line_in_a_long_list_is_named_and_the_rest_are_answered(tmp_path: Path) -> None:
    values = _long_list(1200)
    values[700] = "bad\x01one"
    proc = station(tmp_path, "check", "-", "--json", stdin="\n".join(values) + "\n")
    assert proc.returncode == 2
    assert "line 701" in proc.stderr and "non-printable" in proc.stderr
    assert "Traceback" not in proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["record_kind"] == "batch" and len(doc["results"]) == 1200
    assert doc["results"][700]["error"].startswith("line 701")
    (batch,) = _batches(tmp_path)
    assert batch.total == 1200 and batch.state == "complete"


def test_the_check_after_an_import_loads_the_index_the_import_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`register import` builds the index and saves it, so the first check after it loads
    it; a later import catches the saved index up instead of rebuilding it. Each command
    opens its own station, as in its own process."""
    builds: list[int] = []
    real = service.build_from_db

    def counting(*args: Any, **kwargs: Any) -> Any:
        index = real(*args, **kwargs)
        builds.append(len(index))
        return index

    monkeypatch.setattr(service, "build_from_db", counting)
    monkeypatch.setenv("STATION_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STATION_DB_URL", "")
    runner = CliRunner()

    def station_cli(*args: str) -> Any:
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, result.output
        return result

    station_cli("register", "import", str(DEMO), "--json")
    assert len(builds) == 1  # by the import, before any check
    doc = json.loads(station_cli("check", "C02XK1ABJGH5", "--json").stdout)
    assert doc["results"][0]["verdict"] == "match"
    delta = tmp_path / "delta.csv"
    delta.write_text("identifier,kind,status\nNEWSERIAL0042,serial,stolen\n")
    station_cli("register", "import", str(delta), "--json")
    doc = json.loads(station_cli("check", "NEWSERIAL0O42", "--json").stdout)  # O read for 0
    assert doc["results"][0]["verdict"] == "match"
    assert doc["results"][0]["candidates"][0]["identifier"] == "NEWSERIAL0042"
    assert len(builds) == 1  # neither the checks nor the second import built it again
