"""A small force for the fleet tests: a centre on real PostgreSQL, a real nats-server with
per-station users, and simulated stations on SQLite, each with its own key and link."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import nats
import numpy as np
from sqlalchemy import func, select

from station.checks.service import CheckRequest, CheckService
from station.context import StationContext
from station.db.engine import Database
from station.db.fleet_models import FleetRecord, FleetRegisterVersion, OutboxItem
from station.db.migrate import upgrade
from station.domain import Identifier, ReadResult
from station.fleet import creds
from station.fleet.central import CentralService, CentralSettings, CentralThread, ensure_streams
from station.fleet.enrolment import Enrolment, enrol
from station.fleet.register_feed import publish_pending
from station.fleet.stations import StationRoll
from station.fleet.uploader import StationLink
from station.records.signing import StationKey
from station.settings import StationSettings
from tests.helpers.nats import NatsServer, TcpProxy
from tests.helpers.servers import free_port

CENTRAL_PASSWORD = "central-secret-for-tests"
T = TypeVar("T")


class FramesScanner:
    """Stands in for capture + vision (not hardware): two generated frames and a serial, so a
    record carries images like a real scan's."""

    def __init__(self, serial: str = "SN12345678", seed: int = 0) -> None:
        self.serial = serial
        self.rng = np.random.default_rng(seed)

    def scan(self, on_frame: Callable[[str, Any], None] | None = None) -> Any:
        frames = {}
        for role in ("white", "uv"):
            image = self.rng.integers(0, 255, size=(48, 64, 3), dtype=np.uint8)
            frames[role] = image
            if on_frame is not None:
                on_frame(role, type("Frame", (), {"image": image})())
        ident = Identifier(kind="serial", value=self.serial, raw=self.serial, source="ocr",
                           confidence=0.9, valid=True)  # fmt: skip
        return ReadResult(identifiers=[ident]), frames, {}


@dataclass
class SimStation:
    station_id: str
    ctx: StationContext
    key: StationKey
    password: str
    link: StationLink | None = None
    service: CheckService = field(init=False)

    def __post_init__(self) -> None:
        self.service = self.ctx.check_service()

    def check(self, *identifiers: str) -> str:
        doc = self.service.manual(CheckRequest(identifiers=list(identifiers), officer="pc-1"))
        if self.link is not None:
            self.link.wake()
        return doc.id

    def scan(self, serial: str) -> str:
        self.service.scanner = FramesScanner(serial)
        doc = self.service.scan(CheckRequest(officer="pc-1"))
        if self.link is not None:
            self.link.wake()
        return doc.id

    def outbox_states(self) -> dict[str, int]:
        with self.ctx.db.session() as s:
            rows = s.execute(select(OutboxItem.state, func.count()).group_by(OutboxItem.state))
            return {state: int(n) for state, n in rows}

    def all_committed(self) -> bool:
        states = self.outbox_states()
        return bool(states) and set(states) == {"committed"}

    def register_version(self) -> int:
        return self.ctx.matcher.db_version()


