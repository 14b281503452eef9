"""The centre's side of records up: verify, insert exactly once, anchor the chain, say so.

Pure database work (no NATS), so every rule is tested directly: a message is accepted only
from an enrolled, unrevoked station whose signature holds; a record id is stored once (a retry
a week later gets the same receipt); the audit entries must continue the chain already held
for that station, and a gap or a fork raises an alert instead of passing silently.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from station.db.engine import Database
from station.db.fleet_models import (
    FleetAlert,
    FleetAuditEntry,
    FleetImage,
    FleetRecord,
    FleetStation,
)
from station.fleet import messages as m
from station.records import audit
from station.records.signing import public_key_from_text, verify_signature

Status = Literal["committed", "rejected", "retry"]
#: deliveries of a message whose audit entries do not yet follow on before a gap is declared
GAP_PATIENCE = 4


@dataclass
class Outcome:
    """What the ingester decided about one message; ``receipt`` goes back to the station."""

    status: Status
    station_id: str
    message_id: str
    reason: str = ""
    duplicate: bool = False
    receipt: dict[str, Any] = field(default_factory=dict)


def alert(s: Session, station_id: str, kind: str, detail: str) -> None:
    s.add(FleetAlert(station_id=station_id, kind=kind, detail=detail))


def ingest(
    db: Database,
    subject_station: str,
    data: bytes,
    signature: str,
    deliveries: int = 1,
    images: dict[str, bytes] | None = None,
) -> Outcome:
    """Store one station message, or say why not. ``images`` are the bytes fetched for it."""
    try:
        body = json.loads(data)
        station_id = str(body["station_id"])
        message_id = str(body["id"])
        if not isinstance(body["kind"], str):
            raise TypeError("kind")
    except (ValueError, KeyError, TypeError):
        with db.writer() as s:
            alert(s, subject_station, "tampered", "a message that is not a station message")
        return Outcome("rejected", subject_station, "", "not a station message")
    out = Outcome("rejected", station_id, message_id)
    try:
        done = _store(db, out, subject_station, body, data, signature, deliveries, images)
        done.receipt.setdefault("seq", body.get("seq"))
        return done
    except _Retry as exc:  # nothing of it was stored; the stream delivers it again later
        return Outcome("retry", station_id, message_id, str(exc))


class _Retry(Exception):
    """Not yet: roll the message's transaction back and let it be redelivered."""


def _store(
    db: Database,
    out: Outcome,
    subject_station: str,
    body: dict[str, Any],
    data: bytes,
    signature: str,
    deliveries: int,
    images: dict[str, bytes] | None,
) -> Outcome:
    station_id, message_id, kind = out.station_id, out.message_id, str(body["kind"])
    with db.writer() as s:
        station = s.get(FleetStation, subject_station, with_for_update=True)
        if station_id != subject_station:
            return _reject(
                s, out, "tampered", f"names station {station_id} on {subject_station}'s subject"
            )
        if station is None or not station.public_key:
            return _reject(s, out, "unknown_station", "the station is not enrolled")
        if station.revoked_at is not None:
            return _reject(s, out, "revoked", f"station {station_id} is revoked")
        try:
            public = public_key_from_text(station.public_key)
            valid = verify_signature(public, m.unb64(signature), data)
        except Exception:  # a malformed signature header is a bad signature
            valid = False
        if not valid:
            return _reject(
                s, out, "signature", f"message {message_id}: the signature does not verify"
            )
        station.last_contact = dt.datetime.now(dt.UTC)
        digest = m.sha256_hex(data)
        existing = s.get(FleetRecord, message_id)
        if existing is not None:
            if existing.body_sha256 != digest:
                return _reject(
                    s, out, "conflict", f"message {message_id} arrived again with other content"
                )
            out.status, out.duplicate = "committed", True
            out.receipt = _receipt(existing, body)
            return out
        chain = _continue_chain(s, station, body.get("audit", []), deliveries)
        if chain == "retry":
            raise _Retry("audit entries before these have not arrived yet")
        if chain == "tampered":
            return _reject(
                s, out, "tampered", f"message {message_id}: an audit entry does not hash to itself"
            )
        for sha in body.get("images", []):
            if s.get(FleetImage, sha) is not None:
                continue
            blob = (images or {}).get(sha)
            if blob is None or m.sha256_hex(blob) != sha:
                raise _Retry(f"image {sha} is not in the Object Store yet")
            s.add(FleetImage(sha256=sha, size_bytes=len(blob), data=blob))
        record = body.get("record") or {}
        row = FleetRecord(
            record_id=message_id,
            station_id=station_id,
            kind=kind,
            body=body,
            body_sha256=digest,
            signature=signature,
            purpose=record.get("purpose") if kind == "record" else None,
            verdict=record.get("verdict") if kind == "record" else None,
            marked=bool(record.get("marked")) if kind == "record" else False,
        )
        s.add(row)
        s.flush()
        out.status = "committed"
        out.receipt = _receipt(row, body)
    return out


