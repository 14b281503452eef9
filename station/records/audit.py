"""Append-only, hash-chained audit log with signed checkpoints.

Each entry's hash covers its own fields and the previous entry's hash, so editing, deleting or
reordering any row breaks the chain from that row on; ``verify`` names the first broken entry.
Appends lock the single ``audit_head`` row, so concurrent writers cannot fork the chain.

A hash chain alone does not stop someone with database access from rewriting an entry and
rehashing everything after it. Checkpoints do: the station signs (head hash, entry count,
time) with its own key, periodically and on every evidence export, and ``verify`` checks the
chain against every checkpoint it is given. The entry that completes a check carries a hash
of the check's stored result (``record_sha256``), so the checks table is covered too.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from station.db.models import AuditCheckpoint, AuditEntry, AuditHead, Check, CheckImage
from station.errors import InputError, StationError
from station.records.signing import StationKey, key_id, public_key_from_text, verify_signature

AuditAction = Literal["collection", "consultation", "alteration", "disclosure", "erasure", "system"]
GENESIS = "0" * 64


def entry_hash(
    prev_hash: str,
    entry_id: int,
    at: dt.datetime,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    recipient: str | None,
    detail: dict[str, Any],
) -> str:
    """SHA-256 over a canonical JSON encoding of the entry and its predecessor's hash."""
    body = json.dumps(
        [prev_hash, entry_id, _ts(at), actor, action, object_type, object_id, recipient, detail],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def _ts(at: dt.datetime) -> str:
    # SQLite returns naive datetimes; hash the UTC wall time to microseconds either way.
    if at.tzinfo is not None:
        at = at.astimezone(dt.UTC).replace(tzinfo=None)
    return at.isoformat(timespec="microseconds")


def append(
    session: Session,
    actor: str,
    action: AuditAction,
    object_type: str,
    object_id: str,
    detail: dict[str, Any] | None = None,
    recipient: str | None = None,
) -> AuditEntry:
    """Add one entry in the caller's transaction (it commits with the change it records)."""
    head = session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar()
    if head is None:
        raise StationError("the audit log has no head row: run `station db upgrade`")
    at = dt.datetime.now(dt.UTC)
    entry_id = head.last_id + 1
    clean_detail = json.loads(json.dumps(detail or {}, default=str))
    digest = entry_hash(
        head.last_hash, entry_id, at, actor, action, object_type, object_id, recipient, clean_detail
    )
    entry = AuditEntry(
        id=entry_id,
        at=at,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        recipient=recipient,
        detail=clean_detail,
        prev_hash=head.last_hash,
        hash=digest,
    )
    session.add(entry)
    head.last_id = entry_id
    head.last_hash = digest
    session.flush()
    return entry


class AuditEntryDocument(BaseModel):
    """One audit entry as served by the API and written into evidence bundles.

    ``at`` is the UTC time the hash covers (microseconds), so anyone holding the entries can
    recompute every hash with :func:`entry_hash`."""

    id: int
    at: str
    actor: str
    action: str
    object_type: str
    object_id: str
    recipient: str | None
    detail: dict[str, Any]
    prev_hash: str
    hash: str


def entry_document(e: AuditEntry) -> AuditEntryDocument:
    """The one serialisation of a stored entry."""
    return AuditEntryDocument(
        id=e.id,
        at=_ts(e.at) + "+00:00",
        actor=e.actor,
        action=e.action,
        object_type=e.object_type,
        object_id=e.object_id,
        recipient=e.recipient,
        detail=e.detail,
        prev_hash=e.prev_hash,
        hash=e.hash,
    )


def list_entries(
    session: Session,
    *,
    object_type: str | None = None,
    object_id: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
    oldest_first: bool = False,
) -> list[AuditEntryDocument]:
    """Entries matching every given filter, newest first (or oldest first), at most ``limit``."""
    order = AuditEntry.id.asc() if oldest_first else AuditEntry.id.desc()
    q = select(AuditEntry).order_by(order).limit(limit)
    for column, value in (
        (AuditEntry.object_type, object_type),
        (AuditEntry.object_id, object_id),
        (AuditEntry.actor, actor),
        (AuditEntry.action, action),
    ):
        if value is not None:
            q = q.where(column == value)
    if before_id is not None:
        q = q.where(AuditEntry.id < before_id)
    return [entry_document(e) for e in session.execute(q).scalars()]


@dataclass(frozen=True)
class ChainReport:
    entries: int
    ok: bool
    first_broken_id: int | None = None
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "entries": self.entries,
            "ok": self.ok,
            "first_broken_id": self.first_broken_id,
            "reason": self.reason,
        }