class Force:
    """The centre plus stations; tests call :meth:`add_station`, :meth:`start` and friends."""

    def __init__(
        self, root: Path, pg_url: str, settings: CentralSettings | None = None, nodes: int = 1
    ) -> None:
        self.root = root
        self.db = Database(pg_url)
        upgrade(self.db)
        self.roll = StationRoll(self.db)
        self.central_key = StationKey.load_or_create(root / "centre")
        self.settings = settings or CentralSettings(publish_interval=0.2)
        if nodes == 1:
            self.servers = [NatsServer(root, auth=self.auth_text())]
        else:
            routes = [free_port() for _ in range(nodes)]
            self.servers = [
                NatsServer(
                    root,
                    name=f"n{i + 1}",
                    auth=self.auth_text(),
                    cluster={
                        "name": "force",
                        "port": routes[i],
                        "routes": [f"nats://127.0.0.1:{p}" for j, p in enumerate(routes) if j != i],
                    },
                )
                for i in range(nodes)
            ]
        self.server = self.servers[0]
        self.stations: dict[str, SimStation] = {}
        self.proxies: dict[str, TcpProxy] = {}
        self.central: CentralThread | None = None
        self.matcher: Any = None

    def auth_text(self) -> str:
        return creds.auth_config(creds.hash_password(CENTRAL_PASSWORD), self.roll.nats_users())

    @property
    def central_url(self) -> str:
        login = f"{creds.CENTRAL_USER}:{CENTRAL_PASSWORD}"
        return ",".join(f"nats://{login}@127.0.0.1:{n.port}" for n in self.servers)

    def add_station(self, station_id: str, scope: str = "full") -> SimStation:
        new = self.roll.add(station_id, scope=scope)
        data = self.root / station_id
        settings = StationSettings(
            data_dir=data, db_url=f"sqlite:///{data / 'station.db'}", station_id=station_id
        )
        ctx = StationContext(settings)
        st = SimStation(station_id, ctx, StationKey.load_or_create(data), new.nats_password)
        self.stations[station_id] = st
        return st

    def start_server(self) -> None:
        for node in self.servers:
            node.auth_file.write_text(self.auth_text())
            node.start()

    def start_central(self, matcher: Any = None) -> None:
        service = CentralService(
            self.db, self.central_url, self.central_key, self.settings, matcher
        )
        self.central = CentralThread(service)
        self.central.start()

    def stop_central(self) -> None:
        if self.central is not None:
            self.central.stop()
            self.central = None

    def enrol(self, st: SimStation, via_proxy: bool = True) -> Enrolment:
        url = ",".join(n.url for n in self.servers)
        if via_proxy:
            proxy = self.proxies.setdefault(st.station_id, TcpProxy(self.server.port))
            url = proxy.url
        enrolment, _ = asyncio.run(
            enrol(st.ctx.settings.data_dir, st.station_id, url, st.station_id, st.password)
        )
        return enrolment

    def link(self, st: SimStation, **options: Any) -> StationLink:
        enrolment = Enrolment.load(st.ctx.settings.data_dir)
        assert enrolment is not None
        options.setdefault("status_every", 0.5)
        st.link = StationLink(
            st.ctx.db, st.ctx.images, st.ctx.matcher, st.key, enrolment, **options
        )
        st.link.start()
        return st.link

    def with_central_js(self, work: Callable[[Any], Awaitable[T]]) -> T:
        """Run ``work(js)`` on a JetStream connection with the centre's login, streams made."""

        async def run() -> T:
            nc = await nats.connect(self.central_url)
            try:
                js = nc.jetstream(timeout=10)
                await ensure_streams(js, self.settings)
                return await work(js)
            finally:
                await nc.close()

        return asyncio.run(run())

    def publish(self) -> list[int]:
        """Publish the register versions not yet published, as the central service does."""
        cfg = self.settings
        return self.with_central_js(
            lambda js: publish_pending(
                js, self.db, self.central_key, cfg.snapshot_every, cfg.matcher, cfg.history
            )
        )

    def published(self, version: int, timeout: float) -> bool:
        """Wait until the central service has published ``version`` (its manifest is out)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.db.session() as s:
                if s.get(FleetRegisterVersion, version) is not None:
                    return True
            time.sleep(0.1)  # a look at the centre's table, not a guess at how long it takes
        return False

    def central_records(self, kind: str = "record") -> dict[str, int]:
        """Record id -> how many rows hold it centrally (exactly once means 1 each)."""
        with self.db.session() as s:
            rows = s.execute(
                select(FleetRecord.record_id, func.count())
                .where(FleetRecord.kind == kind)
                .group_by(FleetRecord.record_id)
            )
            return {r: int(n) for r, n in rows}

    def close(self) -> None:
        for st in self.stations.values():
            if st.link is not None:
                st.link.stop()
            st.ctx.close()
        self.stop_central()
        for p in self.proxies.values():
            p.close()
        for node in self.servers:
            node.stop(kill=True)  # nothing to keep: a clean shutdown only costs time
        self.db.dispose()


def register_file(path: Path, serials: list[str], withdraw: list[str] | None = None) -> Path:
    """A register CSV: each serial stolen, and the ``withdraw`` ones taken off."""
    lines = ["identifier,kind,status,category,brand,model,crime_ref,force,reported_on,action"]
    lines += [f"{s},serial,stolen,laptop,Acme,X,NN/{i:06d}/26,Northants,2026-09-01,add"
              for i, s in enumerate(serials)]  # fmt: skip
    lines += [f"{s},serial,,,,,,,,withdraw" for s in withdraw or []]
    path.write_text("\n".join(lines) + "\n")
    return path


def central_import(force: Force, path: Path) -> int:
    """Import a register file at the centre, as `station register import` does there."""
    from station.register.service import RegisterMatcher
    from station.settings import MatcherSettings

    result = RegisterMatcher(force.db, MatcherSettings()).import_file(path, source="pnc")
    return int(result["version"])
