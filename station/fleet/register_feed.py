"""Register down: signed manifests on a JetStream stream, deltas and snapshots in the Object Store.

Centrally, every register version (a ``register_imports`` row) is published once: its delta
(the entries that version changed, withdrawals included) and, every K versions, a snapshot of
the whole register go into the Object Store; a manifest (version, parent, digests, row count)
signed with the centre's key goes on the ``REGISTER`` stream under ``register.v.<parent>``, so
"what follows the version I hold" is one look-up by subject. The latest snapshot's manifest is
also kept on ``REGISTER_SNAPSHOT`` (one message), for a station away longer than the stream's
history. A station applies a delta in one transaction, the way a local import does, and the
matcher's index catches up from the database. A snapshot carries the rows with the centre's
entry ids and the fuzzy index built from exactly those rows, so a bootstrapping station loads
the index (digest checked) instead of spending minutes rebuilding it.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import gzip
import itertools
import json
import logging
import re
import shutil
import tarfile
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError
from nats.js.object_store import ObjectStore
from sqlalchemy import delete, func, select, text

from station.db.engine import Database
from station.db.fleet_models import FleetRegisterVersion
from station.db.models import RegisterEntry, RegisterImport
from station.errors import StationError
from station.fleet import messages as m
from station.matcher.index import RegisterIndex
from station.records import audit
from station.records.signing import StationKey, verify_signature
from station.register.importer import RegisterRow
from station.register.pgsource import IndexBuilder
from station.register.store import file_sha256
from station.settings import MatcherSettings

log = logging.getLogger(__name__)
FIELDS = ("identifier", "kind", "status", "category", "brand", "model", "crime_ref", "force",
          "owner_applied_number", "range_end", "owner_ref", "kit_type", "source", "withdrawn")  # fmt: skip


class FeedError(StationError):
    """A register delta or snapshot failed its digest or signature check."""

    fix = "nothing was applied; the station tries again, and the centre's alerts say more"


def bucket(js: JetStreamContext, name: str) -> ObjectStore:
    """An Object Store handle without the stream-info call a station may not make."""
    return ObjectStore(name=name, stream=m.object_stream(name), js=js)


#: the columns of a rows object, in order: the entry's id, its fields, the date it was reported
_NAMES = ("id", *FIELDS, "reported_on")
#: the first line of a rows object: its format, then its columns (a station refuses any other)
ROWS_HEADER = "\t".join(("register-rows/2", *_NAMES)).encode() + b"\n"
_BLOCK = 4 << 20  # bytes of rows handled at a time, each way
_NULL = "\\N"
_ESCAPED = re.compile(r"\\(.)")
_UNESCAPE = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
Row = list[Any]  # a rows object's line: values in ``_NAMES`` order, text or None


def _copy_blocks(s: Any, where: str, version: int) -> Iterator[bytes]:
    """The entries matching ``where`` (``:v`` is ``version``) in id order, as PostgreSQL's COPY
    text format in blocks of whole lines. On PostgreSQL the server writes them (``COPY TO``):
    no Python object per value on the way out, and the file is what the server sent."""
    conn = s.connection()
    if conn.dialect.name != "postgresql":
        yield from _copy_blocks_generic(s, where, version)
        return
    columns = ", ".join(f'"{n}"' for n in _NAMES[:-1]) + ", to_char(reported_on, 'YYYY-MM-DD')"
    query = (f"COPY (SELECT {columns} FROM register_entries WHERE {where.replace(':v', '%s')} "
             "ORDER BY id) TO STDOUT")  # fmt: skip
    raw = conn.connection.driver_connection
    pending: list[bytes] = []
    size = 0
    with raw.cursor() as cur, cur.copy(query, (version,)) as copy:
        for data in copy:
            pending.append(bytes(data))
            size += len(data)
            if size >= _BLOCK:
                block = b"".join(pending)
                cut = block.rfind(b"\n") + 1
                yield block[:cut]
                pending, size = [block[cut:]], len(block) - cut
    if size:
        yield b"".join(pending)


def _copy_blocks_generic(s: Any, where: str, version: int) -> Iterator[bytes]:
    """The same lines from any other database (a centre on SQLite, in tests)."""
    from station.register.importer import copy_text

    columns = ", ".join(f'"{n}"' for n in _NAMES)
    result = s.execute(
        text(f"SELECT {columns} FROM register_entries WHERE {where} ORDER BY id"), {"v": version}
    )
    withdrawn = _NAMES.index("withdrawn")
    for rows in result.partitions(20_000):
        staged = []
        for row in rows:
            values = list(row)
            values[withdrawn] = "t" if values[withdrawn] else "f"
            staged.append(tuple(values))
        yield copy_text(staged)


def write_rows(
    path: Path, blocks: Iterable[bytes], each: Callable[[bytes], None] | None = None
) -> int:
    """Blocks of COPY text lines as a gzip-compressed rows object (header first); how many
    rows. ``each`` sees every block as it is written (the snapshot's index builder)."""
    count = 0
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=1, mtime=0) as gz,
    ):
        gz.write(ROWS_HEADER)
        for block in blocks:
            gz.write(block)
            count += block.count(b"\n")
            if each is not None:
                each(block)
    return count


