"""A snapshot's rows written into a station's register, on SQLite and on PostgreSQL: the
centre's ids, every field, dates and the version as the ORM reads them back."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from station.db.engine import Database
from station.db.models import RegisterEntry, RegisterImport
from station.fleet.register_feed import FIELDS, apply_rows


def _doc(i: int) -> dict[str, Any]:
    return {
        "id": 1000 + 7 * i,  # the centre's ids, not the station's sequence
        "identifier": f"SN{i:06d}",
        "kind": "serial",
        "status": "" if i == 2 else "lost",  # an empty status is stored as stolen
        "category": "bicycle" if i % 2 else None,
        "brand": "Tab\tand \\ back",  # what COPY's text format must escape
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


def test_a_snapshot_replaces_the_register_with_the_centres_rows(db: Database) -> None:
    with db.writer() as s:
        s.add(RegisterEntry(identifier="OLD1", kind="serial", status="stolen", source="local"))
    docs = [_doc(i) for i in range(25)]
    manifest = {"version": 40, "snapshot": {"object": "snapshot-40", "sha256": "ab" * 32}}
    apply_rows(db, manifest, iter(docs), replace=True)
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
