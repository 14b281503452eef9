"""Per-station NATS credentials and the subject permissions that make a station only a station.

The centre generates each station's user and password; nats-server holds only a bcrypt hash
of it in the authorization file written here (``station central nats-auth``). A station may
publish its own records, status and enrolment, put images, ask the central matcher, read the
register and take its own receipts; nothing else. Its replies come to an inbox prefix of its
own, so it cannot read another station's answers. A revoked station is left out of the file:
on the server's reload its connection is closed and it cannot connect again.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt

from station.fleet import messages as m

CENTRAL_USER = "central"
_BCRYPT_ROUNDS = 10


@dataclass(frozen=True)
class NatsUser:
    """A user of the force's NATS cluster as the server config lists it."""

    user: str
    password_hash: str
    permissions: dict[str, Any] | None = None


def new_password() -> str:
    return secrets.token_urlsafe(24)


def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(_BCRYPT_ROUNDS)).decode()


def inbox_prefix(station_id: str) -> str:
    """Where a station's replies arrive; no other station may subscribe there."""
    return f"_INBOX_{station_id}"


def station_permissions(station_id: str) -> dict[str, Any]:
    """Publish and subscribe allow-lists for one station (everything else is denied)."""
    js = "$JS.API"
    images = m.object_stream(m.IMAGES_BUCKET)
    register_objects = m.object_stream(m.REGISTER_BUCKET)
    receipts = m.receipts_consumer(station_id)
    return {
        "publish": {
            "allow": [
                m.records_subject(station_id),
                m.status_subject(station_id),
                m.enrol_subject(station_id),
                m.LOOKUP_SUBJECT,
                # images into the Object Store (content-addressed; the centre re-hashes them)
                f"$O.{m.IMAGES_BUCKET}.C.>",
                f"$O.{m.IMAGES_BUCKET}.M.>",
                f"{js}.STREAM.MSG.GET.{images}",
                # the register: manifests, the latest snapshot, delta and snapshot objects
                f"{js}.STREAM.MSG.GET.{m.REGISTER_STREAM}",
                f"{js}.STREAM.MSG.GET.{m.SNAPSHOT_STREAM}",
                f"{js}.STREAM.MSG.GET.{register_objects}",
                f"{js}.STREAM.NAMES",  # the client finds the object stream by subject
                f"{js}.CONSUMER.CREATE.{register_objects}",
                f"{js}.CONSUMER.CREATE.{register_objects}.>",
                f"{js}.CONSUMER.DELETE.{register_objects}.>",
                f"$JS.FC.{register_objects}.>",
                # its own receipts
                f"{js}.CONSUMER.INFO.{m.RECEIPTS_STREAM}.{receipts}",
                f"{js}.CONSUMER.MSG.NEXT.{m.RECEIPTS_STREAM}.{receipts}",
                f"$JS.ACK.{m.RECEIPTS_STREAM}.{receipts}.>",
            ]
        },
        "subscribe": {"allow": [f"{inbox_prefix(station_id)}.>", m.REGISTER_SUBJECTS]},
    }


def auth_config(central_password_hash: str, stations: Iterable[NatsUser]) -> str:
    """The ``authorization`` block for nats-server (JSON, which its config format accepts)."""
    users: list[dict[str, Any]] = [{"user": CENTRAL_USER, "password": central_password_hash}]
    for s in stations:
        users.append({"user": s.user, "password": s.password_hash, "permissions": s.permissions})
    return json.dumps({"authorization": {"users": users}}, indent=2)[1:-1].strip() + "\n"


def write_auth_config(path: Path, text: str) -> None:
    """Replace the file atomically (the server may reload at any moment)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
