"""The station's link to the centre: records up, receipts back, register down, look-ups.

It runs on its own thread with its own event loop and reads and writes only the station's
database: a check commits locally and returns; this link sends what the outbox holds, in
order, whenever the centre is reachable. A row is ``sent`` once the server has stored it
(JetStream's acknowledgement) and ``committed`` only when the centre's signed receipt says
so; a row whose receipt does not come is sent again (the record id makes that harmless).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import random
import threading
from collections.abc import Callable, Iterator
from typing import Any

import nats
from nats.aio.client import Client
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError, ObjectNotFoundError
from sqlalchemy import func, select

from station.db.engine import Database
from station.db.fleet_models import CentralLookup, CheckAmendment, OutboxItem
from station.db.models import CheckIdentifier
from station.fleet import messages as m
from station.fleet import outbox
from station.fleet.backoff import Backoff
from station.fleet.enrolment import Enrolment, connect
from station.fleet.register_feed import RegisterFollower, bucket
from station.records import audit
from station.records.images import ImageStore
from station.records.signing import StationKey, verify_signature
from station.settings import LinkSettings

log = logging.getLogger(__name__)


class StationLink:
    """Start with :meth:`start`, stop with :meth:`stop`; :meth:`wait_for` serves tests and
    tools that need to know when something arrived (it waits on a condition, not a clock)."""

    def __init__(
        self,
        db: Database,
        images: ImageStore,
        matcher: Any,
        key: StationKey,
        enrolment: Enrolment,
        *,
        status: Callable[[], dict[str, Any]] | None = None,
        resend_after: float = 60.0,
        status_every: float = 10.0,
        lookup_timeout: float = 2.0,
        batch: int = 50,
        settings: LinkSettings | None = None,
        rand: Callable[[], float] | None = None,
    ) -> None:
        self.db = db
        self.images = images
        self.matcher = matcher
        self.key = key
        self.enrolment = enrolment
        self.station_id = enrolment.station_id
        self.status = status or (lambda: {})
        self.resend_after = resend_after
        self.status_every = status_every
        self.lookup_timeout = lookup_timeout
        self.batch = batch
        self.settings = settings or LinkSettings()
        #: the random source of every retry wait (tests pass their own)
        self.rand = rand or random.Random().random
        self.follower = RegisterFollower(db, matcher, enrolment.centre_public)
        #: called after the server stored a message and before it is marked (fault tests)
        self.after_server_ack: Callable[[OutboxItem], None] | None = None
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None
        self._register_wake: asyncio.Event | None = None
        self.connected = threading.Event()
        #: set whenever the connection drops (a cut link, a restart, a revocation)
        self.disconnected = threading.Event()

    # -- thread control ------------------------------------------------------------------------

    def start(self) -> None:
        started = threading.Event()
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._main(started)), name="station-link", daemon=True
        )
        self._thread.start()
        started.wait(30)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(30)

    def wake(self) -> None:
        """Look at the outbox now (after a check, say) instead of at the next interval."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(predicate, timeout)

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    # -- the loop ------------------------------------------------------------------------------

    async def _main(self, started: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop, self._wake, self._register_wake = (
            asyncio.Event(),
            asyncio.Event(),
            asyncio.Event(),
        )
        started.set()
        nc = await self._connect()
        if nc is None:
            return
        js = nc.jetstream(timeout=5)
        tasks = [
            asyncio.create_task(self._uploads(js)),
            asyncio.create_task(self._receipts(js)),
            asyncio.create_task(self._heartbeat(nc)),
        ]
        if self.enrolment.scope == "partial":  # holds its own part; asks the centre for the rest
            tasks.append(asyncio.create_task(self._lookups(nc)))
        else:
            tasks.append(asyncio.create_task(self._register(nc, js)))
        await self._stop.wait()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await nc.close()

    async def _connect(self) -> Client | None:
        """Connect, trying again until it works or the link is stopped (a station can start
        while the centre is unreachable; it works offline meanwhile)."""
        assert self._stop is not None
        backoff = self.backoff()
        while not self._stop.is_set():
            try:
                return await connect(
                    self.enrolment,
                    max_reconnect_attempts=-1,
                    # the client's own reconnects wait the same each time: a different wait
                    # at each station keeps a force's stations from reconnecting in step
                    reconnect_time_wait=self.settings.retry_first / 2 * (1 + self.rand()),
                    connect_timeout=2,
                    ping_interval=5,
                    max_outstanding_pings=2,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                    error_cb=self._on_error,
                )
            except Exception as exc:
                log.info("centre unreachable (%s); working offline", exc)
                await self._sleep(backoff.next())
        return None

    def backoff(self, first: float | None = None) -> Backoff:
        """The waits of one retry loop (see :class:`Backoff`), as this link is configured."""
        return Backoff.of(self.settings, first, self.rand)

    async def _on_disconnected(self) -> None:
        self.connected.clear()
        self.disconnected.set()

    async def _on_reconnected(self) -> None:
        """Back online: send and catch up, each after a short random wait (every station
        whose link came back with the centre's hears this at the same moment)."""
        self.connected.set()
        loop = asyncio.get_running_loop()
        for event in (self._wake, self._register_wake):
            if event is not None:
                loop.call_later(self.backoff().jitter(), event.set)

    async def _on_error(self, exc: Exception) -> None:
        log.info("link: %s", exc)

    async def _sleep(self, seconds: float, wake: asyncio.Event | None = None) -> None:
        assert self._stop is not None
        waits = [asyncio.ensure_future(self._stop.wait())]
        if wake is not None:
            waits.append(asyncio.ensure_future(wake.wait()))
        _, pending = await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        for p in pending:
            p.cancel()
        if wake is not None:
            wake.clear()

    # -- records up ----------------------------------------------------------------------------

    async def _uploads(self, js: JetStreamContext) -> None:
        self.connected.set()
        backoff = self.backoff()
        while True:
            try:
                busy = await self._upload_batch(js)
            except Exception as exc:  # offline, server restarting: try again, later each time
                log.info("upload paused: %s", exc)
                await self._sleep(backoff.next(), self._wake)  # or the link is back
                continue
            backoff.reset()
            if not busy:
                await self._sleep(1.0, self._wake)

    def _due(self) -> list[tuple[OutboxItem, bytes]]:
        stale = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=self.resend_after)
        with self.db.session() as s:
            items = outbox.pending(s, self.batch)
            resend = s.execute(
                select(OutboxItem)
                .where(OutboxItem.state == "sent", OutboxItem.sent_at < stale)
                .order_by(OutboxItem.id)
                .limit(self.batch)
            ).scalars()
            chosen = sorted([*items, *resend], key=lambda i: i.id)[: self.batch]
            return [(i, m.canonical(outbox.message_body(s, i, self.station_id))) for i in chosen]

    def _checkpoint_if_idle(self) -> bool:
        """Audit entries written since the last message (consultations, logins) go up too."""
        with self.db.writer() as s:
            last_id, _ = audit.head(s)
            covered = s.execute(
                select(func.coalesce(func.max(OutboxItem.audit_to), 0))
            ).scalar_one()
            if last_id <= covered:
                return False
            outbox.enqueue(s, "checkpoint", str(last_id))
            return True

    async def _upload_batch(self, js: JetStreamContext) -> bool:
        due = await asyncio.to_thread(self._due)
        if not due:
            return await asyncio.to_thread(self._checkpoint_if_idle)
        for item, data in due:
            body = json.loads(data)
            for sha in body.get("images", []):
                await self._ensure_image(js, sha)
            await js.publish(
                m.records_subject(self.station_id),
                data,
                headers={
                    m.MSG_ID: _msg_id(body["id"], item.attempts),
                    m.SIGNATURE: m.b64(self.key.sign(data)),
                    m.KEY_ID: self.key.key_id,
                },
                timeout=5,
            )
            if self.after_server_ack is not None:
                self.after_server_ack(item)
            await asyncio.to_thread(self._mark_sent, item.id)
        return True

    async def _ensure_image(self, js: JetStreamContext, sha: str) -> None:
        store = bucket(js, m.IMAGES_BUCKET)
        try:
            await store.get_info(sha)
            return
        except (ObjectNotFoundError, NotFoundError):
            pass
        data = await asyncio.to_thread(self.images.read_bytes, sha)
        await store.put(sha, data)

    def _mark_sent(self, item_id: int) -> None:
        with self.db.writer() as s:
            item = s.get(OutboxItem, item_id)
            if item is not None and item.state in ("pending", "sent"):
                item.state = "sent"
                item.attempts += 1
                item.sent_at = dt.datetime.now(dt.UTC)
        self._notify()

    # -- receipts ------------------------------------------------------------------------------

    async def _receipts(self, js: JetStreamContext) -> None:
        sub = None
        backoff = self.backoff()
        while True:
            try:
                if sub is None:
                    sub = await js.pull_subscribe_bind(
                        durable=m.receipts_consumer(self.station_id), stream=m.RECEIPTS_STREAM
                    )
                msgs = await sub.fetch(self.batch, timeout=2)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            except Exception as exc:
                log.info("receipts paused: %s", exc)
                await self._sleep(backoff.next(), self._wake)
                continue
            backoff.reset()
            for msg in msgs:
                signature = (msg.headers or {}).get(m.SIGNATURE, "")
                if not verify_signature(self.enrolment.centre_public, m.unb64(signature), msg.data):
                    log.warning("a receipt not signed by the centre was ignored")
                    await msg.ack()
                    continue
                await asyncio.to_thread(self._mark_receipt, json.loads(msg.data))
                with contextlib.suppress(Exception):
                    await msg.ack()

    def _mark_receipt(self, receipt: dict[str, Any]) -> None:
        with self.db.writer() as s:
            item = s.get(OutboxItem, int(receipt.get("seq") or 0))
            ours = item is not None and outbox.message_id(item, self.station_id) == receipt.get(
                "id"
            )
            if item is not None and ours and item.state != "committed":
                item.state = "committed" if receipt.get("status") == "committed" else "rejected"
                item.committed_at = dt.datetime.now(dt.UTC)
                item.receipt = receipt
        self._notify()

    # -- register down -------------------------------------------------------------------------

    async def _register(self, nc: Client, js: JetStreamContext) -> None:
        assert self._register_wake is not None
        wake = self._register_wake

        async def on_manifest(_msg: Any) -> None:
            wake.set()

        with contextlib.suppress(Exception):
            await nc.subscribe(m.REGISTER_SUBJECTS, cb=on_manifest)
        backoff = self.backoff(first=2.0)
        while True:
            try:
                if await self.follower.catch_up(js):
                    self._notify()
            except Exception as exc:
                log.warning("register update failed (tried again): %s", exc)
                await self._sleep(backoff.next(), wake)
                continue
            backoff.reset()
            await self._sleep(30.0, wake)

    # -- heartbeat -----------------------------------------------------------------------------

    async def _heartbeat(self, nc: Client) -> None:
        while True:
            try:
                doc = await asyncio.to_thread(self._status_doc)
                await nc.publish(m.status_subject(self.station_id), m.canonical(doc))
            except Exception as exc:
                log.info("heartbeat skipped: %s", exc)
            await self._sleep(self.status_every)

    def _status_doc(self) -> dict[str, Any]:
        with self.db.session() as s:
            backlog = outbox.backlog(s)
        return {
            **self.status(),
            "register_version": self.follower.local_version(),
            "backlog": backlog,
        }

    # -- central look-ups ----------------------------------------------------------------------

    async def _lookups(self, nc: Client) -> None:
        backoff = self.backoff(first=2.0)
        while True:
            try:
                answered = await self._lookup_batch(nc)
            except Exception as exc:
                log.info("central look-ups paused: %s", exc)
                await self._sleep(backoff.next(), self._wake)
                continue
            backoff.reset()
            if not answered:
                await self._sleep(2.0, self._wake)

    def _queue_lookups(self) -> list[tuple[int, str, list[dict[str, Any]]]]:
        """Queue a central check for every local record not yet queued; return the queue."""
        with self.db.writer() as s:
            queued = select(CentralLookup.check_id)
            fresh = s.execute(
                select(OutboxItem.object_id).where(
                    OutboxItem.kind == "record", OutboxItem.object_id.not_in(queued)
                )
            ).scalars()
            for check_id in list(fresh):
                idents = s.execute(
                    select(CheckIdentifier.value, CheckIdentifier.kind).where(
                        CheckIdentifier.check_id == check_id
                    )
                ).all()
                values = [{"value": v, "kind": k} for v, k in idents]
                s.add(
                    CentralLookup(
                        check_id=check_id, values=values, state="queued" if values else "answered"
                    )
                )
            s.flush()
            rows = s.execute(
                select(CentralLookup)
                .where(CentralLookup.state == "queued")
                .order_by(CentralLookup.id)
                .limit(20)
            ).scalars()
            return [(r.id, r.check_id, r.values) for r in rows]

    async def _lookup_batch(self, nc: Client) -> bool:
        queue = await asyncio.to_thread(self._queue_lookups)
        if not queue:
            return False
        for lookup_id, check_id, values in queue:
            reply = await nc.request(
                m.LOOKUP_SUBJECT, m.canonical({"values": values}), timeout=self.lookup_timeout
            )
            answer = json.loads(reply.data)
            if answer.get("ok"):
                await asyncio.to_thread(self._amend, lookup_id, check_id, answer)
        return True

    def _amend(self, lookup_id: int, check_id: str, answer: dict[str, Any]) -> None:
        """Append the centre's answer to the record: an amendment, audited, sent up in turn."""
        with self.db.writer() as s:
            lookup = s.get(CentralLookup, lookup_id)
            if lookup is None or lookup.state != "queued":
                return
            body = {"register_version": answer.get("version"), "results": answer.get("results", [])}
            amendment = CheckAmendment(check_id=check_id, kind="central_match", body=body)
            s.add(amendment)
            s.flush()
            verdicts = [r.get("verdict") for r in body["results"]]
            audit.append(s, "central-matcher", "alteration", "check", check_id,
                         {"amendment": amendment.id, "central_register_version": body["register_version"],
                          "verdicts": verdicts})  # fmt: skip
            lookup.state = "answered"
            lookup.answered_at = dt.datetime.now(dt.UTC)
            outbox.enqueue(s, "amendment", str(amendment.id))
        self._notify()


