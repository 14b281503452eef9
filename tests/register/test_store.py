"""Streamed imports: blocks parsed in worker processes, staged, applied as one ordered diff."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from sqlalchemy import Connection, func, select

import station.register.importer as importer
import station.register.store as store
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


def _left(scratch: Path) -> list[Path]:
    """What an import left in the temporary folder (the worker pool's own socket folder,
    made once per process, aside)."""
    return [p for p in scratch.iterdir() if not p.name.startswith("pymp-")]


def test_workers_scratch_files_go_with_the_import_good_or_bad(
    db: Database, tmp_path: Path, in_workers: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    attached: list[Path] = []
    attach = store._attach

    def seen(conn: Connection, files: list[Path]) -> list[str]:
        attached.extend(files)
        return attach(conn, files)

    monkeypatch.setattr(store, "_attach", seen)
    idents = _serials(2000, seed=5)
    lines = [f"{s},serial,stolen,,,,,,," for s in idents]
    m = RegisterMatcher(db, MatcherSettings(), None)
    assert m.import_file(_register(tmp_path / "good.csv", lines), source="pnc")["added"] == 2000
    if db.dialect == "sqlite":  # the workers staged their rows in files there
        assert attached and all(scratch in f.parents for f in attached)
    assert _left(scratch) == []
    lines[1999] = lines[0]
    with pytest.raises(RegisterImportError):
        m.import_file(_register(tmp_path / "bad.csv", lines), source="pnc")
    assert _left(scratch) == []
    assert len(_stored(db)) == 2000


def test_a_sources_first_import_beside_another_and_every_repeat_named(
    db: Database, tmp_path: Path, in_workers: None
) -> None:
    idents = _serials(1500, seed=6)
    m = RegisterMatcher(db, MatcherSettings(), None)
    m.import_file(
        _register(tmp_path / "a.csv", [f"{s},serial,stolen,,,,,,," for s in idents]), "pnc"
    )
    # the first import of another source: the same identifiers are its own entries; an
    # update of an entry it does not hold adds it, a withdrawal of one is a no-op
    other = [f"{s},serial,lost,,,,,,," for s in idents[:1000]]
    other += [f"{idents[1000]},serial,lost,,,,,,,update", f"{idents[1001]},serial,,,,,,,,withdraw"]
    out = m.import_file(_register(tmp_path / "b.csv", other), source="nmpr")
    assert (out["added"], out["updated"], out["withdrawn"]) == (1001, 0, 0)
    with db.session() as s:
        counts = dict(
            s.execute(
                select(RegisterEntry.source, func.count()).group_by(RegisterEntry.source)
            ).all()
        )
    assert counts == {"pnc": 1500, "nmpr": 1001}
    thrice = [f"{s},serial,stolen,,,,,,," for s in idents[:1200]]
    thrice[700] = thrice[1100] = thrice[50]
    with pytest.raises(RegisterImportError) as err:
        m.import_file(_register(tmp_path / "c.csv", thrice), source="pnc")
    assert err.value.problems == [
        (702, f"{idents[50]} appears again (first on line 52)"),
        (1102, f"{idents[50]} appears again (first on line 52)"),
    ]


def _entries(db: Database, source: str) -> dict[tuple[str, str], tuple[object, ...]]:
    """Every entry of a source, keyed by (kind, identifier): all that an import writes but the
    id, the source, the version and the time."""
    skip = {"id", "identifier", "kind", "source", "version", "updated_at"}
    columns = [c for c in RegisterEntry.__table__.columns if c.name not in skip]
    with db.session() as s:
        rows = s.execute(
            select(RegisterEntry.kind, RegisterEntry.identifier, *columns).where(
                RegisterEntry.source == source
            )
        ).all()
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


@pytest.mark.postgres
def test_a_first_import_on_postgresql_goes_straight_in_and_stores_what_the_staged_one_does(
    pg_url: str, tmp_path: Path, in_workers: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from station.db.migrate import upgrade

    db = Database(pg_url)
    upgrade(db)
    idents = _serials(2500, seed=7)
    header = HEADER + ",owner_applied_number,kit_type,owner_ref,owner_name"
    lines = [
        f"{s},serial,{('stolen', 'lost')[i % 2]},bike,Acme,M{i % 7},CR/{i}/26,Met,"
        f"{'2026-01-0' + str(1 + i % 9) if i % 3 else ''},{'update' if i % 11 == 0 else ''},"
        f"{'OAN' + str(i) if i % 5 == 0 else ''},,,"
        for i, s in enumerate(idents)
    ]
    lines[7] = f'{idents[7]},serial,stolen,"back\\slash, tab\tand ""quotes""",,,,,,,,,O1,Ann Lee'
    lines.append("356938035643809,imei,stolen,phone,,,,,,,,,O1,Ann Lee")
    f = tmp_path / "reg.csv"
    f.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    staged: list[str] = []
    real_staged = store._import_staged

    def spy(*args: object) -> dict[str, object]:
        staged.append("staged")
        return real_staged(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "_import_staged", spy)
    m = RegisterMatcher(db, MatcherSettings(), None)
    straight = m.import_file(f, source="a")
    assert staged == []  # the rows went straight into the register
    monkeypatch.setattr(store, "_import_straight", lambda *args: None)
    other = m.import_file(f, source="b")
    assert staged == ["staged"]
    assert (straight["added"], straight["rows"], straight["owners"]) == (2501, 2501, 1)
    assert {k: other[k] for k in ("added", "updated", "withdrawn", "rows", "owners")} == {
        k: straight[k] for k in ("added", "updated", "withdrawn", "rows", "owners")
    }
    a, b = _entries(db, "a"), _entries(db, "b")
    assert len(a) == 2501 and a == b
    assert a["serial", idents[7]][1] == 'back\\slash, tab and "quotes"'
    with db.session() as s:
        versions = s.execute(
            select(RegisterEntry.source, func.min(RegisterEntry.version), func.count())
            .group_by(RegisterEntry.source)
            .order_by(RegisterEntry.source)
        ).all()
    assert [tuple(v) for v in versions] == [
        ("a", straight["version"], 2501),
        ("b", other["version"], 2501),
    ]
    db.dispose()


