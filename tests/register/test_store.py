"""Streamed imports: blocks parsed in worker processes, staged, applied as one ordered diff."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from sqlalchemy import func, select

import station.register.importer as importer
from station.db.engine import Database
from station.db.models import RegisterEntry, RegisterImport
from station.errors import RegisterImportError
from station.register.service import RegisterMatcher
from station.settings import MatcherSettings

HEADER = "identifier,kind,status,category,brand,model,crime_ref,force,reported_on,action"
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"


def _serials(n: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    return ["".join(rnd.choice(LETTERS) for _ in range(12)) for _ in range(n)]


def _register(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def in_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any file goes to the worker pool, in blocks of the smallest size."""
    monkeypatch.setattr(importer, "PARALLEL_BYTES", 0)
    monkeypatch.setattr(importer, "BLOCK_BYTES", 1)


def _stored(db: Database) -> dict[str, tuple[object, ...]]:
    with db.session() as s:
        rows = s.execute(
            select(
                RegisterEntry.identifier,
                RegisterEntry.status,
                RegisterEntry.category,
                RegisterEntry.crime_ref,
                RegisterEntry.reported_on,
                RegisterEntry.withdrawn,
                RegisterEntry.version,
            )
        ).all()
    return {r[0]: tuple(r[1:]) for r in rows}


def test_a_file_parsed_in_workers_is_stored_whole_and_reimport_touches_nothing(
    db: Database, tmp_path: Path, in_workers: None
) -> None:
    idents = _serials(4000, seed=1)
    lines = [
        f"{s},serial,stolen,laptop,Acme,X1,CR/{i}/26,Met,2026-01-02," for i, s in enumerate(idents)
    ]
    # a quoted field with a line break inside: a block must never end in the middle of it
    lines[2100] = f'{idents[2100]},serial,stolen,"laptop\nwith bag",Acme,X1,CR/2100/26,Met,,'
    f = _register(tmp_path / "reg.csv", lines)
    m = RegisterMatcher(db, MatcherSettings(), None)
    first = m.import_file(f, source="pnc")
    assert (first["added"], first["updated"], first["rows"]) == (4000, 0, 4000)
    stored = _stored(db)
    assert len(stored) == 4000
    assert stored[idents[2100]][1] == "laptop with bag"
    assert stored[idents[0]][2] == "CR/0/26" and str(stored[idents[0]][3]) == "2026-01-02"
    again = m.import_file(f, source="pnc")
    assert (again["added"], again["updated"], again["withdrawn"]) == (0, 0, 0)
    assert _stored(db) == stored  # not one row carries the new version
    assert m.lookup(idents[3999]).verdict == "match"


def test_changes_updates_and_withdrawals_touch_only_their_rows(
    db: Database, tmp_path: Path, in_workers: None
) -> None:
    idents = _serials(3000, seed=2)
    base = [f"{s},serial,stolen,laptop,Acme,X1,CR/{i}/26,Met,," for i, s in enumerate(idents)]
    m = RegisterMatcher(db, MatcherSettings(), None)
    v1 = m.import_file(_register(tmp_path / "a.csv", base), source="pnc")["version"]
    delta = [
        f"{idents[5]},serial,recovered,,,,,,,update",  # only the status changes
        f"{idents[6]},serial,,,,,,,,withdraw",
        f"{idents[7]},serial,stolen,laptop,Acme,X1,CR/7/26,Met,,",  # the same: untouched
        "NEWSERIAL0001,serial,lost,phone,,,,,,",
    ]
    out = m.import_file(_register(tmp_path / "b.csv", delta), source="pnc")
    assert (out["added"], out["updated"], out["withdrawn"]) == (1, 1, 1)
    stored = _stored(db)
    assert stored[idents[5]][:2] == ("recovered", "laptop")  # an update keeps what it omits
    assert stored[idents[6]][4] is True
    with db.session() as s:
        touched = s.execute(
            select(RegisterEntry.identifier).where(RegisterEntry.version > v1)
        ).scalars()
        assert sorted(touched) == sorted(["NEWSERIAL0001", idents[5], idents[6]])
    back = m.import_file(_register(tmp_path / "c.csv", [base[6]]), source="pnc")
    assert back["updated"] == 1 and _stored(db)[idents[6]][4] is False


def test_a_repeat_far_apart_and_late_bad_rows_are_named_and_nothing_is_stored(
    db: Database, tmp_path: Path, in_workers: None
) -> None:
    idents = _serials(3000, seed=3)
    lines = [f"{s},serial,stolen,,,,,,," for s in idents]
    lines[2500] = lines[10]  # the same identifier 2,490 lines later, in another block
    lines[2900] = "356938035643808,imei,stolen,,,,,,,"  # Luhn fails
    m = RegisterMatcher(db, MatcherSettings(), None)
    with pytest.raises(RegisterImportError) as err:
        m.import_file(_register(tmp_path / "bad.csv", lines), source="pnc")
    problems = dict(err.value.problems)
    assert sorted(problems) == [2502, 2902]
    assert "first on line 12" in problems[2502]
    assert "Luhn" in problems[2902]
    with db.session() as s:
        assert s.execute(select(func.count()).select_from(RegisterEntry)).scalar_one() == 0
        assert s.execute(select(func.count()).select_from(RegisterImport)).scalar_one() == 0


def test_a_file_that_is_not_utf8_is_refused_by_line(
    db: Database, tmp_path: Path, in_workers: None
) -> None:
    idents = _serials(2000, seed=4)
    body = "\n".join([HEADER, *[f"{s},serial,stolen,,,,,,," for s in idents]]).encode()
    cut = body.index(idents[1500].encode())
    f = tmp_path / "latin1.csv"
    f.write_bytes(body[:cut] + b"caf\xe9" + body[cut:] + b"\n")
    with pytest.raises(RegisterImportError) as err:
        RegisterMatcher(db, MatcherSettings(), None).import_file(f, source="pnc")
    assert err.value.problems == [(1502, "not UTF-8")]