def _reject(s: Session, out: Outcome, kind: str, reason: str) -> Outcome:
    alert(s, out.station_id, kind, reason)
    out.status, out.reason = "rejected", reason
    out.receipt = {"id": out.message_id, "status": "rejected", "reason": reason}
    return out


def _receipt(row: FleetRecord, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row.record_id,
        "seq": body.get("seq"),
        "status": "committed",
        "sha256": row.body_sha256,
        "received_at": audit.entry_document_time(row.received_at),
    }


def _continue_chain(
    s: Session, station: FleetStation, entries: list[dict[str, Any]], deliveries: int
) -> str:
    """Check the entries against the chain held for the station and extend it: ok | retry |
    tampered. Gaps and forks are stored, alerted and marked on the station."""
    for e in entries:
        if audit.document_hash(e) != e.get("hash"):
            return "tampered"
    held = [e for e in entries if int(e["id"]) <= station.audit_last_id]
    fresh = [e for e in entries if int(e["id"]) > station.audit_last_id]
    for e in held:
        stored = s.get(FleetAuditEntry, (station.station_id, int(e["id"])))
        if stored is not None and stored.hash != e["hash"]:
            alert(
                s,
                station.station_id,
                "fork",
                f"audit entry {e['id']} differs from the one received before",
            )
            station.chain_ok = False
    if not fresh:
        return "ok"
    first = fresh[0]
    if int(first["id"]) != station.audit_last_id + 1:
        if deliveries < GAP_PATIENCE:
            return "retry"
        alert(
            s,
            station.station_id,
            "gap",
            f"audit entries {station.audit_last_id + 1}..{int(first['id']) - 1} never arrived",
        )
        station.chain_ok = False
    elif first["prev_hash"] != station.audit_last_hash:
        alert(
            s,
            station.station_id,
            "fork",
            f"audit entry {first['id']} does not follow entry {station.audit_last_id}",
        )
        station.chain_ok = False
    prev = first
    for e in fresh[1:]:
        if int(e["id"]) != int(prev["id"]) + 1 or e["prev_hash"] != prev["hash"]:
            return "tampered"
        prev = e
    for e in fresh:
        s.add(
            FleetAuditEntry(
                station_id=station.station_id,
                entry_id=int(e["id"]),
                at=e["at"],
                actor=e["actor"],
                action=e["action"],
                object_type=e["object_type"],
                object_id=e["object_id"],
                recipient=e["recipient"],
                detail=e["detail"],
                prev_hash=e["prev_hash"],
                hash=e["hash"],
            )
        )
    station.audit_last_id = int(prev["id"])
    station.audit_last_hash = prev["hash"]
    return "ok"


def verify_station_chain(s: Session, station_id: str) -> audit.ChainReport:
    """Recompute a station's chain as held centrally, from its first entry."""
    rows = s.execute(
        select(FleetAuditEntry)
        .where(FleetAuditEntry.station_id == station_id)
        .order_by(FleetAuditEntry.entry_id)
    ).scalars()
    prev, expected, count = audit.GENESIS, 1, 0
    for e in rows:
        count += 1
        doc = {"id": e.entry_id, "at": e.at, "actor": e.actor, "action": e.action,
               "object_type": e.object_type, "object_id": e.object_id, "recipient": e.recipient,
               "detail": e.detail, "prev_hash": e.prev_hash, "hash": e.hash}  # fmt: skip
        if e.entry_id != expected:
            return audit.ChainReport(count, False, e.entry_id, f"entry {expected} is missing")
        if e.prev_hash != prev or audit.document_hash(doc) != e.hash:
            return audit.ChainReport(count, False, e.entry_id, "the chain breaks here")
        prev, expected = e.hash, expected + 1
    return audit.ChainReport(count, True)
