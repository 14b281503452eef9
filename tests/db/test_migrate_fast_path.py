"""A database already at the newest schema is opened without loading Alembic; any other
database still goes through Alembic."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory

from station.db.engine import Database
from station.db.migrate import alembic_config, current_revision, head_revisions, is_current, upgrade
from tests.helpers.cli import run_station


def test_heads_read_from_the_files_are_alembics_heads(db: Database) -> None:
    script = ScriptDirectory.from_config(alembic_config(db))
    assert head_revisions() == frozenset(script.get_heads())


def test_only_a_database_at_the_head_counts_as_current(db_url: str) -> None:
    db = Database(db_url)
    try:
        assert not is_current(db)  # empty: no alembic_version table
        upgrade(db)
        assert is_current(db)
        command.downgrade(alembic_config(db), "-1")
        assert not is_current(db)
        upgrade(db)  # an older schema is migrated by Alembic as before
        assert current_revision(db) in head_revisions() and is_current(db)
    finally:
        db.dispose()


def test_opening_a_current_database_does_not_import_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'station.db'}"
    probe = (
        "import sys\n"
        "from station.db.engine import Database\n"
        "from station.db.migrate import upgrade\n"
        f"db = Database({url!r})\n"
        "upgrade(db)\n"
        "print(any(m == 'alembic' or m.startswith('alembic.') for m in sys.modules))\n"
    )
    runs = [
        subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
        for _ in range(2)
    ]
    assert [r.stdout.strip() for r in runs] == ["True", "False"], [r.stderr for r in runs]


def test_a_manual_check_loads_neither_opencv_nor_alembic(tmp_path: Path) -> None:
    """`station check` needs the register, not the camera stack nor the migration tool."""
    data = tmp_path / "data"
    assert run_station(data, "db", "upgrade").returncode == 0
    proc = run_station(data, "check", "C02XK1ABJGH5", "--json", PYTHONPROFILEIMPORTTIME="1")
    assert proc.returncode == 0, proc.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert "station.checks.service" in imported  # the probe itself works
    assert "cv2" not in imported
    assert not {m for m in imported if m == "alembic" or m.startswith("alembic.")}