def _unescape(value: str) -> str | None:
    """One value of COPY's text format: \\N is NULL; backslash escapes undone."""
    if value == _NULL:
        return None
    return _ESCAPED.sub(lambda m: _UNESCAPE.get(m.group(1), m.group(1)), value)


class Block:
    """Whole lines of a rows object, split into values. Most lines carry no escape: they stay
    as split (``plain``, the text ``\\N`` standing for NULL) so that no Python work is done
    per value; the few that do are decoded (``decoded``, None for NULL)."""

    def __init__(self, plain: list[list[str]], decoded: list[Row]) -> None:
        self.plain = plain
        self.decoded = decoded

    def __len__(self) -> int:
        return len(self.plain) + len(self.decoded)

    def rows(self) -> Iterator[Row]:
        """Every line decoded (a delta's few thousand; the index builder's columns)."""
        for values in self.plain:
            yield [None if v == _NULL else v for v in values]
        yield from self.decoded


def parse_block(block: bytes, name: str = "") -> Block:
    """Whole COPY text lines of the rows object ``name``, split into their values."""
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FeedError(f"register object {name} is not UTF-8 text: {exc}") from exc
    lines = text.split("\n")
    if lines and not lines[-1]:
        lines.pop()
    plain: list[list[str]] = []
    decoded: list[Row] = []
    if text.count("\\") == text.count(_NULL):  # nothing escaped in the block: split only
        plain = [line.split("\t") for line in lines]
    else:
        for line in lines:
            if line.count("\\") == line.count(_NULL):
                plain.append(line.split("\t"))
            else:
                decoded.append([_unescape(v) for v in line.split("\t")])
    width = len(_NAMES)
    values: list[Any]
    for values in itertools.chain(plain, decoded):
        if len(values) != width:
            raise FeedError(f"register object {name} has a line of {len(values)} values, "
                            f"not {width}")  # fmt: skip
    return Block(plain, decoded)


def read_blocks(path: Path) -> Iterator[Block]:
    """The rows of a rows object, a block at a time. Refuses a file that does not start with
    the header this station knows. (Run only on a file whose digest was checked.)"""
    with gzip.open(path, "rb") as fh:
        try:
            head = fh.readline()
        except (OSError, EOFError) as exc:
            raise FeedError(f"register object {path.name} is not a gzip file: {exc}") from exc
        if head.startswith(b"{"):  # a JSON Lines object, as centres before this format wrote
            yield from _legacy_blocks(head, fh)
            return
        if head != ROWS_HEADER:
            raise FeedError(f"register object {path.name} is not in a format this station reads")
        rest = b""
        while chunk := fh.read(_BLOCK):
            block = rest + chunk
            cut = block.rfind(b"\n") + 1
            rest = block[cut:]
            yield parse_block(block[:cut], path.name)
        if rest:
            raise FeedError(f"register object {path.name} ends in the middle of a line")