@pytest.mark.postgres
def test_a_first_import_that_repeats_an_identifier_is_refused_by_line_after_trying_straight(
    pg_url: str, tmp_path: Path, in_workers: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from station.db.migrate import upgrade

    db = Database(pg_url)
    upgrade(db)
    tried: list[object] = []
    real = store._import_straight

    def spy(*args: object) -> object:
        tried.append(real(*args))  # type: ignore[arg-type]
        return tried[-1]

    monkeypatch.setattr(store, "_import_straight", spy)
    idents = _serials(2000, seed=8)
    lines = [f"{s},serial,stolen,,,,,,," for s in idents]
    lines[1900] = lines[3]  # only the key index sees this one
    m = RegisterMatcher(db, MatcherSettings(), None)
    with pytest.raises(RegisterImportError) as err:
        m.import_file(_register(tmp_path / "bad.csv", lines), source="pnc")
    assert tried == [None]  # tried straight, then staged to name the problem
    assert err.value.problems == [(1902, f"{idents[3]} appears again (first on line 5)")]
    with db.session() as s:
        assert s.execute(select(func.count()).select_from(RegisterEntry)).scalar_one() == 0
        assert s.execute(select(func.count()).select_from(RegisterImport)).scalar_one() == 0
    db.dispose()


def test_readers_are_never_blocked_by_an_import(
    db: Database, tmp_path: Path, in_workers: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stations go on checking items while a register is imported: a reader that would wait
    for a lock longer than a second fails, mid-file and inside the import's write
    transaction, for a first import and for one that changes entries."""
    reader_db = Database(db.url)
    seen: list[tuple[int, int]] = []

    def read() -> None:
        with reader_db.engine.connect() as conn:
            if reader_db.dialect == "postgresql":
                conn.exec_driver_sql("SET lock_timeout = '1s'")
            else:
                conn.exec_driver_sql("PRAGMA busy_timeout = 1000")
            entries = conn.execute(select(func.count()).select_from(RegisterEntry)).scalar_one()
            version = conn.execute(select(func.count()).select_from(RegisterImport)).scalar_one()
            seen.append((entries, version))

    real_chunks = importer.RegisterReader.chunks

    def chunks(self: importer.RegisterReader, *args: object, **kwargs: object) -> object:
        for n, chunk in enumerate(real_chunks(self, *args, **kwargs)):  # type: ignore[arg-type]
            yield chunk
            if n == 0:  # the first chunk is written: the import is under way
                read()

    real_apply = store._apply

    def apply(*args: object) -> dict[str, int]:
        counts = real_apply(*args)  # type: ignore[arg-type]
        read()  # the diff is written, not committed
        return counts

    monkeypatch.setattr(importer.RegisterReader, "chunks", chunks)
    monkeypatch.setattr(store, "_apply", apply)
    idents = _serials(6000, seed=9)
    m = RegisterMatcher(db, MatcherSettings(), None)
    lines = [f"{s},serial,stolen,,,,,,," for s in idents]
    m.import_file(_register(tmp_path / "a.csv", lines), source="pnc")
    assert seen and set(seen) == {(0, 0)}  # nothing of the import is visible before its commit
    seen.clear()
    lines[5] = f"{idents[5]},serial,recovered,,,,,,,"
    lines.append("NEWSERIAL0002,serial,lost,,,,,,,")
    out = m.import_file(_register(tmp_path / "b.csv", lines), source="pnc")
    assert (out["added"], out["updated"]) == (1, 1)
    assert len(seen) == 2 and set(seen) == {(6000, 1)}
    reader_db.dispose()
