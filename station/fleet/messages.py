"""The messages between stations and the centre: subjects, stream names, canonical bodies.

Every body is canonical JSON (sorted keys, no spaces), so the bytes a station signs are the
bytes the centre verifies. Signatures and key ids travel in headers beside the body.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from station.errors import InputError

# streams and buckets (one name per thing: the docs use these too)
RECORDS_STREAM = "RECORDS"
RECEIPTS_STREAM = "RECEIPTS"
REGISTER_STREAM = "REGISTER"
SNAPSHOT_STREAM = "REGISTER_SNAPSHOT"
IMAGES_BUCKET = "IMAGES"
REGISTER_BUCKET = "REGISTER"
INGEST_CONSUMER = "ingest"
MATCHER_QUEUE = "matchers"

# headers
MSG_ID = "Nats-Msg-Id"
SIGNATURE = "Station-Signature"
KEY_ID = "Station-Key"


def records_subject(station_id: str) -> str:
    return f"records.{station_id}"


def receipts_subject(station_id: str) -> str:
    return f"receipts.{station_id}"


def receipts_consumer(station_id: str) -> str:
    return f"receipts_{station_id}"


def register_subject(version: int) -> str:
    return f"register.v.{version}"


REGISTER_SUBJECTS = "register.v.*"
SNAPSHOT_SUBJECT = "register.snapshot"


def status_subject(station_id: str) -> str:
    return f"status.{station_id}"


def enrol_subject(station_id: str) -> str:
    return f"central.enrol.{station_id}"


LOOKUP_SUBJECT = "central.lookup"


def object_stream(bucket: str) -> str:
    return f"OBJ_{bucket}"


def check_station_id(station_id: str) -> str:
    """A station id is one NATS subject token: letters, digits, '-' and '_' only."""
    if not station_id or len(station_id) > 64:
        raise InputError(f"station id {station_id!r} must be 1 to 64 characters")
    if not all(c.isascii() and (c.isalnum() or c in "-_") for c in station_id):
        raise InputError(
            f"station id {station_id!r} may hold only letters, digits, '-' and '_'",
            fix="choose a station id like 'custody-north-1'",
        )
    return station_id


def canonical(doc: Any) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError as exc:
        raise InputError(f"{text[:20]!r} is not base64") from exc