def _legacy_blocks(head: bytes, fh: Any) -> Iterator[Block]:
    rows: list[Row] = []
    for line in itertools.chain([head], fh):
        if not line.strip():
            continue
        doc = json.loads(line)
        rows.append([doc[n] for n in _NAMES])
        if len(rows) == 20_000:
            yield Block([], rows)
            rows = []
    if rows:
        yield Block([], rows)


def read_rows(path: Path) -> Iterator[dict[str, Any]]:
    """The entries of a rows object as mappings (a delta's few thousand)."""
    withdrawn = _NAMES.index("withdrawn")
    for block in read_blocks(path):
        for values in block.rows():
            doc = dict(zip(_NAMES, values, strict=True))
            doc["id"] = int(values[0])
            doc["withdrawn"] = values[withdrawn] in (True, "t")
            yield doc


def pack_index(index: RegisterIndex, path: Path) -> None:
    """The index as saved on disk, in one uncompressed tar (its arrays hardly compress)."""
    with tempfile.TemporaryDirectory(prefix="register-index-", dir=path.parent) as tmp:
        index.save(Path(tmp) / "index")
        with tarfile.open(path, mode="w") as tar:
            for item in sorted((Path(tmp) / "index").rglob("*")):
                tar.add(item, arcname=str(item.relative_to(Path(tmp) / "index")), recursive=False)


