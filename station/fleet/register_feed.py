"""Register down: signed manifests on a JetStream stream, deltas and snapshots in the Object Store.

Centrally, every register version (a ``register_imports`` row) is published once: its delta
(the entries that version changed, withdrawals included) and, every K versions, a snapshot of
the whole register go into the Object Store; a manifest (version, parent, digests, row count)
signed with the centre's key goes on the ``REGISTER`` stream under ``register.v.<parent>``, so
"what follows the version I hold" is one look-up by subject. The latest snapshot's manifest is
also kept on ``REGISTER_SNAPSHOT`` (one message), for a station away longer than the stream's
history. A station applies a delta in one transaction, the way a local import does, and the
matcher's index catches up from the database; after a snapshot the index is rebuilt.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import logging
from collections import defaultdict
from typing import Any

from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError
from nats.js.object_store import ObjectStore
from sqlalchemy import delete, func, select

from station.db.engine import Database
from station.db.fleet_models import FleetRegisterVersion
from station.db.models import RegisterEntry, RegisterImport
from station.errors import StationError
from station.fleet import messages as m
from station.records import audit
from station.records.signing import StationKey, verify_signature
from station.register.importer import RegisterRow

log = logging.getLogger(__name__)
FIELDS = ("identifier", "kind", "status", "category", "brand", "model", "crime_ref", "force",
          "owner_applied_number", "range_end", "owner_ref", "kit_type", "source", "withdrawn")  # fmt: skip


class FeedError(StationError):
    """A register delta or snapshot failed its digest or signature check."""

    fix = "nothing was applied; the station tries again, and the centre's alerts say more"


def bucket(js: JetStreamContext, name: str) -> ObjectStore:
    """An Object Store handle without the stream-info call a station may not make."""
    return ObjectStore(name=name, stream=m.object_stream(name), js=js)


def _row_doc(e: Any) -> dict[str, Any]:
    doc = {f: getattr(e, f) for f in FIELDS}
    doc["reported_on"] = e.reported_on.isoformat() if e.reported_on else None
    return doc


def encode_rows(rows: list[dict[str, Any]]) -> bytes:
    text = "".join(json.dumps(r, sort_keys=True, separators=(",", ":")) + "\n" for r in rows)
    return gzip.compress(text.encode(), compresslevel=5, mtime=0)


def decode_rows(blob: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in gzip.decompress(blob).decode().splitlines() if line]


# -- the centre ------------------------------------------------------------------------------------


def unpublished_versions(db: Database) -> list[int]:
    with db.session() as s:
        done = select(FleetRegisterVersion.version)
        rows = s.execute(
            select(RegisterImport.id)
            .where(RegisterImport.id.not_in(done))
            .order_by(RegisterImport.id)
        ).scalars()
        return [int(v) for v in rows]


def build_version(
    db: Database, version: int, snapshot: bool
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The manifest (unsigned) and the objects of one version."""
    with db.session() as s:
        parent = s.execute(
            select(func.coalesce(func.max(FleetRegisterVersion.version), 0)).where(
                FleetRegisterVersion.version < version
            )
        ).scalar_one()
        delta = [
            _row_doc(e)
            for e in s.execute(
                select(RegisterEntry).where(RegisterEntry.version == version)
            ).scalars()
        ]
        count = s.execute(
            select(func.count())
            .select_from(RegisterEntry)
            .where(RegisterEntry.withdrawn.is_(False))
        ).scalar_one()
        objects = {f"delta-{version}": encode_rows(delta)}
        manifest: dict[str, Any] = {
            "version": version,
            "parent": int(parent),
            "row_count": int(count),
            "delta": {
                "object": f"delta-{version}",
                "sha256": m.sha256_hex(objects[f"delta-{version}"]),
                "rows": len(delta),
            },
            "snapshot": None,
            "created_at": dt.datetime.now(dt.UTC).isoformat(),
        }
        if snapshot:
            rows = [
                _row_doc(e)
                for e in s.execute(
                    select(RegisterEntry)
                    .where(RegisterEntry.withdrawn.is_(False))
                    .execution_options(yield_per=50_000)
                ).scalars()
            ]
            name = f"snapshot-{version}"
            objects[name] = encode_rows(rows)
            manifest["snapshot"] = {
                "object": name,
                "sha256": m.sha256_hex(objects[name]),
                "rows": len(rows),
            }
    return manifest, objects


