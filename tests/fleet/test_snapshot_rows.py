"""A snapshot's rows written into a station's register, on SQLite and on PostgreSQL: the
centre's ids, every field, dates and the version as the ORM reads them back; a rows object
the station does not know, or cut short, is refused with nothing applied."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, select

from station.db.engine import Database
from station.db.models import RegisterEntry, RegisterImport
from station.fleet.register_feed import _NAMES, FIELDS, FeedError, apply_rows, write_rows
from station.register.importer import copy_text


def _doc(i: int) -> dict[str, Any]:
    return {
        "id": 1000 + 7 * i,  # the centre's ids, not the station's sequence
        "identifier": f"SN{i:06d}",
        "kind": "serial",
        "status": "" if i == 2 else "lost",  # an empty status is stored as stolen
        "category": "bicycle" if i % 2 else None,
        "brand": "Tab\tand \\ back,\nnew line \\N",  # what COPY's text format must escape
        "model": None,
        "crime_ref": f"CR/{i}",
        "force": "North",
        "owner_applied_number": None,
        "range_end": f"SN{i:06d}9" if i == 3 else None,
        "owner_ref": None,
        "kit_type": None,
        "source": "central",
        "withdrawn": False,
        "reported_on": f"2026-03-0{i % 9 + 1}" if i % 3 else None,
    }


def _rows_object(path: Path, docs: list[dict[str, Any]]) -> Path:
    """The docs as the centre writes a snapshot: COPY text lines, gzipped, under the header."""
    lines = [tuple(("t" if d[n] else "f") if n == "withdrawn" else d[n] for n in _NAMES)
             for d in docs]  # fmt: skip
    write_rows(path, [copy_text(lines)])
    return path


MANIFEST = {"version": 40, "snapshot": {"object": "snapshot-40", "sha256": "ab" * 32}}


def test_a_snapshot_replaces_the_register_with_the_centres_rows(
    db: Database, tmp_path: Path
) -> None:
    with db.writer() as s:
        s.add(RegisterEntry(identifier="OLD1", kind="serial", status="stolen", source="local"))
    docs = [_doc(i) for i in range(25)]
    apply_rows(db, MANIFEST, _rows_object(tmp_path / "snapshot-40", docs), replace=True)
    with db.session() as s:
        got = {e.id: e for e in s.scalars(select(RegisterEntry))}
        imported = s.get(RegisterImport, 40)
    assert sorted(got) == [d["id"] for d in docs]  # the old entry went, the ids are the centre's
    assert imported is not None and imported.added == 25
    for d in docs:
        e = got[d["id"]]
        for f in FIELDS:
            want = d[f] or "stolen" if f == "status" else d[f]
            assert getattr(e, f) == want, (f, d["id"])
        want_date = dt.date.fromisoformat(d["reported_on"]) if d["reported_on"] else None
        assert e.reported_on == want_date
        assert e.version == 40 and e.withdrawn is False
        assert e.updated_at is not None
    with db.writer() as s:  # the id sequence moved past the centre's ids: a local add works
        s.add(RegisterEntry(identifier="NEW1", kind="serial", status="stolen", source="local"))


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data.replace(b"register-rows/2", b"register-rows/3"),  # a newer format
        lambda data: data[: data.rindex(b"\n", 0, -1) + 5],  # cut in the middle of a line
        lambda data: data.replace(b"\tSN000003\t", b"\tSN000003\tX\t"),  # a value too many
    ],
    ids=["unknown format", "cut short", "extra value"],
)
def test_a_rows_object_the_station_cannot_read_is_refused_and_nothing_changes(
    db: Database, tmp_path: Path, damage: Any
) -> None:
    """(The digest is checked before any of this; a centre that signed a bad file is still
    not trusted blindly.)"""
    with db.writer() as s:
        s.add(RegisterEntry(identifier="OLD1", kind="serial", status="stolen", source="local"))
    indexes = _index_names(db)
    path = _rows_object(tmp_path / "snapshot-40", [_doc(i) for i in range(25)])
    data = gzip.decompress(path.read_bytes())
    changed = damage(data)
    assert changed != data
    path.write_bytes(gzip.compress(changed))
    with pytest.raises(FeedError, match="snapshot-40"):
        apply_rows(db, MANIFEST, path, replace=True)
    with db.session() as s:
        assert [e.identifier for e in s.scalars(select(RegisterEntry))] == ["OLD1"]
        assert s.get(RegisterImport, 40) is None
    assert _index_names(db) == indexes  # dropped for the load, back with the rollback


def _index_names(db: Database) -> set[str]:
    return {str(i["name"]) for i in inspect(db.engine).get_indexes("register_entries")}


def test_a_snapshot_built_at_the_centre_arrives_value_for_value(
    db: Database, tmp_path: Path
) -> None:
    """Centre (PostgreSQL's COPY, or the generic writer) to a SQLite station: awkward text,
    NULLs, dates, withdrawn and later entries left out, and the shipped index agrees."""
    from station.db.migrate import upgrade
    from station.fleet.register_feed import build_version

    awkward = ["Tab\tand \\ back", "line\nbreak\rreturn", "\\N", "", "café ✓", "\\\\t"]
    with db.writer() as s:
        for v in (1, 2):
            s.add(RegisterImport(id=v, source="pnc", filename=f"r{v}", sha256="", imported_by="t"))
        for i in range(40):
            s.add(RegisterEntry(
                identifier=f"AW{i:04d}", kind="serial", status="stolen", source="pnc",
                brand=awkward[i % len(awkward)], model=None if i % 2 else awkward[-i % 6],
                crime_ref=f"CR/{i}", reported_on=dt.date(2026, 1, 1 + i % 28) if i % 3 else None,
                range_end="AW0099" if i == 5 else None,
                withdrawn=i % 10 == 0, version=2 if i >= 35 else 1,
            ))  # fmt: skip
    manifest, objects = build_version(db, 1, snapshot=True, workdir=tmp_path)
    station = Database(f"sqlite:///{tmp_path / 'new-station.db'}")
    upgrade(station)
    try:
        indexes = _index_names(station)
        apply_rows(station, manifest, objects["snapshot-1"], replace=True)
        assert _index_names(station) == indexes and indexes  # rebuilt after the load
        with db.session() as s:
            want = {e.id: e for e in s.scalars(select(RegisterEntry).where(
                RegisterEntry.withdrawn.is_(False), RegisterEntry.version <= 1))}  # fmt: skip
        with station.session() as s:
            got = {e.id: e for e in s.scalars(select(RegisterEntry))}
        assert sorted(got) == sorted(want) and len(got) == 31  # 40 - 4 withdrawn - 5 later
        for eid, e in want.items():
            for f in (*FIELDS, "reported_on"):
                assert getattr(got[eid], f) == getattr(e, f), (f, eid)
        assert manifest["snapshot"]["rows"] == 31 and manifest["index"]["entries"] == 31
    finally:
        station.dispose()


def test_a_json_lines_object_from_an_older_centre_is_still_read(
    db: Database, tmp_path: Path
) -> None:
    """The bucket may still hold a snapshot an older centre wrote when the station updates."""
    import json

    docs = [_doc(i) for i in range(25)]
    path = tmp_path / "snapshot-40"
    lines = "".join(json.dumps(d, sort_keys=True) + "\n" for d in docs)
    path.write_bytes(gzip.compress(lines.encode()))
    apply_rows(db, MANIFEST, path, replace=True)
    with db.session() as s:
        got = {e.id: e for e in s.scalars(select(RegisterEntry))}
    assert sorted(got) == [d["id"] for d in docs]
    assert got[docs[1]["id"]].brand == docs[1]["brand"]
    assert got[docs[1]["id"]].reported_on == dt.date.fromisoformat(docs[1]["reported_on"])
