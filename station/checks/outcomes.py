"""What happened after a check (owner told, item returned, kept as evidence), and the
supervisor's figures: per day and station, items booked in vs checked, marked, matched, returned.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from station.db.engine import Database
from station.db.models import Check
from station.db.service_models import Booking, Outcome
from station.domain import OutcomeRecord, PlainNote, PlainText
from station.errors import InputError, NotFound, OutcomeContradicts
from station.records import audit

OutcomeKind = Literal[
    "match_confirmed",
    "match_rejected",
    "owner_notified",
    "returned_to_owner",
    "retained_as_evidence",
    "released",
    "disposed",
]
#: each outcome in words, in the order the card offers them
OUTCOME_WORDS: dict[str, str] = {
    "match_confirmed": "Match confirmed (it is this item)",
    "match_rejected": "Match rejected (not this item)",
    "owner_notified": "Owner told",
    "retained_as_evidence": "Kept as evidence",
    "returned_to_owner": "Returned to owner",
    "released": "Released",
    "disposed": "Disposed of",
}
#: outcomes after which the item has left police hands: nothing more should follow
_GONE = {"returned_to_owner", "released", "disposed"}
#: what usually follows each result, before anything is recorded
_FIRST: dict[str, tuple[str, ...]] = {
    "stolen": ("retained_as_evidence", "owner_notified", "returned_to_owner"),
    "lost": ("owner_notified", "returned_to_owner", "retained_as_evidence"),
    "recovered": ("returned_to_owner", "owner_notified", "retained_as_evidence"),
    "registered_owner": ("owner_notified", "returned_to_owner", "released"),
    "possible_match": ("match_confirmed", "match_rejected"),
    "no_match": ("released", "retained_as_evidence", "disposed"),
    "nothing_read": ("released", "retained_as_evidence", "disposed"),
}
#: what usually follows each recorded outcome
_AFTER: dict[str, tuple[str, ...]] = {
    "match_confirmed": ("retained_as_evidence", "owner_notified", "returned_to_owner"),
    "match_rejected": ("released", "retained_as_evidence", "disposed"),
    "owner_notified": ("returned_to_owner", "retained_as_evidence"),
    "retained_as_evidence": ("owner_notified",),
    "returned_to_owner": (),
    "released": (),
    "disposed": (),
}


class OutcomeIn(BaseModel):
    kind: OutcomeKind
    note: PlainNote = Field(default="", max_length=2000)
    #: record it even though it contradicts what is already recorded (the warning was read)
    confirm: bool = False


def sensible_outcomes(result: str, recorded: list[str]) -> list[str]:
    """The outcomes that make sense next, given the check's result and what is recorded."""
    if not recorded:
        return list(_FIRST.get(result, ()))
    return [k for k in _AFTER.get(recorded[-1], ()) if k not in recorded]


def contradiction(recorded: list[str], kind: str) -> str | None:
    """Why recording ``kind`` after ``recorded`` makes no sense, or None when it does."""
    words = OUTCOME_WORDS.get(kind, kind).lower()
    gone = [k for k in recorded if k in _GONE]
    if gone:
        return (
            f"'{OUTCOME_WORDS[gone[-1]]}' is already recorded: the item has left police hands, "
            f"so '{words}' contradicts it"
        )
    if kind in ("match_confirmed", "match_rejected"):
        other = "match_rejected" if kind == "match_confirmed" else "match_confirmed"
        if other in recorded:
            return f"'{OUTCOME_WORDS[other]}' is already recorded; '{words}' contradicts it"
        if kind in recorded:
            return f"'{words}' is already recorded"
    if "retained_as_evidence" in recorded and kind in ("returned_to_owner", "released", "disposed"):
        return (
            "the item is kept as evidence: the officer in the case must release it before it is "
            f"'{words}'"
        )
    if "match_rejected" in recorded and kind in ("owner_notified", "returned_to_owner"):
        return f"the match was rejected, so there is no owner on the register to be '{words}'"
    return None


class BookingIn(BaseModel):
    station_id: PlainText = Field(min_length=1, max_length=64)
    day: dt.date
    items: int = Field(ge=0, le=1_000_000)
    reference: PlainText = Field(default="", max_length=100)


def record_outcome(db: Database, check_id: str, outcome: OutcomeIn, actor: str) -> OutcomeRecord:
    """Record a follow-up; it is an alteration of the check's record, so it is audited.

    One that contradicts what is recorded is refused with the reason unless ``confirm``."""
    with db.writer() as s:
        if s.get(Check, check_id) is None:
            raise NotFound(f"no check with id {check_id}")
        if not outcome.confirm:
            reason = contradiction([o.kind for o in outcomes_in(s, check_id)], outcome.kind)
            if reason:
                raise OutcomeContradicts(reason)
        row = Outcome(check_id=check_id, kind=outcome.kind, note=outcome.note, recorded_by=actor)
        s.add(row)
        s.flush()
        audit.append(
            s,
            actor,
            "alteration",
            "check",
            check_id,
            {
                "outcome": outcome.kind,
                "id": row.id,
                **({"confirmed": True} if outcome.confirm else {}),
            },
        )
        return outcome_record(row)


