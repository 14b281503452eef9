"""StationContext: the long-lived objects of one process, built from settings, passed explicitly.

Importing this module is cheap (the database layer loads when a context is made), so a
command can start slow things in the background before it opens the station.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from station.errors import ConfigError
from station.settings import StationSettings, VisionSettings

if TYPE_CHECKING:
    from station.checks.service import CheckService
    from station.devices.factory import DeviceSet
    from station.records.signing import StationKey
    from station.register.service import RegisterMatcher
    from station.wiring import SimHandle


class StationContext:
    """Database, image store, matcher and check service for one process."""

    def __init__(self, settings: StationSettings, migrate: bool = True) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        from station.matcher.jit import configure_cache

        configure_cache(settings.data_dir)
        from station.db.engine import Database
        from station.db.migrate import upgrade
        from station.records.images import ImageStore

        self.db = Database(settings.database_url)
        if migrate:
            from sqlalchemy.exc import OperationalError

            try:
                upgrade(self.db)
            except OperationalError as exc:
                self.db.dispose()
                raise ConfigError(
                    f"cannot open the station's database: {exc.orig}",
                    fix="check --db (or STATION_DB_URL) and that the database server is running",
                ) from None
        self.images = ImageStore(settings.image_dir)
        self.devices: DeviceSet | None = None

    @property
    def last_self_test(self) -> dict[str, Any]:
        """The newest doctor result of this station, recorded with every check."""
        from sqlalchemy import select

        from station.db.models import SelfTest

        with self.db.session() as s:
            row = s.execute(
                select(SelfTest)
                .where(SelfTest.station_id == self.settings.station_id)
                .order_by(SelfTest.id.desc())
                .limit(1)
            ).scalar()
            if row is None:
                return {"status": "never run"}
            parts = (row.report or {}).get("parts", []) if isinstance(row.report, dict) else []
            return {
                "status": "passed" if row.passed else "failed",
                "at": row.at.isoformat(),
                "id": row.id,
                # which parts failed, so the desk can say what to fix
                "failed": [p.get("name") for p in parts if not p.get("passed", True)],
            }

    def record_self_test(self, report: dict[str, Any], actor: str = "system") -> None:
        from station.db.models import SelfTest
        from station.records import audit

        with self.db.writer() as s:
            row = SelfTest(
                station_id=self.settings.station_id,
                passed=bool(report.get("passed")),
                report=report,
            )
            s.add(row)
            s.flush()
            audit.append(s, actor, "system", "self_test", str(row.id), {"passed": row.passed})

    @cached_property
    def station_key(self) -> StationKey:
        """This station's signing key (made on first use, owner-only, in data_dir/keys)."""
        from station.records.signing import StationKey

        return StationKey.load_or_create(self.settings.data_dir)

    @cached_property
    def matcher(self) -> RegisterMatcher:
        from station.register.service import RegisterMatcher

        return RegisterMatcher(self.db, self.settings.matcher, self.index_dir)

    @property
    def index_dir(self) -> Path:
        """Where the register index persists; one per database, so two never mix."""
        if self.settings.matcher.index_dir:
            return Path(self.settings.matcher.index_dir)
        tag = hashlib.sha256(self.db.url.encode()).hexdigest()[:12]
        return self.settings.data_dir / "index" / tag

    def check_service(self) -> CheckService:
        from station.checks.service import CheckService, Scanner

        scanner: Scanner | None = None
        if self.devices is not None:
            from station.checks.scanner import DeviceScanner

            scanner = DeviceScanner(self.devices, self.settings)
        return CheckService(
            self.db,
            self.images,
            self.matcher,
            self.settings,
            scanner,
            self_test=lambda: self.last_self_test,
        )

    def close(self) -> None:
        if self.devices is not None:
            self.devices.close()
            self.devices = None
        if "matcher" in self.__dict__:  # made on first use (a cached property)
            self.matcher.release()
        self.db.dispose()


@contextmanager
def hardware(ctx: StationContext, sim: bool) -> Iterator[SimHandle | None]:
    """Open the configured devices, or start the simulator in-process and connect to it.

    Yields the simulator's handle (for tests to drive the simulated world), or None."""
    from station.devices.factory import open_devices

    if sim:
        from station.wiring import start_simulator

        with start_simulator(ctx.settings) as simulator:
            ctx.devices = open_devices(ctx.settings, simulator)
            try:
                yield simulator
            finally:
                ctx.devices.close()
                ctx.devices = None
    else:
        ctx.devices = open_devices(ctx.settings)
        try:
            yield None
        finally:
            ctx.devices.close()
            ctx.devices = None


def prepare_reading(settings: VisionSettings) -> list[threading.Thread]:
    """Start the vision's decoder workers and load the OCR model in each, in the background.

    A scan reads only after it captured; started first, the workers boot and load the model
    on the other core while this process opens the database, the hardware and captures.
    Returns the loading threads (join them to wait until reading is ready); a model that
    cannot load is left to the scan itself to report. With ``preload_ocr`` off it starts
    nothing: the first reading starts the workers and loads the model.
    """
    if not settings.preload_ocr:
        return []
    from station.vision.isolation import runner_for

    runner = runner_for(
        settings.isolate_decoders, settings.decoder_workers, settings.decoder_timeout_s
    )
    if not settings.isolate_decoders or not settings.ocr_enabled:
        return []
    if settings.ocr_engine != "rapidocr":
        return []

    def load() -> None:
        from station.vision.ocr_engines import load_rapidocr

        runner.run("rapidocr", load_rapidocr)

    loaders = [
        threading.Thread(target=load, name="ocr-load", daemon=True)
        for _ in range(settings.decoder_workers)
    ]
    for thread in loaders:
        thread.start()
    return loaders
