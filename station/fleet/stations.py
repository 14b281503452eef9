"""The force's stations as the centre knows them: added, enrolled with a key, revoked.

Adding a station makes its NATS user and password (shown once); enrolling binds the station's
own Ed25519 key to it, once; revoking takes it out of the NATS authorization file and makes the
ingester refuse it. The force's key list (every station key, revoked ones marked) is what
``station evidence verify`` uses offline.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from station.db.engine import Database
from station.db.fleet_models import FleetAlert, FleetRecord, FleetStation
from station.errors import InputError, NotFound
from station.fleet import creds
from station.fleet import messages as m
from station.records.signing import key_id, public_key_from_text, verify_signature


@dataclass(frozen=True)
class NewStation:
    """What an administrator hands to the station: its id and NATS login (shown once)."""

    station_id: str
    nats_user: str
    nats_password: str


def enrol_bytes(station_id: str, public_text: str) -> bytes:
    """What a station signs to prove it holds the key it enrols."""
    return f"enrol:{station_id}:{public_text}".encode()


class StationRoll:
    """The centre's list of stations (table ``fleet_stations``)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, station_id: str, location: str = "", scope: str = "full") -> NewStation:
        m.check_station_id(station_id)
        if scope not in ("full", "partial"):
            raise InputError(f"register scope {scope!r} is not full or partial")
        password = creds.new_password()
        with self.db.writer() as s:
            if s.get(FleetStation, station_id) is not None:
                raise InputError(
                    f"station {station_id} already exists",
                    fix="choose another id, or revoke the old one first",
                )
            s.add(
                FleetStation(
                    station_id=station_id,
                    location=location,
                    nats_user=station_id,
                    nats_password_hash=creds.hash_password(password),
                    register_scope=scope,
                )
            )
        return NewStation(station_id, station_id, password)

    def enrol(self, station_id: str, public_text: str, signature: bytes) -> FleetStation:
        """Bind a key to an added station; the same key again is fine, another is refused."""
        public = public_key_from_text(public_text)
        if not verify_signature(public, signature, enrol_bytes(station_id, public_text)):
            raise InputError("the enrolment is not signed by the key it enrols")
        with self.db.writer() as s:
            st = s.get(FleetStation, station_id, with_for_update=True)
            if st is None:
                raise NotFound(f"station {station_id} was never added at the centre")
            if st.revoked_at is not None:
                raise InputError(f"station {station_id} is revoked")
            if st.public_key and st.public_key != public_text:
                raise InputError(
                    f"station {station_id} is already enrolled with key {st.key_id}",
                    fix="revoke the station at the centre and add it again under a new id",
                )
            if not st.public_key:
                st.public_key, st.key_id = public_text, key_id(public)
                st.enrolled_at = dt.datetime.now(dt.UTC)
            return st

    def revoke(self, station_id: str) -> None:
        with self.db.writer() as s:
            st = s.get(FleetStation, station_id)
            if st is None:
                raise NotFound(f"no station {station_id}")
            if st.revoked_at is None:
                st.revoked_at = dt.datetime.now(dt.UTC)

    def record_status(self, station_id: str, status: dict[str, Any]) -> None:
        """A heartbeat: register version, backlog, self-test, lamp health."""
        with self.db.writer() as s:
            st = s.get(FleetStation, station_id)
            if st is None or st.revoked_at is not None:
                return
            st.status = {k: status.get(k) for k in ("register_version", "backlog",
                                                    "last_self_test", "lamp", "outcomes")}  # fmt: skip
            st.last_contact = dt.datetime.now(dt.UTC)

    def nats_users(self) -> list[creds.NatsUser]:
        with self.db.session() as s:
            rows = s.execute(
                select(FleetStation).where(FleetStation.revoked_at.is_(None))
            ).scalars()
            return [
                creds.NatsUser(
                    r.nats_user, r.nats_password_hash, creds.station_permissions(r.station_id)
                )
                for r in rows
            ]

    def key_list(self) -> dict[str, Any]:
        """Every station key of the force, for verifying records and bundles offline."""
        with self.db.session() as s:
            rows = s.execute(select(FleetStation).order_by(FleetStation.station_id)).scalars()
            return {
                "keys": [
                    {
                        "station_id": r.station_id,
                        "key_id": r.key_id,
                        "public_key": r.public_key,
                        "enrolled_at": r.enrolled_at.isoformat() if r.enrolled_at else None,
                        "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None,
                    }
                    for r in rows
                    if r.public_key
                ]
            }

    def overview(self) -> dict[str, Any]:
        """What the supervisor's page shows: every station, figures across them, alerts."""
        with self.db.session() as s:
            stations = list(
                s.execute(select(FleetStation).order_by(FleetStation.station_id)).scalars()
            )
            per_station = dict(
                s.execute(
                    select(FleetRecord.station_id, func.count())
                    .where(FleetRecord.kind == "record")
                    .group_by(FleetRecord.station_id)
                ).all()
            )
            figures = s.execute(
                select(
                    func.count(),
                    func.count().filter(FleetRecord.marked.is_(True)),
                    func.count().filter(FleetRecord.verdict == "match"),
                    func.count().filter(FleetRecord.verdict == "possible_match"),
                ).where(FleetRecord.kind == "record")
            ).one()
            alerts = s.execute(
                select(FleetAlert).order_by(FleetAlert.id.desc()).limit(50)
            ).scalars()
            booked = sum(
                int((st.status.get("outcomes") or {}).get("booked_in", 0)) for st in stations
            )
            returned = sum(
                int((st.status.get("outcomes") or {}).get("returned", 0)) for st in stations
            )
            return {
                "stations": [
                    {
                        "station_id": st.station_id,
                        "location": st.location,
                        "key_id": st.key_id,
                        "enrolled": st.enrolled_at is not None,
                        "revoked": st.revoked_at is not None,
                        "last_contact": st.last_contact.isoformat() if st.last_contact else None,
                        "register_version": st.status.get("register_version"),
                        "backlog": st.status.get("backlog"),
                        "last_self_test": st.status.get("last_self_test"),
                        "lamp": st.status.get("lamp"),
                        "records": int(per_station.get(st.station_id, 0)),
                        "chain_ok": st.chain_ok,
                        "audit_entries": st.audit_last_id,
                    }
                    for st in stations
                ],
                "figures": {
                    "booked_in": booked,
                    "checked": int(figures[0]),
                    "marked": int(figures[1]),
                    "matched": int(figures[2]),
                    "possible_matches": int(figures[3]),
                    "returned": returned,
                },
                "alerts": [
                    {
                        "station_id": a.station_id,
                        "kind": a.kind,
                        "detail": a.detail,
                        "at": a.at.isoformat(),
                    }
                    for a in alerts
                ],
            }