def verify_entries(
    entries: Iterable[AuditEntry],
    head: AuditHead | None = None,
    seen: dict[int, str] | None = None,
) -> ChainReport:
    """Recompute the chain over entries in id order (``seen`` collects hashes of wanted ids)."""
    prev = GENESIS
    expected_id = 1
    count = 0
    for e in entries:
        count += 1
        if seen is not None and e.id in seen:
            seen[e.id] = e.hash
        if e.id != expected_id:
            return ChainReport(count, False, e.id, f"entry {expected_id} is missing (found {e.id})")
        if e.prev_hash != prev:
            return ChainReport(count, False, e.id, "prev_hash does not match the entry before it")
        digest = entry_hash(
            prev, e.id, e.at, e.actor, e.action, e.object_type, e.object_id, e.recipient, e.detail
        )
        if digest != e.hash:
            return ChainReport(count, False, e.id, "entry content was changed after it was written")
        prev = e.hash
        expected_id += 1
    if head is not None and (head.last_id != expected_id - 1 or head.last_hash != prev):
        return ChainReport(
            count,
            False,
            expected_id,
            f"the log ends at entry {expected_id - 1} but the head "
            f"records entry {head.last_id}: entries were removed from the end",
        )
    return ChainReport(count, True)


def verify(
    session: Session,
    batch: int = 5000,
    public_key: bytes | None = None,
    checkpoints: Iterable[SignedCheckpoint] = (),
) -> ChainReport:
    """Verify the whole chain stored in the database, every stored and given checkpoint, and
    every check record's result against the hash its completing entry recorded.

    With ``public_key`` a checkpoint whose signature does not verify is itself reported (a
    forged or altered checkpoint); without it checkpoints are compared unverified."""
    head = session.get(AuditHead, 1)
    stored = [
        checkpoint_from_row(row)
        for row in session.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.id)).scalars()
    ]
    every = [*stored, *checkpoints]
    for cp in every:
        if public_key is not None and not verify_checkpoint(cp, public_key):
            return ChainReport(
                0,
                False,
                cp.entries,
                f"checkpoint at entry {cp.entries} ({cp.at}) is not "
                "signed by this station's key: it was forged or altered",
            )
    seen: dict[int, str] = {cp.entries: "" for cp in every}
    rows = session.execute(
        select(AuditEntry).order_by(AuditEntry.id).execution_options(yield_per=batch)
    )
    report = verify_entries(rows.scalars(), head, seen)
    if not report.ok:
        return report  # the first broken entry is the most precise thing to say
    for cp in sorted(every, key=lambda c: c.entries):
        if cp.entries > report.entries:
            return ChainReport(
                report.entries,
                False,
                report.entries + 1,
                f"the log has {report.entries} entries but the checkpoint signed at {cp.at} "
                f"covers {cp.entries}: entries were removed from the end",
            )
        if cp.entries and seen.get(cp.entries) != cp.head_hash:
            return ChainReport(
                report.entries,
                False,
                cp.entries,
                f"entry {cp.entries} no longer has the hash the checkpoint signed at {cp.at} "
                "holds: the log was rewritten and rehashed",
            )
    return _verify_records(session, report)


# --- check records covered by the chain ---------------------------------------------------------


