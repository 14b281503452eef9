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


def _luhn_completed(body: str) -> str:
    """A 14-digit body with its Luhn check digit (written out, independent of the matcher)."""
    total = 0
    for i, c in enumerate(reversed(body)):
        d = int(c) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return body + str((10 - total % 10) % 10)


def test_verdicts_on_a_register_of_one_phone_model_and_short_serials(
    db: Database, tmp_path: Path
) -> None:
    """Imported like any register, then looked up through the matcher the API and CLI use:
    a neighbouring handset of the same model and the next short serial are not matches."""
    phones = [_luhn_completed(f"35693803{n:06d}") for n in range(100000, 100600, 3)]
    rows = [f"{p},imei,stolen,phone,Acme,X1,CR/{i},Kent,2026-08-30" for i, p in enumerate(phones)]
    rows += ["481516,serial,stolen,tool,Acme,Drill,CR/S1,Kent,2026-08-30"]
    path = tmp_path / "register.csv"
    path.write_text(
        "identifier,kind,status,category,brand,model,crime_ref,force,reported_on\n"
        + "\n".join(rows)
        + "\n"
    )
    m = RegisterMatcher(db, MatcherSettings(), tmp_path / "index")
    m.import_file(path, source="force")
    assert m.lookup(phones[7]).verdict == "match"
    neighbour = _luhn_completed(phones[7][:13] + str((int(phones[7][13]) + 1) % 10))
    assert neighbour not in phones
    assert m.lookup(neighbour).verdict == "no_match"
    misread = phones[7][:14] + str((int(phones[7][14]) + 5) % 10)  # fails its check digit
    r = m.lookup(misread)
    assert r.verdict == "possible_match"
    assert r.candidates[0].identifier == phones[7]
    assert m.lookup("481517").verdict == "no_match"
    assert m.lookup("481516").verdict == "match"
    many = m.lookup_many([phones[7], neighbour, misread, "481517"])
    assert [x.verdict for x in many] == ["match", "no_match", "possible_match", "no_match"]


def test_a_large_import_rebuilds_the_index_and_a_small_one_catches_it_up(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bulk import is rebuilt packed (caught up entry by entry it would sit in the overlay as
    objects: gigabytes for a million rows); a few changes are caught up in the overlay."""
    monkeypatch.setattr(registry, "REBUILD_FROM", 40)
    m = RegisterMatcher(db, MatcherSettings(), tmp_path / "index")

    def register(name: str, serials: list[str]) -> Path:
        path = tmp_path / name
        path.write_text(
            "identifier,kind,status\n" + "".join(f"{s},serial,stolen\n" for s in serials)
        )
        return path

    m.import_file(register("a.csv", [f"AAQ{i:07d}" for i in range(100)]), source="a")
    assert m.lookup("AAQ0000007").verdict == "match"
    m.import_file(register("b.csv", [f"BBQ{i:07d}" for i in range(10)]), source="b")
    assert m.lookup("BBQ0000003").verdict == "match"
    assert len(m.index()._state.overlay) == 10  # ten changes: caught up
    m.import_file(register("c.csv", [f"CCQ{i:07d}" for i in range(60)]), source="c")
    assert m.lookup("CCQ0000059").verdict == "match"
    assert m.lookup("BBQ0000003").verdict == "match"
    index = m.index()
    assert len(index._state.overlay) == 0 and len(index) == 170  # sixty: rebuilt, all packed