async def publish_pending(
    js: JetStreamContext, db: Database, key: StationKey, every: int
) -> list[int]:
    """Publish every version not yet published, in order; returns the versions published."""
    published = []
    store = bucket(js, m.REGISTER_BUCKET)
    for version in unpublished_versions(db):
        with db.session() as s:
            first = (
                s.execute(select(func.count()).select_from(FleetRegisterVersion)).scalar_one() == 0
            )
        manifest, objects = build_version(db, version, snapshot=first or version % every == 0)
        for name, blob in objects.items():
            await store.put(name, blob)
        data = m.canonical(manifest)
        signature = m.b64(key.sign(data))
        headers = {m.MSG_ID: f"register-{version}", m.SIGNATURE: signature, m.KEY_ID: key.key_id}
        await js.publish(m.register_subject(manifest["parent"]), data, headers=headers, timeout=10)
        if manifest["snapshot"]:
            await js.publish(
                m.SNAPSHOT_SUBJECT,
                data,
                headers={**headers, m.MSG_ID: f"snapshot-{version}"},
                timeout=10,
            )
        with db.writer() as s:
            s.add(FleetRegisterVersion(version=version, manifest=manifest, signature=signature))
        published.append(version)
        log.info(
            "published register version %d (%d delta rows)", version, manifest["delta"]["rows"]
        )
    return published


# -- a station -------------------------------------------------------------------------------------


class RegisterFollower:
    """Brings a station's register up to the centre's, one verified version at a time."""

    def __init__(self, db: Database, matcher: Any, centre_key: bytes) -> None:
        self.db = db
        self.matcher = matcher
        self.centre_key = centre_key

    def local_version(self) -> int:
        with self.db.session() as s:
            return int(
                s.execute(select(func.coalesce(func.max(RegisterImport.id), 0))).scalar_one()
            )

    async def catch_up(self, js: JetStreamContext) -> int:
        """Apply every version that follows ours; bootstrap from the snapshot when needed."""
        applied = 0
        while True:
            current = self.local_version()
            manifest = await self._manifest(js, m.REGISTER_STREAM, m.register_subject(current))
            if manifest is None:
                snap = await self._manifest(js, m.SNAPSHOT_STREAM, m.SNAPSHOT_SUBJECT)
                if snap is None or snap["version"] <= current:
                    return applied
                await self._bootstrap(js, snap)
            else:
                await self._apply_delta(js, manifest)
            applied += 1

    async def _manifest(
        self, js: JetStreamContext, stream: str, subject: str
    ) -> dict[str, Any] | None:
        try:
            msg = await js.get_last_msg(stream, subject)
        except NotFoundError:
            return None
        data = msg.data or b""
        signature = (msg.headers or {}).get(m.SIGNATURE, "")
        if not verify_signature(self.centre_key, m.unb64(signature), data):
            raise FeedError(f"the manifest on {subject} is not signed by the centre")
        doc: dict[str, Any] = json.loads(data)
        return doc

    async def _object(self, js: JetStreamContext, ref: dict[str, Any]) -> bytes:
        result = await bucket(js, m.REGISTER_BUCKET).get(ref["object"])
        blob = bytes(result.data or b"")
        if m.sha256_hex(blob) != ref["sha256"]:
            raise FeedError(f"register object {ref['object']} does not match its manifest's digest")
        return blob

    async def _apply_delta(self, js: JetStreamContext, manifest: dict[str, Any]) -> None:
        rows = decode_rows(await self._object(js, manifest["delta"]))
        apply_rows(self.db, manifest, rows, replace=False)
        self.matcher.index()  # catches up from the database, as after a local import

    async def _bootstrap(self, js: JetStreamContext, manifest: dict[str, Any]) -> None:
        rows = decode_rows(await self._object(js, manifest["snapshot"]))
        apply_rows(self.db, manifest, rows, replace=True)
        self.matcher.reset_index()
        self.matcher.index()


def apply_rows(
    db: Database, manifest: dict[str, Any], rows: list[dict[str, Any]], replace: bool
) -> None:
    """One transaction: the rows, the version row and the audit entry, or nothing."""
    from station.register.store import apply_rows as apply_register_rows

    version = int(manifest["version"])
    by_source: dict[str, list[RegisterRow]] = defaultdict(list)
    for n, r in enumerate(rows, start=1):
        by_source[r["source"]].append(
            RegisterRow(
                line=n,
                action="withdraw" if r["withdrawn"] else "add",
                identifier=r["identifier"],
                kind=r["kind"],
                status=r["status"],
                category=r["category"],
                brand=r["brand"],
                model=r["model"],
                crime_ref=r["crime_ref"],
                force=r["force"],
                reported_on=dt.date.fromisoformat(r["reported_on"]) if r["reported_on"] else None,
                owner_applied_number=r["owner_applied_number"],
                range_end=r["range_end"],
                owner_ref=r["owner_ref"],
                kit_type=r["kit_type"],
            )
        )
    kind = "snapshot" if replace else "delta"
    ref = manifest[kind]
    totals = {"added": 0, "updated": 0, "withdrawn": 0}
    with db.writer() as s:
        if replace:
            s.execute(delete(RegisterEntry))
        for source, source_rows in by_source.items():
            for k, v in apply_register_rows(s, source_rows, source, version).items():
                totals[k] += v
        s.add(
            RegisterImport(
                id=version,
                source="central",
                filename=ref["object"],
                sha256=ref["sha256"],
                imported_by="central",
                **totals,
            )
        )
        audit.append(s, "central", "alteration", "register", str(version),
                     {"from": "central", "object": ref["object"], "sha256": ref["sha256"], **totals})  # fmt: skip