def record_digest(
    verdict: str | None, marked: bool | None, result: dict[str, Any], images: Iterable[Any]
) -> str:
    """SHA-256 of what a completed check found: verdict, marks flag, result and image hashes."""
    body = json.dumps(
        {
            "verdict": verdict,
            "marked": marked,
            "result": result,
            "images": sorted([i.role, i.sha256] for i in images),
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def stored_record_digest(session: Session, check: Check) -> str:
    images = session.execute(select(CheckImage).where(CheckImage.check_id == check.id)).scalars()
    return record_digest(check.verdict, check.marked, check.result or {}, images)


def _verify_records(session: Session, report: ChainReport, chunk: int = 500) -> ChainReport:
    wanted: list[tuple[int, str, str]] = []
    for e in session.execute(
        select(AuditEntry).where(AuditEntry.object_type == "check").order_by(AuditEntry.id)
    ).scalars():
        digest = (e.detail or {}).get("record_sha256")
        if digest:
            wanted.append((e.id, e.object_id, str(digest)))
    for lo in range(0, len(wanted), chunk):
        part = wanted[lo : lo + chunk]
        checks = {
            c.id: c
            for c in session.execute(
                select(Check).where(Check.id.in_([w[1] for w in part]))
            ).scalars()
        }
        for entry_id, check_id, digest in part:
            check = checks.get(check_id)
            if check is None:
                return ChainReport(report.entries, False, entry_id, f"check {check_id} was deleted")
            if stored_record_digest(session, check) != digest:
                return ChainReport(
                    report.entries,
                    False,
                    entry_id,
                    f"check {check_id}'s stored result no longer matches the hash audit "
                    f"entry {entry_id} recorded: the check record was changed",
                )
    return report


# --- signed checkpoints ---------------------------------------------------------------------------

CHECKPOINT_FORMAT = "check-station-audit-checkpoint/1"


@dataclass(frozen=True)
class SignedCheckpoint:
    """The chain's head at a moment, signed by the station that keeps the log."""

    station_id: str
    entries: int
    head_hash: str
    at: str
    key_id: str
    public_key: str
    signature: str

    def payload(self) -> bytes:
        """The bytes the signature covers."""
        return json.dumps(
            [CHECKPOINT_FORMAT, self.station_id, self.entries, self.head_hash, self.at],
            separators=(",", ":"),
        ).encode()

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "station_id": self.station_id,
            "entries": self.entries,
            "head_hash": self.head_hash,
            "at": self.at,
            "key_id": self.key_id,
            "public_key": self.public_key,
            "signature": self.signature,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> SignedCheckpoint:
        try:
            return cls(
                station_id=str(doc["station_id"]),
                entries=int(doc["entries"]),
                head_hash=str(doc["head_hash"]),
                at=str(doc["at"]),
                key_id=str(doc["key_id"]),
                public_key=str(doc["public_key"]),
                signature=str(doc["signature"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"not an audit checkpoint: {exc}") from exc


def checkpoint_from_row(row: AuditCheckpoint) -> SignedCheckpoint:
    return SignedCheckpoint(
        row.station_id,
        row.entries,
        row.head_hash,
        row.at,
        row.key_id,
        row.public_key,
        row.signature,
    )


def checkpoint(session: Session, key: StationKey, station_id: str) -> SignedCheckpoint:
    """Sign the current head (in the caller's transaction) and store the checkpoint."""
    head = session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar()
    if head is None:
        raise StationError("the audit log has no head row: run `station db upgrade`")
    at = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
    unsigned = SignedCheckpoint(
        station_id, head.last_id, head.last_hash, at, key.key_id, key.public_text, ""
    )
    signature = base64.b64encode(key.sign(unsigned.payload())).decode("ascii")
    cp = SignedCheckpoint(**{**unsigned.__dict__, "signature": signature})
    session.add(
        AuditCheckpoint(
            at=cp.at,
            station_id=cp.station_id,
            entries=cp.entries,
            head_hash=cp.head_hash,
            key_id=cp.key_id,
            public_key=cp.public_key,
            signature=cp.signature,
        )
    )
    session.flush()
    return cp


def verify_checkpoint(cp: SignedCheckpoint, public: bytes) -> bool:
    """True when ``cp`` was signed by the holder of ``public`` and names that key."""
    try:
        signature = base64.b64decode(cp.signature, validate=True)
        named = public_key_from_text(cp.public_key)
    except (ValueError, InputError):
        return False
    if named != public or cp.key_id != key_id(public):
        return False
    return verify_signature(public, signature, cp.payload())


def checkpoint_if_due(
    session: Session,
    key: StationKey,
    station_id: str,
    every_entries: int = 200,
    every: dt.timedelta = dt.timedelta(hours=1),
) -> SignedCheckpoint | None:
    """A new checkpoint when ``every_entries`` entries or ``every`` passed since the last one."""
    last = session.execute(
        select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1)
    ).scalar()
    head = session.get(AuditHead, 1)
    if head is None or head.last_id == 0:
        return None
    if last is not None:
        if last.entries == head.last_id:
            return None
        age = dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(last.at)
        if head.last_id - last.entries < every_entries and age < every:
            return None
    return checkpoint(session, key, station_id)


# -- carrying the chain elsewhere (a central store) and anchoring it there -----------------------


def document_hash(doc: dict[str, Any]) -> str:
    """Recompute the hash of an entry from its JSON document (see :func:`entry_document`)."""
    return entry_hash(
        doc["prev_hash"],
        int(doc["id"]),
        dt.datetime.fromisoformat(doc["at"]),
        doc["actor"],
        doc["action"],
        doc["object_type"],
        doc["object_id"],
        doc["recipient"],
        doc["detail"],
    )


def entry_document_time(at: dt.datetime) -> str:
    """A time as the audit log writes it (UTC, microseconds, no zone)."""
    return _ts(at)


def head(session: Session) -> tuple[int, str]:
    """The chain's head (last entry id and hash) as committed."""
    row = session.get(AuditHead, 1)
    return (0, GENESIS) if row is None else (row.last_id, row.last_hash)