def outcomes_for(db: Database, check_id: str) -> list[OutcomeRecord]:
    with db.session() as s:
        return outcomes_in(s, check_id)


def outcomes_in(s: Session, check_id: str) -> list[OutcomeRecord]:
    """A check's outcomes in the order they were recorded, in the caller's session."""
    rows = s.execute(
        select(Outcome).where(Outcome.check_id == check_id).order_by(Outcome.id)
    ).scalars()
    return [outcome_record(r) for r in rows]


def outcome_record(row: Outcome) -> OutcomeRecord:
    at = row.recorded_at
    return OutcomeRecord(
        id=row.id,
        check_id=row.check_id,
        kind=row.kind,
        note=row.note,
        recorded_by=row.recorded_by,
        recorded_at=at.isoformat() if at else None,
    )


def record_booking(
    db: Database, booking: BookingIn, actor: str, own_station: str = ""
) -> dict[str, Any]:
    """Record items booked in at a known station on a day that has happened (the supervisor's
    figures compare these with the checks made)."""
    if booking.day > dt.date.today():
        raise InputError(f"booking day {booking.day} is in the future")
    with db.session() as s:
        known = booking.station_id == own_station or (
            s.execute(
                select(Check.id).where(Check.station_id == booking.station_id).limit(1)
            ).scalar()
            is not None
        )
    if not known:
        raise InputError(
            f"station {booking.station_id!r} is not known here: no check was ever made there",
            fix="book items in under the name of a station that checks items",
        )
    with db.writer() as s:
        row = Booking(
            station_id=booking.station_id,
            day=booking.day,
            items=booking.items,
            reference=booking.reference,
            recorded_by=actor,
        )
        s.add(row)
        s.flush()
        audit.append(
            s,
            actor,
            "collection",
            "booking",
            str(row.id),
            {"station": booking.station_id, "day": booking.day.isoformat(), "items": booking.items},
        )
        return {"id": row.id, **booking.model_dump(mode="json")}


def _day(value: dt.datetime) -> dt.date:
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.date()


def summary(
    db: Database,
    since: dt.date,
    until: dt.date,
    station_id: str | None = None,
) -> dict[str, Any]:
    """Figures per day and station for [since, until] (UTC days), plus totals."""
    if until < since:
        raise InputError(f"'until' ({until}) is before 'since' ({since})")
    if (until - since).days > 366:
        raise InputError("ask for at most 366 days at a time")
    start = dt.datetime.combine(since, dt.time.min, tzinfo=dt.UTC)
    end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
    zero = {"booked_in": 0, "checked": 0, "incomplete": 0, "marked": 0, "matched": 0}
    rows: dict[tuple[str, str], dict[str, int]] = defaultdict(
        lambda: {**zero, "possible": 0, "returned": 0, "owner_notified": 0, "retained": 0}
    )
    with db.session() as s:
        q = select(Check.started_at, Check.station_id, Check.state, Check.marked, Check.verdict)
        q = q.where(Check.started_at >= start, Check.started_at < end, Check.mode != "batch")
        if station_id:
            q = q.where(Check.station_id == station_id)
        for started, station, state, marked, verdict in s.execute(q):
            r = rows[(_day(started).isoformat(), station)]
            if state == "complete":
                r["checked"] += 1
                r["marked"] += int(bool(marked))
                r["matched"] += int(verdict == "match")
                r["possible"] += int(verdict == "possible_match")
            else:
                r["incomplete"] += 1
        oq = (
            select(Outcome.recorded_at, Check.station_id, Outcome.kind)
            .join(Check, Check.id == Outcome.check_id)
            .where(Outcome.recorded_at >= start, Outcome.recorded_at < end)
        )
        if station_id:
            oq = oq.where(Check.station_id == station_id)
        counter = {
            "returned_to_owner": "returned",
            "owner_notified": "owner_notified",
            "retained_as_evidence": "retained",
        }
        for at, station, kind in s.execute(oq):
            if kind in counter:
                rows[(_day(at).isoformat(), station)][counter[kind]] += 1
        bq = select(Booking.day, Booking.station_id, Booking.items).where(
            Booking.day >= since, Booking.day <= until
        )
        if station_id:
            bq = bq.where(Booking.station_id == station_id)
        for day, station, items in s.execute(bq):
            rows[(day.isoformat(), station)]["booked_in"] += items
    days = [
        {"day": day, "station_id": station, **counts}
        for (day, station), counts in sorted(rows.items())
    ]
    totals: dict[str, int] = defaultdict(int)
    for d in days:
        for k, v in d.items():
            if isinstance(v, int):
                totals[k] += v
    booked = totals["booked_in"]
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "station_id": station_id,
        "days": days,
        "totals": dict(totals),
        "check_rate": round(totals["checked"] / booked, 3) if booked else None,
    }
