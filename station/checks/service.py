"""CheckService: one check of one item, from capture to a stored, audited record.

The record is written first (state ``started``) and committed before any hardware moves, then
completed in one transaction at the end. A crash, a device fault or a power cut therefore
leaves either a complete record or one marked ``incomplete`` holding whatever was captured.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session, selectinload

from station.checks.outcomes import outcomes_in
from station.checks.presentation import result_of
from station.db.engine import Database
from station.db.models import Check, CheckIdentifier, CheckImage, CheckMatch, Owner, RegisterEntry
from station.domain import (
    CheckList,
    CheckRecord,
    CheckState,
    CheckSummary,
    EarlierCheck,
    EntrySummary,
    Identifier,
    MatchResult,
    PlainText,
    ReadResult,
    Verdict,
)
from station.errors import IdentifierRejected, NotFound, StationError, TooManyIdentifiers
from station.fleet import outbox
from station.identifiers import search_forms, validate_entry
from station.records import audit
from station.records.images import ImageStore, StoredImage
from station.settings import StationSettings

Purpose = Literal[
    "prisoner_property", "property_office", "found_property", "forensic", "dealer_check"
]
PURPOSES: tuple[str, ...] = (
    "prisoner_property",
    "property_office",
    "found_property",
    "forensic",
    "dealer_check",
)
MARKING_CLASSES = ("forensic_liquid", "uv_pen", "unknown")
#: identifiers in one manual check record (and one look-up request to the API); a longer list
#: is a batch (POST /api/batches, `station batch`, or `station check -` which records it so)
MAX_MANUAL_IDENTIFIERS = 500


class CheckRequest(BaseModel):
    """Who checks what and why: recorded with every check."""

    purpose: Purpose = "property_office"
    officer: str = Field(default="demo", min_length=1, max_length=100)
    location: PlainText | None = Field(default=None, max_length=200)
    #: identifiers typed or pasted by the officer (manual checks)
    #: at most MAX_MANUAL_IDENTIFIERS, checked by :func:`require_manual_size` with a message
    #: that says what to do instead (a schema limit would only say "too long")
    identifiers: list[str] = Field(default_factory=list)


def require_manual_size(count: int) -> None:
    """Refuse a manual check longer than one record holds, saying to use a batch."""
    if count > MAX_MANUAL_IDENTIFIERS:
        raise TooManyIdentifiers(
            f"{count} identifiers in one check; the most is {MAX_MANUAL_IDENTIFIERS}: check a "
            "longer list as a batch (POST /api/batches)"
        )


class CheckQuery(BaseModel):
    """Filters of the checks list (all optional), newest first, paged."""

    state: CheckState | None = None
    verdict: Verdict | None = None
    marked: bool | None = None
    purpose: str | None = None
    officer: str | None = None
    station_id: str | None = None
    identifier: str | None = Field(default=None, max_length=64)
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    limit: int = Field(default=50, ge=1, le=500)
    offset: int = Field(default=0, ge=0, le=1_000_000_000)


class OwnerContact(BaseModel):
    """Owner personal data for a matched entry: shown only to roles that need it."""

    owner_ref: str
    name: str | None
    address: str | None
    postcode: str | None
    phone: str | None
    email: str | None
    entries: list[str] = Field(description="register identifiers this owner is recorded for")


class Matcher(Protocol):
    """What the check needs from the register side."""

    @property
    def version(self) -> int: ...

    def lookup(self, value: str, kind: str | None = None) -> MatchResult: ...


class Scanner(Protocol):
    """Capture + vision for one item: returns the read, the frames and the conditions.

    ``on_frame(role, frame)`` is called as each frame arrives, before the read is done."""

    def scan(
        self, on_frame: Callable[[str, Any], None] | None = None
    ) -> tuple[ReadResult, dict[str, Any], dict[str, Any]]: ...


def overall_verdict(matches: Sequence[MatchResult]) -> str:
    verdicts = {m.verdict for m in matches}
    for v in ("match", "possible_match"):
        if v in verdicts:
            return v
    return "no_match"


class CheckService:
    """Runs and records checks. One scan at a time: there is one tray."""

    def __init__(
        self,
        db: Database,
        images: ImageStore,
        matcher: Matcher,
        settings: StationSettings,
        scanner: Scanner | None = None,
        self_test: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.db = db
        self.images = images
        self.matcher = matcher
        self.settings = settings
        self.scanner = scanner
        self.self_test = self_test or (lambda: {})
        self._tray = threading.Lock()
        #: the steps each recent scan went through (lamps, frames, reading, matching), in order,
        #: so the desk shows every one even when a step is quicker than its refresh
        self._steps: dict[str, list[str]] = {}

    def steps_of(self, check_id: str) -> list[str]:
        """The steps a scan has reached so far: ``lamps``, ``frames``, ``reading``, ``matching``."""
        return list(self._steps.get(check_id, ()))

    def _step(self, check_id: str, step: str) -> None:
        steps = self._steps.setdefault(check_id, [])
        if not steps or steps[-1] != step:
            steps.append(step)
        while len(self._steps) > 20:  # keep the recent scans only
            del self._steps[next(iter(self._steps))]

    @property
    def tray(self) -> threading.Lock:
        """Held while the tray is in use: scans take it, and so does the self-test."""
        return self._tray

    # -- lifecycle of one record -------------------------------------------------------------

    def start(self, request: CheckRequest, mode: str = "scan") -> str:
        """Create and commit the record before anything else happens."""
        check_id = str(uuid.uuid4())
        with self.db.writer() as s:
            s.add(
                Check(
                    id=check_id,
                    state="started",
                    purpose=request.purpose,
                    officer=request.officer,
                    station_id=self.settings.station_id,
                    location=request.location or self.settings.location,
                    mode=mode,
                    register_version=self.matcher.version,
                    conditions={"last_self_test": self.self_test()},
                )
            )
            audit.append(
                s,
                request.officer,
                "collection",
                "check",
                check_id,
                {"purpose": request.purpose, "mode": mode, "station": self.settings.station_id},
            )
        return check_id

    def _record_frames(
        self, check_id: str, stored_all: list[tuple[str, StoredImage]], meta: dict[str, Any]
    ) -> None:
        with self.db.writer() as s:
            for role, stored in stored_all:
                s.add(
                    CheckImage(
                        check_id=check_id,
                        role=role,
                        sha256=stored.sha256,
                        width=stored.width,
                        height=stored.height,
                        size_bytes=stored.size_bytes,
                        meta=meta.get(role, {}),
                    )
                )

    def _finish(
        self,
        check_id: str,
        read: ReadResult,
        matches: list[MatchResult],
        conditions: dict[str, Any],
        actor: str,
    ) -> None:
        marked = any(
            m.mark_class in MARKING_CLASSES and m.score >= self.settings.vision.mark_score_threshold
            for m in read.marks
        )
        verdict = overall_verdict(matches)
        with self.db.writer() as s:
            check = s.get(Check, check_id)
            if check is None:
                raise NotFound(f"check {check_id} vanished while it ran")
            for ident in read.identifiers:
                s.add(
                    CheckIdentifier(
                        check_id=check_id,
                        kind=ident.kind,
                        value=ident.value,
                        raw=ident.raw[:200],
                        source=ident.source,
                        confidence=ident.confidence,
                        valid=ident.valid,
                        bbox=list(ident.bbox),
                        frame=ident.frame,
                    )
                )
            for m in matches:
                if not m.candidates:
                    s.add(CheckMatch(check_id=check_id, query=m.query, verdict=m.verdict))
                for c in m.candidates:
                    s.add(
                        CheckMatch(
                            check_id=check_id,
                            query=m.query,
                            verdict=m.verdict,
                            entry_id=c.entry_id,
                            entry_identifier=c.identifier,
                            status=c.status,
                            distance=c.distance,
                            score=c.score,
                            edits=list(c.edits),
                            crime_ref=c.crime_ref,
                        )
                    )
            check.state = "complete"
            check.completed_at = dt.datetime.now(dt.UTC)
            check.verdict = verdict
            check.marked = marked
            check.conditions = {**check.conditions, **conditions}
            check.result = {
                "identifiers": [i.model_dump(mode="json") for i in read.identifiers],
                "marks": [m.model_dump(mode="json", by_alias=True) for m in read.marks],
                "timings_ms": read.timings_ms,
                "warnings": read.warnings,
                "matches": [m.model_dump(mode="json") for m in matches],
            }
            s.flush()
            audit.append(
                s,
                actor,
                "collection",
                "check",
                check_id,
                {
                    "state": "complete",
                    "verdict": verdict,
                    "marked": marked,
                    "identifiers": [i.value for i in read.identifiers],
                    # the chain covers the record itself, not only that it was made
                    "record_sha256": audit.stored_record_digest(s, check),
                },
            )
            outbox.enqueue(s, "record", check_id)  # the uploader sends it; nothing waits here

    def _fail(self, check_id: str, error: BaseException, actor: str) -> None:
        with self.db.writer() as s:
            check = s.get(Check, check_id)
            if check is None:
                return
            check.state = "incomplete"
            check.completed_at = dt.datetime.now(dt.UTC)
            check.error = f"{type(error).__name__}: {error}"
            audit.append(
                s,
                actor,
                "collection",
                "check",
                check_id,
                {"state": "incomplete", "error": check.error},
            )
            outbox.enqueue(s, "record", check_id)

    # -- the two kinds of check ----------------------------------------------------------------

    def match_all(self, identifiers: Sequence[Identifier]) -> list[MatchResult]:
        seen: set[str] = set()
        results = []
        for ident in identifiers:
            if ident.value in seen:
                continue
            seen.add(ident.value)
            results.append(self.matcher.lookup(ident.value, ident.kind))
        return results

    def run_scan(self, check_id: str, actor: str) -> None:
        """Capture, read, match and record for a started check. Never loses the record."""
        try:
            if self.scanner is None:
                raise StationError(
                    "no scanner configured: start with --sim or set devices.lamp_port"
                )
            self._step(check_id, "lamps")
            with self._tray:
                # Each frame is PNG-encoded and written (GIL released) while the camera
                # waits for the next lamp state, so storing costs little wall time.
                with ThreadPoolExecutor(max_workers=3, thread_name_prefix="store") as pool:
                    pending: list[tuple[str, Future[StoredImage]]] = []

                    def on_frame(role: str, frame: Any) -> None:
                        pending.append((role, pool.submit(self.images.put_array, frame.image)))
                        self._step(check_id, "reading" if role == "uv" else "frames")

                    conditions: dict[str, Any] = {}
                    try:
                        read, _frames, conditions = self.scanner.scan(on_frame)
                    finally:
                        # frames captured before a failure are kept with the incomplete record
                        t0 = time.perf_counter()
                        stored_all = [(role, f.result()) for role, f in pending]
                        self._record_frames(check_id, stored_all, conditions.get("frames", {}))
                t1 = time.perf_counter()
                self._step(check_id, "matching")
                matches = self.match_all(read.identifiers)
                t2 = time.perf_counter()
                read.timings_ms["store_ms"] = round((t1 - t0) * 1000, 1)
                read.timings_ms["match_ms"] = round((t2 - t1) * 1000, 2)
                self._finish(check_id, read, matches, conditions, actor)
        except BaseException as exc:
            self._fail(check_id, exc, actor)
            raise

    def scan(self, request: CheckRequest) -> CheckRecord:
        check_id = self.start(request, mode="scan")
        self.run_scan(check_id, request.officer)
        return self.get(check_id, actor=request.officer, audit_read=False)

    def manual(self, request: CheckRequest) -> CheckRecord:
        """Match typed identifiers and record them as a check (source ``manual``)."""
        require_manual_size(len(request.identifiers))
        idents = []
        for pos, raw in enumerate(request.identifiers, start=1):
            try:
                c = validate_entry(raw)
            except IdentifierRejected as exc:  # nothing recorded: say which one and why
                where = f"identifier {pos} ({raw[:40]!r})" if len(request.identifiers) > 1 else ""
                raise IdentifierRejected(f"{where + ': ' if where else ''}{exc}") from exc
            idents.append(
                Identifier(
                    kind=c.kind,
                    value=c.value,
                    raw=raw,
                    source="manual",
                    confidence=1.0,
                    valid=c.valid,
                )
            )
        check_id = self.start(request, mode="manual")
        try:
            read = ReadResult(identifiers=idents)
            self._finish(check_id, read, self.match_all(idents), {}, request.officer)
        except BaseException as exc:
            self._fail(check_id, exc, request.officer)
            raise
        return self.get(check_id, actor=request.officer, audit_read=False)

    # -- reading records -----------------------------------------------------------------------

    def get(
        self,
        check_id: str,
        actor: str = "system",
        audit_read: bool = True,
        with_outcomes: bool = False,
    ) -> CheckRecord:
        """The record, its candidates described from the register, and earlier checks.

        ``audit_read`` logs the read as a consultation; a record still ``started`` is never
        logged (there is nothing recorded yet to consult)."""
        with self.db.writer() if audit_read else self.db.session() as s:
            check = s.execute(
                select(Check)
                .where(Check.id == check_id)
                .options(selectinload(Check.images), selectinload(Check.identifiers))
            ).scalar()
            if check is None:
                raise NotFound(f"no check with id {check_id}")
            record = check_record(check, earlier_checks(s, check), describe_entries(s, check))
            if with_outcomes:
                record.outcomes = outcomes_in(s, check_id)
            if audit_read and check.state != "started":
                audit.append(s, actor, "consultation", "check", check_id)
        return record

    def last_check_of(self, officer: str) -> CheckRecord | None:
        """The officer's most recent check at the desk (batches excluded), unaudited."""
        with self.db.session() as s:
            last = s.execute(
                select(Check.id)
                .where(Check.officer == officer, Check.mode != "batch")
                .order_by(Check.started_at.desc())
                .limit(1)
            ).scalar()
        return self.get(last, audit_read=False) if last else None

    def list_checks(self, query: CheckQuery, actor: str) -> CheckList:
        """Checks, newest first, filtered; the consultation (with its filters) is audited."""
        q = select(Check).order_by(Check.started_at.desc())
        filters: dict[str, Any] = {}
        for name, column, value in (
            ("state", Check.state, query.state),
            ("verdict", Check.verdict, query.verdict),
            ("marked", Check.marked, query.marked),
            ("purpose", Check.purpose, query.purpose),
            ("officer", Check.officer, query.officer),
            ("station_id", Check.station_id, query.station_id),
        ):
            if value is not None:
                q = q.where(column == value)
                filters[name] = value
        if query.identifier:
            forms, postcode = search_forms(query.identifier)
            cond: ColumnElement[bool] = CheckIdentifier.value.in_(sorted(forms))
            if postcode is not None:
                cond = or_(cond, CheckIdentifier.value.like(f"% {postcode}"))
            q = q.where(Check.id.in_(select(CheckIdentifier.check_id).where(cond)))
            filters["identifier"] = query.identifier
        if query.since:
            q = q.where(Check.started_at >= query.since)
            filters["since"] = query.since.isoformat()
        if query.until:
            q = q.where(Check.started_at < query.until)
            filters["until"] = query.until.isoformat()
        with self.db.writer() as s:
            rows = list(s.execute(q.limit(query.limit + 1).offset(query.offset)).scalars())
            more = len(rows) > query.limit
            rows = rows[: query.limit]
            idents: dict[str, list[str]] = {r.id: [] for r in rows}
            if rows:
                for cid, val in s.execute(
                    select(CheckIdentifier.check_id, CheckIdentifier.value).where(
                        CheckIdentifier.check_id.in_(list(idents))
                    )
                ):
                    idents[cid].append(val)
            audit.append(s, actor, "consultation", "check_list", "-", filters)
            out = [
                CheckSummary(
                    id=r.id,
                    state=r.state,
                    purpose=r.purpose,
                    officer=r.officer,
                    station_id=r.station_id,
                    mode=r.mode,
                    started_at=_iso(r.started_at),
                    completed_at=_iso(r.completed_at),
                    verdict=r.verdict,
                    marked=r.marked,
                    identifiers=idents[r.id],
                )
                for r in rows
            ]
        return CheckList(total_returned=len(out), checks=out, more=more)

    def owners(self, check_id: str, actor: str) -> list[OwnerContact]:
        """Owner personal data for the entries a check matched; every access is audited."""
        record = self.get(check_id, audit_read=False)
        entry_ids = {
            c.entry_id
            for m in record.matches
            for c in m.candidates
            if m.verdict in ("match", "possible_match")
        }
        out: dict[str, OwnerContact] = {}
        with self.db.writer() as s:
            if entry_ids:
                rows = s.execute(
                    select(RegisterEntry.identifier, Owner)
                    .join(Owner, Owner.owner_ref == RegisterEntry.owner_ref)
                    .where(RegisterEntry.id.in_(entry_ids))
                ).all()
                for ident, owner in rows:
                    o = out.setdefault(
                        owner.owner_ref,
                        OwnerContact(
                            owner_ref=owner.owner_ref,
                            name=owner.name,
                            address=owner.address,
                            postcode=owner.postcode,
                            phone=owner.phone,
                            email=owner.email,
                            entries=[],
                        ),
                    )
                    o.entries.append(ident)
            for ref in out:
                audit.append(s, actor, "consultation", "owner", ref, {"check": check_id})
            if not out:
                audit.append(
                    s, actor, "consultation", "owner", "-", {"check": check_id, "found": 0}
                )
        return list(out.values())

    def recover_interrupted(self, actor: str = "system") -> int:
        """Mark checks left ``started`` by a crash or power cut as incomplete."""
        with self.db.writer() as s:
            stale = s.execute(select(Check).where(Check.state == "started")).scalars().all()
            for check in stale:
                check.state = "incomplete"
                check.error = "interrupted: the station stopped before the check finished"
                audit.append(
                    s,
                    actor,
                    "collection",
                    "check",
                    check.id,
                    {"state": "incomplete", "error": check.error},
                )
                outbox.enqueue(s, "record", check.id)
            return len(stale)


