"""The index built from, and kept in step with, a register table on real databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from station.register.pgsource import RegisterColumns, build_from_db, sync_from_db

PG_URL = os.environ.get(
    "STATION_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _table(meta: sa.MetaData, name: str) -> sa.Table:
    return sa.Table(
        name,
        meta,
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("identifier", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("crime_ref", sa.String(64)),
        sa.Column("source", sa.String(64)),
        sa.Column("range_end", sa.String(64)),
        sa.Column("register_version", sa.Integer, nullable=False),
        sa.Column("withdrawn", sa.Boolean, nullable=False, default=False),
    )


def _row(eid: int, ident: str, version: int, **kw: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": eid,
        "identifier": ident,
        "kind": "serial",
        "status": "stolen",
        "crime_ref": None,
        "source": "pnc",
        "range_end": None,
        "register_version": version,
        "withdrawn": False,
    }
    row.update(kw)
    return row


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        eng = sa.create_engine(f"sqlite:///{tmp_path / 'reg.db'}")
    else:
        eng = sa.create_engine(PG_URL)
    yield eng
    eng.dispose()


def test_build_then_follow_deltas(engine: sa.Engine) -> None:
    name = f"register_entries_{uuid.uuid4().hex[:8]}"
    meta = sa.MetaData()
    table = _table(meta, name)
    meta.create_all(engine)
    cols = RegisterColumns(table=name)
    try:
        with engine.begin() as conn:
            conn.execute(
                table.insert(),
                [
                    _row(1, "AB12CD34EF", 1, crime_ref="CR/1"),
                    _row(2, "356938035643809", 1, kind="imei", status="lost"),
                    _row(3, "PAL1000", 2, range_end="PAL1999"),
                    _row(4, "GONE000001", 2, withdrawn=True),
                ],
            )
        with engine.connect() as conn:
            index = build_from_db(conn, cols)
        assert index.version == 2
        assert index.lookup("A812CD34EF").candidates[0].crime_ref == "CR/1"
        assert index.lookup("PAL1500").verdict == "match"
        assert index.lookup("GONE000001").verdict == "no_match"

        with engine.begin() as conn:  # version 3: one update, one withdrawal, one new entry
            conn.execute(
                table.update().where(table.c.id == 1).values(status="recovered", register_version=3)
            )
            conn.execute(
                table.update().where(table.c.id == 2).values(withdrawn=True, register_version=3)
            )
            conn.execute(table.insert(), [_row(5, "NEW0000005", 3)])
        with engine.connect() as conn:
            assert sync_from_db(index, conn, cols) == 3
            assert sync_from_db(index, conn, cols) == 0  # nothing newer: no-op
        assert index.version == 3
        assert index.lookup("AB12CD34EF").candidates[0].status == "recovered"
        assert index.lookup("356938035643809").verdict == "no_match"
        assert index.lookup("NEW0000005").candidates[0].entry_id == 5
    finally:
        meta.drop_all(engine)
