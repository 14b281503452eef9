"""The central service: streams set up, records ingested, enrolments answered, the register
published, and (optionally) a central matcher in the queue group.

PostgreSQL is the truth; NATS JetStream is the transport. The ingester reads ``RECORDS`` with
a durable pull consumer, so a central restart resumes where it stopped, and a message is
acknowledged only after its row is committed and its receipt is on ``RECEIPTS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import nats
from nats.aio.msg import Msg
from nats.js import api
from nats.js import errors as api_errors
from nats.js.client import JetStreamContext
from nats.js.errors import BadRequestError, NotFoundError, ObjectNotFoundError
from sqlalchemy import select

from station.db.engine import Database
from station.db.fleet_models import FleetImage
from station.errors import StationError
from station.fleet import messages as m
from station.fleet.ingest import ingest
from station.fleet.register_feed import bucket, publish_pending
from station.fleet.stations import StationRoll
from station.records.signing import StationKey
from station.settings import MatcherSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CentralSettings:
    #: manifests the REGISTER stream keeps; a station further behind bootstraps from a snapshot
    history: int = 100
    #: a full snapshot every this many versions (at most ``history``)
    snapshot_every: int = 20
    #: JetStream replicas of every stream (3 on a three-node cluster)
    replicas: int = 1
    #: seconds between looks for new register versions to publish
    publish_interval: float = 2.0
    #: how long the record stream de-duplicates a record id on its own
    duplicate_window: float = 120.0
    #: receipts kept for a station to collect
    receipts_max_age: float = 30 * 86400
    #: the settings the snapshot's index is built with (stations with others build their own)
    matcher: MatcherSettings = field(default_factory=MatcherSettings)


async def ensure_streams(js: JetStreamContext, cfg: CentralSettings) -> None:
    """Create (or update to) the streams, buckets and the ingest consumer the force uses."""
    if cfg.snapshot_every > cfg.history:
        raise StationError(
            f"a snapshot every {cfg.snapshot_every} versions but only {cfg.history} kept",
            fix="make --snapshot-every at most --history",
        )
    streams = [
        api.StreamConfig(
            name=m.RECORDS_STREAM,
            subjects=["records.*"],
            retention=api.RetentionPolicy.WORK_QUEUE,
            storage=api.StorageType.FILE,
            num_replicas=cfg.replicas,
            duplicate_window=cfg.duplicate_window,
        ),
        api.StreamConfig(
            name=m.RECEIPTS_STREAM,
            subjects=["receipts.*"],
            storage=api.StorageType.FILE,
            num_replicas=cfg.replicas,
            max_age=cfg.receipts_max_age,
            duplicate_window=cfg.duplicate_window,
        ),
        api.StreamConfig(
            name=m.REGISTER_STREAM,
            subjects=[m.REGISTER_SUBJECTS],
            storage=api.StorageType.FILE,
            num_replicas=cfg.replicas,
            max_msgs=cfg.history,
            discard=api.DiscardPolicy.OLD,
        ),
        api.StreamConfig(
            name=m.SNAPSHOT_STREAM,
            subjects=[m.SNAPSHOT_SUBJECT],
            storage=api.StorageType.FILE,
            num_replicas=cfg.replicas,
            max_msgs_per_subject=1,
        ),
    ]
    for config in streams:
        try:
            await js.add_stream(config)
        except BadRequestError:
            await js.update_stream(config)
    for name in (m.IMAGES_BUCKET, m.REGISTER_BUCKET):
        try:
            await js.object_store(name)
        except Exception:
            await js.create_object_store(
                name,
                config=api.ObjectStoreConfig(storage=api.StorageType.FILE, replicas=cfg.replicas),
            )
    await js.add_consumer(
        m.RECORDS_STREAM,
        api.ConsumerConfig(
            durable_name=m.INGEST_CONSUMER,
            ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=30,
            max_ack_pending=1000,
        ),
    )


async def ensure_receipts_consumer(js: JetStreamContext, station_id: str) -> None:
    """The one durable consumer a station reads its receipts from (fixed size, per station)."""
    await js.add_consumer(
        m.RECEIPTS_STREAM,
        api.ConsumerConfig(
            durable_name=m.receipts_consumer(station_id),
            filter_subject=m.receipts_subject(station_id),
            ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=30,
        ),
    )


def servers(url: str) -> list[str]:
    """``nats://a:4222,nats://b:4222`` as the list of a cluster's servers."""
    return [u.strip() for u in url.split(",") if u.strip()]