def check_record(
    check: Check,
    earlier: list[EarlierCheck] | None = None,
    entries: dict[int, EntrySummary] | None = None,
) -> CheckRecord:
    """The stored check as the JSON contract: a read plus matches, with the record id."""
    result = check.result or {}
    record = CheckRecord.model_validate(
        {
            "id": check.id,
            "record_id": check.id,
            "state": check.state,
            "purpose": check.purpose,
            "officer": check.officer,
            "station_id": check.station_id,
            "location": check.location,
            "mode": check.mode,
            "started_at": _iso(check.started_at),
            "completed_at": _iso(check.completed_at),
            "register_version": check.register_version,
            "verdict": check.verdict,
            "marked": check.marked,
            "identifiers": result.get("identifiers", []),
            "marks": result.get("marks", []),
            "timings_ms": result.get("timings_ms", {}),
            "warnings": result.get("warnings", []),
            "matches": result.get("matches", []),
            "images": [
                {
                    "role": i.role,
                    "sha256": i.sha256,
                    "width": i.width,
                    "height": i.height,
                    "size_bytes": i.size_bytes,
                }
                for i in check.images
            ],
            "conditions": check.conditions,
            "error": check.error,
            "earlier_checks": earlier or [],
        }
    )
    if entries:
        for m in record.matches:
            for c in m.candidates:
                c.entry = entries.get(c.entry_id)
    record.result = result_of(record)
    return record