def _msg_id(message_id: str, attempts: int) -> str:
    """The record id for the first send, so the stream itself drops a retry of a send whose
    acknowledgement was lost; a send again after the server had acknowledged (its receipt
    never came) gets a fresh one, so it reaches the centre, which answers it from its copy."""
    return message_id if attempts == 0 else f"{message_id}~{attempts}"


def station_status(ctx: Any) -> dict[str, Any]:
    """What the heartbeat tells the supervisor's page: self-test, lamp health, outcomes."""
    from station.db.models import SelfTest
    from station.db.service_models import Booking, Outcome

    with ctx.db.session() as s:
        test = s.execute(select(SelfTest).order_by(SelfTest.id.desc()).limit(1)).scalar()
        booked = s.execute(select(func.coalesce(func.sum(Booking.items), 0))).scalar_one()
        returned = s.execute(
            select(func.count()).select_from(Outcome).where(Outcome.kind == "returned")
        ).scalar_one()
    lamp: dict[str, Any] | None = None
    if test is not None:
        parts = {p.get("name"): p for p in test.report.get("parts", [])}
        lamp = {n: {"passed": p.get("passed"), "detail": p.get("detail")}
                for n, p in parts.items() if n and ("lamp" in n or "uv" in n)}  # fmt: skip
    return {
        "last_self_test": None
        if test is None
        else {"passed": test.passed, "at": test.at.isoformat()},
        "lamp": lamp,
        "outcomes": {"booked_in": int(booked), "returned": int(returned)},
    }


@contextlib.contextmanager
def fleet_link(ctx: Any) -> Iterator[StationLink | None]:
    """Run the link for the life of a `station serve` when the station is enrolled."""
    enrolment = Enrolment.load(ctx.settings.data_dir)
    if enrolment is None:
        yield None
        return
    link = StationLink(
        ctx.db,
        ctx.images,
        ctx.matcher,
        StationKey.load_or_create(ctx.settings.data_dir),
        enrolment,
        status=lambda: station_status(ctx),
        settings=ctx.settings.link,
    )
    link.start()
    try:
        yield link
    finally:
        link.stop()