class CentralService:
    """One central process: call :meth:`run` in an event loop until ``stop`` is set."""

    def __init__(
        self,
        db: Database,
        nats_url: str,
        key: StationKey,
        settings: CentralSettings | None = None,
        matcher: Any = None,
        nats_options: dict[str, Any] | None = None,
    ) -> None:
        self.db = db
        self.nats_url = nats_url
        self.key = key
        self.settings = settings or CentralSettings()
        self.matcher = matcher
        self.nats_options = nats_options or {}
        self.roll = StationRoll(db)
        self.ready = asyncio.Event()
        self.ingested = 0

    async def run(self, stop: asyncio.Event) -> None:
        nc = await nats.connect(
            servers(self.nats_url),
            name="central",
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            error_cb=_link_error,
            **self.nats_options,
        )
        js = nc.jetstream(timeout=10)
        try:
            for attempt in range(240):  # a cluster elects its JetStream leader after it starts
                try:
                    await ensure_streams(js, self.settings)
                    break
                except (nats.errors.TimeoutError, api_errors.APIError) as exc:
                    if attempt == 239 or stop.is_set():
                        raise
                    log.info("JetStream not ready yet (%s); trying again", exc)
                    await _pause(stop, 0.5)

            async def on_enrol(msg: Msg) -> None:
                await self._on_enrol(js, msg)

            await nc.subscribe("central.enrol.*", cb=on_enrol)
            await nc.subscribe("status.*", cb=self._on_status)
            if self.matcher is not None:
                from station.fleet.matcher_service import serve_matcher

                await serve_matcher(nc, self.matcher)
            tasks = [
                asyncio.create_task(self._ingest_loop(js, stop)),
                asyncio.create_task(self._publish_loop(js, stop)),
            ]
            self.ready.set()
            await stop.wait()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            with contextlib.suppress(Exception):
                await nc.close()

    # -- enrolment and heartbeats --------------------------------------------------------------

    async def _on_enrol(self, js: JetStreamContext, msg: Msg) -> None:
        station_id = msg.subject.rsplit(".", 1)[-1]
        try:
            doc = json.loads(msg.data)
            station = await asyncio.to_thread(
                self.roll.enrol, station_id, doc["public_key"], m.unb64(doc["signature"])
            )
            await ensure_receipts_consumer(js, station_id)
            reply: dict[str, Any] = {
                "ok": True,
                "station_id": station_id,
                "key_id": station.key_id,
                "scope": station.register_scope,
                "centre_key": self.key.public_text,
                "key_list": await asyncio.to_thread(self.roll.key_list),
            }
        except (StationError, ValueError, KeyError) as exc:
            reply = {"ok": False, "error": str(exc)}
        await msg.respond(m.canonical(reply))

    async def _on_status(self, msg: Msg) -> None:
        station_id = msg.subject.split(".", 1)[1]
        try:
            doc = json.loads(msg.data)
        except ValueError:
            return
        await asyncio.to_thread(self.roll.record_status, station_id, doc)

    # -- records up ----------------------------------------------------------------------------

    async def _ingest_loop(self, js: JetStreamContext, stop: asyncio.Event) -> None:
        sub = await js.pull_subscribe_bind(durable=m.INGEST_CONSUMER, stream=m.RECORDS_STREAM)
        while not stop.is_set():
            try:
                msgs = await sub.fetch(64, timeout=1)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            except Exception as exc:  # disconnected: the client reconnects by itself
                log.warning("ingest fetch failed: %s", exc)
                await _pause(stop, 1.0)
                continue
            for msg in msgs:
                try:
                    await self._ingest_one(js, msg)
                except Exception as exc:  # redelivered after ack_wait; nothing is lost
                    log.warning("ingest of %s failed: %s", msg.subject, exc)

    async def _ingest_one(self, js: JetStreamContext, msg: Msg) -> None:
        station_id = msg.subject.split(".", 1)[1]
        headers = msg.headers or {}
        images = await self._fetch_images(js, msg.data)
        outcome = await asyncio.to_thread(
            ingest,
            self.db,
            station_id,
            msg.data,
            headers.get(m.SIGNATURE, ""),
            msg.metadata.num_delivered,
            images,
        )
        if outcome.status == "retry":
            await msg.nak(delay=1.0)
            return
        if outcome.message_id:
            data = m.canonical(outcome.receipt)
            await js.publish(
                m.receipts_subject(station_id),
                data,
                headers={
                    # one receipt per stored message: a redelivery is dropped, a resend is not
                    m.MSG_ID: f"receipt-{outcome.message_id}-{msg.metadata.sequence.stream}",
                    m.SIGNATURE: m.b64(self.key.sign(data)),
                },
                timeout=10,
            )
        await msg.ack_sync(timeout=10)
        if outcome.status == "committed" and not outcome.duplicate:
            self.ingested += 1
        store = bucket(js, m.IMAGES_BUCKET)
        for sha in images:  # copied into PostgreSQL: the transport need not keep them
            with contextlib.suppress(Exception):
                await store.delete(sha)

    async def _fetch_images(self, js: JetStreamContext, data: bytes) -> dict[str, bytes]:
        try:
            wanted = [str(s) for s in json.loads(data).get("images", [])]
        except (ValueError, AttributeError):
            return {}
        if not wanted:
            return {}

        def missing() -> list[str]:
            with self.db.session() as s:
                have = set(
                    s.execute(
                        select(FleetImage.sha256).where(FleetImage.sha256.in_(wanted))
                    ).scalars()
                )
            return [w for w in wanted if w not in have]

        found: dict[str, bytes] = {}
        store = bucket(js, m.IMAGES_BUCKET)
        for sha in await asyncio.to_thread(missing):
            try:
                result = await store.get(sha)
            except (ObjectNotFoundError, NotFoundError):
                continue
            found[sha] = bytes(result.data or b"")
        return found

    # -- register down -------------------------------------------------------------------------

    async def _publish_loop(self, js: JetStreamContext, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                cfg = self.settings
                await publish_pending(
                    js, self.db, self.key, cfg.snapshot_every, cfg.matcher, cfg.history
                )
            except Exception as exc:
                log.warning("publishing the register failed (tried again): %s", exc)
            await _pause(stop, self.settings.publish_interval)


async def _link_error(exc: Exception) -> None:
    """One line per failed (re)connection, not the client's default traceback."""
    log.warning("NATS: %s", exc or type(exc).__name__)


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


class CentralThread:
    """The central service on a thread of its own (beside a web server, or in a test)."""

    def __init__(self, service: CentralService) -> None:
        self.service = service
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="central", daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            task = asyncio.create_task(self.service.run(self._stop))
            ready = asyncio.create_task(self.service.ready.wait())
            await asyncio.wait([task, ready], return_when=asyncio.FIRST_COMPLETED)
            self._ready.set()
            await task

        try:
            asyncio.run(main())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    def start(self, timeout: float = 60) -> None:
        self._thread.start()
        if not self._ready.wait(timeout) or self._error is not None:
            raise StationError(f"the central service did not start: {self._error}")

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
