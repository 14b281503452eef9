"""RegisterMatcher: the registers in the database, and the in-memory index kept in step with them.

The database (SQLite on a station, PostgreSQL centrally) is the truth; every import is one
transaction that bumps the register version. The index remembers the version it reflects and
catches up by applying only the entries changed since (a delta), never a full rebuild.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from station.db.engine import Database
from station.db.models import RegisterEntry, RegisterImport
from station.domain import MatchResult
from station.errors import IndexFileError, StationError
from station.matcher.index import RegisterIndex
from station.register.importer import RegisterReader
from station.register.pgsource import RegisterColumns, build_from_db, sync_from_db
from station.register.store import import_register
from station.settings import MatcherSettings

log = logging.getLogger(__name__)
COLUMNS = RegisterColumns(table="register_entries", version="version")
DEMO_REGISTER = Path(__file__).parents[1] / "data" / "demo_register.csv"
DEMO_OWNERS = Path(__file__).parents[1] / "data" / "demo_owners.csv"
#: changed rows from which the index is rebuilt rather than caught up in the overlay
REBUILD_FROM = 50_000


class RegisterMatcher:
    """Look-ups against the registers; thread-safe, catching up with imports as they land."""

    def __init__(
        self, db: Database, settings: MatcherSettings, index_dir: Path | None = None
    ) -> None:
        self.db = db
        self.settings = settings
        #: where the memory-mappable index is kept between runs (None: never saved)
        self.index_dir = index_dir
        self._index: RegisterIndex | None = None
        self._lock = threading.Lock()

    def release(self) -> None:
        """Drop the index, so its memory-mapped files are unmapped and their descriptors
        closed when the station shuts down (a process may open many stations: tests, tools)."""
        with self._lock:
            self._index = None

    # -- versions and the index ----------------------------------------------------------------

    def db_version(self, s: Session | None = None) -> int:
        if s is None:
            with self.db.session() as s2:
                return self.db_version(s2)
        return int(s.execute(select(func.coalesce(func.max(RegisterImport.id), 0))).scalar_one())

    @property
    def version(self) -> int:
        """The register version look-ups answer from (after catching up with the database)."""
        return self.index().version

    def index(self) -> RegisterIndex:
        """The index, loaded from disk or built once, then caught up with the database."""
        with self._lock:
            with self.db.engine.connect() as conn:
                current = self.db_version_conn(conn)
                dirty = False
                if self._index is None:
                    self._index, dirty = self._load_or_build(conn, current)
                if self._index.version < current and self._large_change(conn, self._index):
                    # a change of a good share of the register (a bulk import) is rebuilt
                    # packed: caught up entry by entry it would sit in the overlay as
                    # objects, gigabytes for a million rows
                    self._index = None
                    self._index, dirty = self._build(conn)
                if self._index.version < current:
                    sync_from_db(self._index, conn, COLUMNS)
                    if self._index.version < current:  # an import that changed no rows
                        self._index.apply_delta(version=current)
                    dirty = True
            index = self._index
            if index.needs_compaction:
                index.compact()
                dirty = True
            if dirty:
                self._persist(index)
            return index

    def reset_index(self) -> None:
        """Forget the index (memory and disk) after the register was replaced wholesale, as a
        snapshot does; the next look-up builds it from the database."""
        with self._lock:
            self._index = None
            if self.index_dir is not None and self.index_dir.is_dir():
                shutil.rmtree(self.index_dir, ignore_errors=True)

    def replace_register(self, commit: Callable[[], None], staged: Path | None = None) -> None:
        """Replace the register wholesale (a central snapshot): run ``commit`` (the database
        change) and swap in the index ``staged`` beside ours, while look-ups wait. The saved
        index goes before the database changes, so a crash in between leaves none to trust
        and the next start builds one from the database; so does a staged index that fails."""
        with self._lock:
            self._index = None
            if self.index_dir is not None:
                shutil.rmtree(self.index_dir, ignore_errors=True)
            commit()
            if staged is None:
                return
            try:
                if self.index_dir is not None:
                    self.index_dir.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(staged, self.index_dir)
                    staged = self.index_dir
                index = RegisterIndex.load(staged, self.settings)
                with self.db.engine.connect() as conn:
                    current = self.db_version_conn(conn)
                if index.version != current:
                    raise IndexFileError(f"index is for version {index.version}, not {current}")
            except (StationError, OSError) as exc:
                log.warning("the snapshot's index cannot be used (%s); building one", exc)
                shutil.rmtree(staged, ignore_errors=True)
                return
            finally:
                if self.index_dir is None:  # kept in memory only (its arrays stay mapped)
                    shutil.rmtree(staged, ignore_errors=True)
            self._index = index

    def db_version_conn(self, conn: Connection) -> int:
        query = select(func.coalesce(func.max(RegisterImport.id), 0))
        return int(conn.execute(query).scalar_one())

    def _load_or_build(self, conn: Connection, current: int) -> tuple[RegisterIndex, bool]:
        if self.index_dir is not None and self.index_dir.is_dir():
            try:
                index = RegisterIndex.load(self.index_dir, self.settings)
                if index.version <= current:
                    return index, False
                log.warning("index at %s is newer than the database; rebuilding", self.index_dir)
            except StationError as exc:
                log.warning("index at %s cannot be used (%s); rebuilding", self.index_dir, exc)
        return self._build(conn)

    def _large_change(self, conn: Connection, index: RegisterIndex) -> bool:
        """More rows changed since the index's version than the overlay should hold."""
        limit = REBUILD_FROM  # the overlay holds an object per entry: about 3 KB each
        changed = conn.execute(
            select(func.count()).select_from(
                select(RegisterEntry.id)
                .where(RegisterEntry.version > index.version)
                .limit(limit + 1)
                .subquery()
            )
        ).scalar_one()
        return int(changed) > limit

    def _build(self, conn: Connection) -> tuple[RegisterIndex, bool]:
        """A fresh index from the database, saved and served from its mapped files."""
        built = build_from_db(conn, COLUMNS, self.settings)
        if self.index_dir is None:
            return built, True
        # serve from the saved copy: its pages are the file's, mapped and read on demand, so a
        # large register does not stay in the process's own memory after the build
        self._persist(built)
        del built
        try:
            return RegisterIndex.load(self.index_dir, self.settings), False
        except StationError:
            return build_from_db(conn, COLUMNS, self.settings), True

    def _persist(self, index: RegisterIndex) -> None:
        if self.index_dir is None:
            return
        try:
            self.index_dir.parent.mkdir(parents=True, exist_ok=True)
            index.save(self.index_dir)
        except OSError as exc:  # a read-only or full disk costs a rebuild at next start, no more
            log.warning("could not save the register index to %s: %s", self.index_dir, exc)

    def lookup(self, value: str, kind: str | None = None) -> MatchResult:
        return self.index().lookup(value, _kind_hint(kind))

    def lookup_many(self, values: Sequence[str]) -> list[MatchResult]:
        return self.index().lookup_many(values)

    def explain_hits(self, values: Sequence[str]) -> dict[int, MatchResult]:
        """Results of the values with a candidate, by position (see RegisterIndex)."""
        return self.index().explain_hits(values)

    # -- imports -------------------------------------------------------------------------------

    def import_file(
        self,
        path: Path,
        source: str | None = None,
        actor: str = "system",
        progress: bool | Callable[[int, int], None] = False,
    ) -> dict[str, Any]:
        """Validate the whole file, then apply it in one transaction (all rows or none).

        The file streams (see station/register/store.py): memory stays flat however long it is.
        """
        if progress is True:
            from station.cli.progress import file_progress

            with file_progress(f"reading {Path(path).name}") as report:
                return import_register(
                    self.db, RegisterReader(path, source, progress=report), actor
                )
        report_fn = progress if callable(progress) else None
        return import_register(self.db, RegisterReader(path, source, progress=report_fn), actor)

    def seed_demo_if_empty(self) -> bool:
        """Load the demo register (for --sim) when no register has ever been imported."""
        if self.db_version() > 0:
            return False
        self.import_file(DEMO_REGISTER, source="demo", actor="system")
        return True

    def stats(self) -> dict[str, Any]:
        with self.db.session() as s:
            rows = s.execute(
                select(RegisterEntry.source, RegisterEntry.kind, RegisterEntry.status, func.count())
                .where(RegisterEntry.withdrawn.is_(False))
                .group_by(RegisterEntry.source, RegisterEntry.kind, RegisterEntry.status)
                .order_by(RegisterEntry.source, RegisterEntry.kind, RegisterEntry.status)
            ).all()
            last = s.execute(
                select(RegisterImport).order_by(RegisterImport.id.desc()).limit(1)
            ).scalar()
            return {
                "version": last.id if last else 0,
                "last_import": None
                if last is None
                else {
                    "file": last.filename,
                    "source": last.source,
                    "at": last.imported_at.isoformat(),
                    "by": last.imported_by,
                },
                "entries": sum(r[3] for r in rows),
                "by_source_kind_status": [
                    {"source": r[0], "kind": r[1], "status": r[2], "entries": r[3]} for r in rows
                ],
            }


def _kind_hint(kind: str | None) -> Any:
    return kind if kind in ("imei", "serial", "mark_code", "postcode_mark") else None