def unpack_index(packed: Path, target: Path) -> None:
    """Extract a packed index into ``target`` (replaced); members outside it are refused."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    try:
        with tarfile.open(packed, mode="r:") as tar:
            tar.extractall(target, filter="data")
    except (tarfile.TarError, OSError) as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise FeedError(f"the register index in the snapshot cannot be unpacked: {exc}") from exc


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
    db: Database,
    version: int,
    snapshot: bool,
    workdir: Path,
    matcher: MatcherSettings | None = None,
) -> tuple[dict[str, Any], dict[str, Path]]:
    """The manifest (unsigned) and the objects of one version, as files in ``workdir``.

    A snapshot holds the live entries as of ``version`` (an entry changed by a later import is
    left to that version's delta) and the index built from exactly those rows. Rows stream
    from the database to the files and the index builder, so a register of tens of millions
    never sits in memory as objects."""
    objects: dict[str, Path] = {}
    with db.session() as s:
        parent = s.execute(
            select(func.coalesce(func.max(FleetRegisterVersion.version), 0)).where(
                FleetRegisterVersion.version < version
            )
        ).scalar_one()
        count = s.execute(
            select(func.count())
            .select_from(RegisterEntry)
            .where(RegisterEntry.withdrawn.is_(False))
        ).scalar_one()
        name = f"delta-{version}"
        objects[name] = workdir / name
        delta_rows = write_rows(objects[name], _copy_blocks(s, "version = :v", version))
        manifest: dict[str, Any] = {
            "version": version,
            "parent": int(parent),
            "row_count": int(count),
            "delta": {"object": name, "sha256": file_sha256(objects[name]), "rows": delta_rows},
            "snapshot": None,
            "created_at": dt.datetime.now(dt.UTC).isoformat(),
        }
        if snapshot:
            builder = IndexBuilder()

            def index_block(block: bytes) -> None:
                lines = parse_block(block, name)
                n = _NULL
                for r in lines.plain:  # crime_ref, source, range_end may be NULL
                    builder.add(int(r[0]), r[1], r[2], r[3], None if r[7] == n else r[7],
                                None if r[13] == n else r[13], None if r[10] == n else r[10])  # fmt: skip
                for r in lines.decoded:
                    builder.add(int(r[0]), r[1], r[2], r[3], r[7], r[13], r[10])

            name = f"snapshot-{version}"
            objects[name] = workdir / name
            blocks = _copy_blocks(s, "NOT withdrawn AND version <= :v", version)
            rows = write_rows(objects[name], blocks, index_block)
            manifest["snapshot"] = {
                "object": name,
                "sha256": file_sha256(objects[name]),
                "rows": rows,
            }
            settings = matcher or MatcherSettings()
            index = builder.finish(settings, version)
            del builder
            name = f"index-{version}"
            objects[name] = workdir / name
            pack_index(index, objects[name])
            manifest["index"] = {
                "object": name,
                "sha256": file_sha256(objects[name]),
                "entries": len(index),
                "max_edits": settings.max_edits,
            }
    return manifest, objects


async def publish_pending(
    js: JetStreamContext,
    db: Database,
    key: StationKey,
    every: int,
    matcher: MatcherSettings | None = None,
    history: int | None = None,
) -> list[int]:
    """Publish every version not yet published, in order; returns the versions published.
    With ``history``, objects no station can still ask for are pruned afterwards."""
    published = []
    store = bucket(js, m.REGISTER_BUCKET)
    for version in unpublished_versions(db):
        with db.session() as s:
            first = (
                s.execute(select(func.count()).select_from(FleetRegisterVersion)).scalar_one() == 0
            )
        with tempfile.TemporaryDirectory(prefix="register-version-") as tmp:
            manifest, objects = await asyncio.to_thread(  # the centre's loop keeps serving
                build_version, db, version, first or version % every == 0, Path(tmp), matcher
            )
            for name, path in objects.items():
                with open(path, "rb") as fh:  # read in chunks as they are sent
                    await store.put(name, fh)
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
    if published and history is not None:
        await prune_objects(js, db, history)
    return published


def needed_objects(db: Database, history: int) -> set[str]:
    """What a station may still fetch: the deltas of the versions whose manifests the stream
    keeps, and the objects of the latest snapshot (and the one before, for a station that is
    downloading it as the next one appears)."""
    with db.session() as s:
        kept = s.execute(
            select(FleetRegisterVersion.manifest)
            .order_by(FleetRegisterVersion.version.desc())
            .limit(history)
        ).scalars()
        needed = {doc["delta"]["object"] for doc in kept}
        snapshots = s.execute(
            select(FleetRegisterVersion.manifest)
            .where(FleetRegisterVersion.manifest["snapshot"]["object"].as_string().is_not(None))
            .order_by(FleetRegisterVersion.version.desc())
            .limit(2)
        ).scalars()
        for doc in snapshots:
            needed |= {ref["object"] for ref in (doc["snapshot"], doc.get("index")) if ref}
    return needed


async def prune_objects(js: JetStreamContext, db: Database, history: int) -> list[str]:
    """Delete register objects no station can need any more, so that the bucket holds about
    ``history`` deltas and two snapshots however long the force runs; returns their names."""
    needed = needed_objects(db, history)
    store = bucket(js, m.REGISTER_BUCKET)
    try:
        present = [o.name for o in await store.list(ignore_deletes=True)]
    except NotFoundError:
        return []
    pruned = []
    for name in sorted(n for n in present if n and n not in needed):
        await store.delete(name)  # the chunks go; a "deleted" marker stays, so purge it too
        meta = base64.urlsafe_b64encode(name.encode()).decode()
        await js.purge_stream(
            m.object_stream(m.REGISTER_BUCKET), subject=f"$O.{m.REGISTER_BUCKET}.M.{meta}"
        )
        pruned.append(name)
    if pruned:
        log.info("pruned %d register objects no station needs", len(pruned))
    return pruned


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

    def _scratch(self) -> tempfile.TemporaryDirectory[str]:
        """A folder for one version's downloads, on the station's data disk when it has one
        (a snapshot of a large register is hundreds of MB; /tmp may be memory)."""
        home = self.matcher.index_dir.parent if self.matcher.index_dir is not None else None
        if home is not None:
            home.mkdir(parents=True, exist_ok=True)
        return tempfile.TemporaryDirectory(prefix=".register-feed-", dir=home)

    async def _object(self, js: JetStreamContext, ref: dict[str, Any], folder: Path) -> Path:
        """The object downloaded into ``folder`` chunk by chunk, its digest checked."""
        path = folder / ref["object"]
        try:
            with open(path, "wb") as fh:
                await bucket(js, m.REGISTER_BUCKET).get(ref["object"], writeinto=fh)
        except NotFoundError as exc:  # pruned meanwhile: the next round finds a newer path
            raise FeedError(f"register object {ref['object']} is no longer kept") from exc
        if await asyncio.to_thread(file_sha256, path) != ref["sha256"]:
            raise FeedError(f"register object {ref['object']} does not match its manifest's digest")
        return path

    async def _apply_delta(self, js: JetStreamContext, manifest: dict[str, Any]) -> None:
        with self._scratch() as tmp:
            path = await self._object(js, manifest["delta"], Path(tmp))
            apply_rows(self.db, manifest, path, replace=False)
        self.matcher.index()  # catches up from the database, as after a local import

    async def _bootstrap(self, js: JetStreamContext, manifest: dict[str, Any]) -> None:
        """The register replaced from the snapshot and the index shipped with it swapped in
        (both digest-checked first); without a usable index the station builds its own. The
        rows stream from the downloaded file into the database."""
        with self._scratch() as tmp:
            path = await self._object(js, manifest["snapshot"], Path(tmp))
            staged = await self._staged_index(js, manifest, Path(tmp))
            await asyncio.to_thread(
                self.matcher.replace_register,
                lambda: apply_rows(self.db, manifest, path, replace=True),
                staged,
            )
        await asyncio.to_thread(self.matcher.index)

    async def _staged_index(
        self, js: JetStreamContext, manifest: dict[str, Any], folder: Path
    ) -> Path | None:
        """The snapshot's index, verified and unpacked beside the station's own; None when the
        snapshot has none or it was built for other matcher settings."""
        ref = manifest.get("index")
        if not ref or ref.get("max_edits") != self.matcher.settings.max_edits:
            log.info("snapshot %s: no index for these settings; building one", manifest["version"])
            return None
        packed = await self._object(js, ref, folder)
        home = self.matcher.index_dir or Path(tempfile.gettempdir()) / "station-register-index"
        staged = home.with_name(f".{home.name}.snapshot-{manifest['version']}")
        unpack_index(packed, staged)
        packed.unlink()
        try:
            index = RegisterIndex.load(staged, self.matcher.settings)
            if index.version != manifest["version"] or len(index) != ref["entries"]:
                raise FeedError(
                    f"the index in snapshot {manifest['version']} is for version "
                    f"{index.version} with {len(index)} entries, not what its manifest says"
                )
        except StationError:
            shutil.rmtree(staged, ignore_errors=True)
            raise
        return staged


def apply_rows(db: Database, manifest: dict[str, Any], path: Path, replace: bool) -> None:
    """One transaction: the rows of the object at ``path`` (digest checked), the version row
    and the audit entry, or nothing."""
    from station.register.store import apply_rows as apply_register_rows

    version = int(manifest["version"])
    kind = "snapshot" if replace else "delta"
    ref = manifest[kind]
    totals = {"added": 0, "updated": 0, "withdrawn": 0}
    with db.writer() as s:
        if replace:  # the centre's entry ids too: the shipped index refers to them
            s.execute(delete(RegisterEntry))
            totals["added"] = _insert_snapshot(s, read_blocks(path), version)
        else:
            for source, source_rows in _by_source(read_rows(path)).items():
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


def _by_source(rows: Iterable[dict[str, Any]]) -> dict[str, list[RegisterRow]]:
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
    return by_source


#: the columns a snapshot's rows fill, in the order :func:`_insert_snapshot` binds them
_SNAPSHOT_COLUMNS = ("id", *(f for f in FIELDS if f != "withdrawn"), "reported_on", "withdrawn",
                     "version", "updated_at")  # fmt: skip
_SQLITE_CACHE = -262_144  # KiB: 256 MB of page cache while a snapshot goes in


def _insert_snapshot(s: Any, blocks: Iterable[Block], version: int) -> int:
    """The snapshot's entries under the centre's ids, a block at a time; how many.

    Straight to the driver (SQLite ``executemany``, PostgreSQL ``COPY``) as a register import
    stages its rows: through the ORM's insert the per-row work took ~50 s a million rows,
    nine tenths of a new station's bootstrap. SQLite gets a page cache that holds the
    register's indexes meanwhile, so rows in an order other than their identifiers' do not
    turn each insert into page reads."""
    from station.register.importer import copy_text

    conn = s.connection()
    dialect = conn.dialect
    pg = dialect.name == "postgresql"
    table = RegisterEntry.__table__

    def stored(column: str) -> Callable[[Any], Any]:
        """How the driver takes a value of ``column`` (SQLite keeps dates as text)."""
        process = None if pg else table.c[column].type.dialect_impl(dialect).bind_processor(dialect)
        return process or (lambda value: value)

    no = stored("withdrawn")(False)
    now = stored("updated_at")(dt.datetime.now(dt.UTC))
    raw = conn.connection.driver_connection
    names = ", ".join(_SNAPSHOT_COLUMNS)
    marks = ", ".join("?" for _ in _SNAPSHOT_COLUMNS)
    # a plain line's values bound as split; SQLite itself turns \N into NULL (values in
    # _NAMES order: ?1 id, ?2-?14 identifier to source, ?15 withdrawn, ?16 reported_on)
    fields = [f"nullif(?{i}, '{_NULL}')" for i in range(2, 15)]
    fields[2] = f"coalesce(nullif(nullif(?4, '{_NULL}'), ''), 'stolen')"  # status
    split = (f"INSERT INTO register_entries ({names}) VALUES (CAST(?1 AS INTEGER), "
             f"{', '.join(fields)}, nullif(?16, '{_NULL}'), "
             f"CASE ?15 WHEN 'f' THEN 0 WHEN 't' THEN 1 END, {version:d}, {now!r})")  # fmt: skip
    cache = None
    indexes: list[tuple[str, str]] = []
    if not pg:
        cache = raw.execute("PRAGMA cache_size").fetchone()[0]
        raw.execute(f"PRAGMA cache_size={_SQLITE_CACHE}")
        # the table's plain indexes are made again once the rows are in (one sort each beats
        # an insert into each per row); the unique key's index cannot be dropped, and stays
        indexes = raw.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
            "AND tbl_name = 'register_entries' AND sql IS NOT NULL"
        ).fetchall()
        for index, _sql in indexes:
            raw.execute(f'DROP INDEX "{index}"')
    count = 0
    try:
        for block in blocks:
            decoded = block.decoded if not pg else list(block.rows())
            chunk = [(int(r[0]), r[1], r[2], r[3] or "stolen", *r[4:14], r[15], no, version, now)
                     for r in decoded]  # fmt: skip
            if pg:
                with (
                    raw.cursor() as cur,
                    cur.copy(f"COPY register_entries ({names}) FROM STDIN") as cp,
                ):
                    cp.write(copy_text(chunk))
            else:
                raw.executemany(split, block.plain)
                raw.executemany(f"INSERT INTO register_entries ({names}) VALUES ({marks})", chunk)
            count += len(block)
        for _index, sql in indexes:
            raw.execute(sql)
    finally:
        if cache is not None:
            raw.execute(f"PRAGMA cache_size={int(cache)}")
    if pg:  # explicit ids leave the sequence behind
        s.execute(text("SELECT setval(pg_get_serial_sequence('register_entries', 'id'), "
                       "(SELECT coalesce(max(id), 1) FROM register_entries))"))  # fmt: skip
    return count