def earlier_checks(s: Session, check: Check, limit: int = 50) -> list[EarlierCheck]:
    """Other checks of this record's identifiers, newest first, one entry per check."""
    values = sorted({i.value for i in check.identifiers})
    if not values:
        return []
    rows = s.execute(
        select(Check.id, Check.started_at, Check.station_id, Check.verdict, CheckIdentifier.value)
        .join(CheckIdentifier, CheckIdentifier.check_id == Check.id)
        .where(CheckIdentifier.value.in_(values), Check.id != check.id)
        .order_by(Check.started_at.desc(), Check.id)
        .limit(limit * len(values))
    ).all()
    out: dict[str, EarlierCheck] = {}
    for cid, started, station, verdict, value in rows:
        e = out.get(cid)
        if e is None:
            if len(out) == limit:
                continue
            e = out[cid] = EarlierCheck(
                check_id=cid,
                started_at=_iso(started),
                station_id=station,
                verdict=verdict,
                identifier=value,
            )
        if value not in e.identifiers:
            e.identifiers.append(value)
    return list(out.values())


def describe_entries(s: Session, check: Check) -> dict[int, EntrySummary]:
    """What the register says about each candidate's item (category, make, force), so the
    officer can compare it with the item in hand. No owner data: that lives elsewhere."""
    ids = {
        c["entry_id"]
        for m in (check.result or {}).get("matches", [])
        for c in m.get("candidates", [])
    }
    if not ids:
        return {}
    rows = s.execute(
        select(
            RegisterEntry.id,
            RegisterEntry.category,
            RegisterEntry.brand,
            RegisterEntry.model,
            RegisterEntry.force,
            RegisterEntry.reported_on,
        ).where(RegisterEntry.id.in_(ids))
    ).all()
    return {
        r[0]: EntrySummary(
            category=r[1],
            brand=r[2],
            model=r[3],
            force=r[4],
            reported_on=r[5].isoformat() if r[5] else None,
        )
        for r in rows
    }


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.isoformat()
