"""Registers in the database and the index kept in step with them (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest

import station.register.service as registry
from station.db.engine import Database
from station.errors import RegisterImportError
from station.register.service import DEMO_REGISTER, RegisterMatcher
from station.settings import MatcherSettings


def test_import_is_idempotent_and_versioned(db: Database, tmp_path: Path) -> None:
    m = RegisterMatcher(db, MatcherSettings(), tmp_path / "index")
    first = m.import_file(DEMO_REGISTER, source="demo")
    assert first["added"] == 10 and first["version"] == 1
    again = m.import_file(DEMO_REGISTER, source="demo")
    assert (again["added"], again["updated"], again["withdrawn"]) == (0, 0, 0)
    assert again["version"] == 2
    assert m.stats()["entries"] == 10
    assert m.version == 2  # the index answers for the newest register version


def test_withdrawal_in_another_process_reaches_a_running_matcher(
    db: Database, tmp_path: Path
) -> None:
    desk = RegisterMatcher(db, MatcherSettings(), tmp_path / "index")
    desk.import_file(DEMO_REGISTER, source="demo")
    assert desk.lookup("C02XK1ABJGH5").verdict == "match"
    delta = tmp_path / "delta.csv"
    delta.write_text("identifier,kind,status,action\nC02XK1ABJGH5,serial,stolen,withdraw\n")
    central = RegisterMatcher(db, MatcherSettings(), None)
    assert central.import_file(delta, source="demo")["withdrawn"] == 1
    assert desk.lookup("C02XK1ABJGH5").verdict == "no_match"
    assert desk.lookup("356938035643809").verdict == "match"


def test_restart_loads_the_saved_index_instead_of_rebuilding(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = RegisterMatcher(db, MatcherSettings(), tmp_path / "index")
    first.import_file(DEMO_REGISTER, source="demo")
    assert first.lookup("C02XK1ABJGH5").verdict == "match"
    assert (tmp_path / "index").is_dir()

    def no_rebuild(*_a: object, **_k: object) -> None:
        raise AssertionError("the index was rebuilt although a saved one was current")

    monkeypatch.setattr(registry, "build_from_db", no_rebuild)
    restarted = RegisterMatcher(db, MatcherSettings(), tmp_path / "index")
    result = restarted.lookup("C02XKIABJGH5")  # 1 read as I
    assert result.verdict == "match" and result.candidates[0].identifier == "C02XK1ABJGH5"


def test_corrupt_saved_index_is_rebuilt(db: Database, tmp_path: Path) -> None:
    m = RegisterMatcher(db, MatcherSettings(), tmp_path / "index")
    m.import_file(DEMO_REGISTER, source="demo")
    m.lookup("X1234567")
    for f in (tmp_path / "index").rglob("*"):
        if f.is_file():
            f.write_bytes(b"garbage")
    again = RegisterMatcher(db, MatcherSettings(), tmp_path / "index")
    assert again.lookup("C02XK1ABJGH5").verdict == "match"


def test_bad_file_stores_nothing(db: Database, tmp_path: Path) -> None:
    m = RegisterMatcher(db, MatcherSettings(), None)
    m.import_file(DEMO_REGISTER, source="demo")
    before = m.stats()
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "identifier,kind,status\nNEWSERIAL123,serial,stolen\n,imei,stolen\nOTHER99887,serial,lost\n"
    )
    with pytest.raises(RegisterImportError) as info:
        m.import_file(bad, source="demo")
    assert [line for line, _ in info.value.problems] == [3]
    assert m.stats() == before
    assert m.lookup("NEWSERIAL123").verdict == "no_match"
