"""A station's membership of a force: what `station enrol` stores and how it asks the centre.

The enrolment file (``data_dir/fleet/enrolment.json``, owner-only) holds the station id, the
NATS address and login the centre issued, and the centre's public key, with which the station
checks register manifests and receipts. The station's own key never leaves ``data_dir/keys``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import nats
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from station.errors import ConfigError, StationError
from station.fleet import creds
from station.fleet import messages as m
from station.fleet.stations import enrol_bytes
from station.records.signing import StationKey, public_key_from_text

FILE = Path("fleet") / "enrolment.json"


class EnrolmentError(StationError):
    """The centre refused or did not answer an enrolment."""

    fix = "check the station id and login the centre's administrator gave you, and the address"


@dataclass(frozen=True)
class Enrolment:
    station_id: str
    nats_url: str
    nats_user: str
    nats_password: str
    centre_key: str
    #: full: the station holds the whole register; partial: it also asks the centre
    scope: str = "full"

    @property
    def centre_public(self) -> bytes:
        return public_key_from_text(self.centre_key)

    @classmethod
    def load(cls, data_dir: Path) -> Enrolment | None:
        path = data_dir / FILE
        if not path.exists():
            return None
        try:
            return cls(**json.loads(path.read_text()))
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"the enrolment file {path} is damaged",
                fix="run `station enrol` again with the login the centre issued",
            ) from exc

    def save(self, data_dir: Path) -> Path:
        path = data_dir / FILE
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(asdict(self), fh, indent=2)
        os.replace(tmp, path)
        return path


async def connect(enrolment: Enrolment, **options: Any) -> nats.NATS:
    """A connection as this station, its replies on its own inbox prefix."""
    return await nats.connect(
        [u.strip() for u in enrolment.nats_url.split(",") if u.strip()],
        user=enrolment.nats_user,
        password=enrolment.nats_password,
        name=enrolment.station_id,
        inbox_prefix=creds.inbox_prefix(enrolment.station_id),
        **options,
    )


async def enrol(
    data_dir: Path, station_id: str, nats_url: str, user: str, password: str, timeout: float = 10
) -> tuple[Enrolment, dict[str, Any]]:
    """Register this station's key with the centre; store and return the enrolment."""
    key = StationKey.load_or_create(data_dir)
    draft = Enrolment(station_id, nats_url, user, password, centre_key="")
    try:
        nc = await connect(draft, connect_timeout=timeout, max_reconnect_attempts=1)
    except Exception as exc:
        raise EnrolmentError(f"cannot reach the force's NATS at {nats_url}: {exc}") from exc
    try:
        request = {
            "public_key": key.public_text,
            "signature": m.b64(key.sign(enrol_bytes(station_id, key.public_text))),
        }
        reply = await nc.request(m.enrol_subject(station_id), m.canonical(request), timeout=timeout)
    except (NatsTimeout, NoRespondersError) as exc:
        raise EnrolmentError("the centre did not answer the enrolment") from exc
    finally:
        await nc.close()
    doc: dict[str, Any] = json.loads(reply.data)
    if not doc.get("ok"):
        raise EnrolmentError(f"the centre refused the enrolment: {doc.get('error')}")
    enrolment = Enrolment(
        station_id, nats_url, user, password, doc["centre_key"], doc.get("scope", "full")
    )
    enrolment.save(data_dir)
    return enrolment, doc
