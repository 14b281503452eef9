"""Force-wide operation end to end: N stations checking, the link cut mid-run, a register delta.

    .venv/bin/python benchmarks/fleet_bench.py --stations 5 --checks 40 --register 10000
    .venv/bin/python benchmarks/fleet_bench.py --stations 50 --checks 20 --register 10000 \
        --snapshot 1000000 --matcher

Starts its own nats-server (JetStream, per-station users), a central service on a fresh
PostgreSQL database, and N simulated stations on SQLite, each behind a TCP proxy. Every
station runs M manual checks: half online, then every link is cut and the other half run
offline (check times side by side), then the links come back. It then counts what reached
the centre (lost, duplicated), the centre's ingest rate, and times a K-entry register delta
from the central import to each station's index answering from it (p50/p99). The link is
cut and NATS restarted in the middle of the run.

With ``--snapshot S`` it then imports S more entries centrally (the stations' links stopped
first: they are not what is measured), times the centre building and publishing the snapshot
(rows and index), and a new station bootstrapping from it, side by side with a second new
station that ignores the shipped index and builds its own (the baseline). With ``--matcher``
it starts a `station central matcher` process on the same register and measures its first
answer (index built), its RSS, and the p50/p99 of central look-ups over NATS request/reply.
The last line is `stations N, records R, lost L, duplicated D, delta p99 X s`.

With ``--central-matcher-entries N`` it measures only the central matcher, on a register of
N entries written straight into a fresh PostgreSQL database (COPY, a million at a time, only
the primary key kept; no import file: the matcher is what is measured), shaped as matcher_bench's (a third IMEIs, a third 10-12
character serials, a third prefixed mixed serials): a `station central matcher` process's
first answer (index built), its RSS and peak RSS, and the p50/p99 of ``--lookups`` central
look-ups over NATS request/reply (40 % exact, 30 % one edit, 10 % two edits, 20 % absent):

    nice -n 5 .venv/bin/python benchmarks/fleet_bench.py --central-matcher-entries 10000000

``--tree TREE`` measures the code of another checkout with this script (the before side
of a comparison: ``git worktree add /tmp/base <commit>``); ``--steps`` prints each step of a
snapshot's publishing and bootstrap with its wall and CPU time.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

# the tree whose code is measured: this checkout, or `--tree TREE` (the before side of a
# comparison, run by this same script so that both sides are measured the same way)
sys.path.insert(0, str(Path(sys.argv[sys.argv.index("--tree") + 1]).resolve()
                       if "--tree" in sys.argv[1:-1] else Path(__file__).resolve().parents[1]))  # fmt: skip
import psycopg
from sqlalchemy import func, select, text

from station.db.fleet_models import FleetRecord, FleetRegisterVersion
from station.fleet import messages as m
from station.fleet.central import CentralSettings
from station.fleet.register_feed import RegisterFollower
from tests.helpers.fleet import Force, SimStation, central_import, register_file

CODE = Path(sys.path[0])  # (set above, before these imports)
WAIT = 600


def _wait_for(entries: int) -> float:
    """A safety net for a step over ``entries`` register entries (a 10M snapshot's build at the
    centre takes over ten minutes on a loaded 2-core machine)."""
    return WAIT + entries * 300e-6


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _run_checks(stations: list[SimStation], count: int, tag: str, times: list[float]) -> list[str]:
    ids: list[str] = []
    lock = threading.Lock()

    def work(st: SimStation) -> None:
        for j in range(count):
            t0 = time.perf_counter()
            record_id = st.check(f"{tag}{st.station_id[-3:]}{j:05d}".upper().replace("-", ""))
            elapsed = time.perf_counter() - t0
            with lock:
                ids.append(record_id)
                times.append(elapsed)

    threads = [threading.Thread(target=work, args=(st,)) for st in stations]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return ids


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--stations", type=int, default=5)
    ap.add_argument("--checks", type=int, default=40, help="checks per station")
    ap.add_argument("--register", type=int, default=10_000, help="entries in the timed delta")
    ap.add_argument("--snapshot", type=int, default=0, help="entries a new station bootstraps from")
    ap.add_argument(
        "--no-baseline",
        action="store_true",
        help="with --snapshot: skip the second new station that builds its own index",
    )
    ap.add_argument("--matcher", action="store_true", help="measure a central matcher process")
    ap.add_argument(
        "--central-matcher-entries",
        type=int,
        default=0,
        help="measure only a central matcher on a register of this many entries",
    )
    ap.add_argument("--lookups", type=int, default=2000, help="timed central look-ups")
    ap.add_argument(
        "--steps",
        action="store_true",
        help="time each step of publishing and bootstrapping a snapshot (on stderr as [step])",
    )
    ap.add_argument(
        "--tree",
        metavar="TREE",
        help="measure the code of another checkout (e.g. a worktree of the commit before)",
    )
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = ap.parse_args()
    if args.steps:
        _time_steps()
    name = f"fleet_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.pg, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{args.pg.rsplit('/', 1)[0]}/{name}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            if args.central_matcher_entries:
                run_central_matcher(Path(tmp), url, args)
            else:
                run(Path(tmp), url, args)
    finally:
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _time_steps() -> None:
    """Wrap the snapshot's steps, centre and station, so each says how long it took."""
    import functools
    import inspect

    from station.fleet import register_feed as rf
    from station.register.service import RegisterMatcher

    def timed(owner: object, name: str, label: str) -> None:
        real = getattr(owner, name, None)
        if real is None:  # a step the measured tree does not have
            return

        def say(t0: float, c0: float) -> None:
            wall = time.perf_counter() - t0
            if wall >= 0.5:  # CPU: the calling thread's (a step run in a worker thread is its own)
                print(f"[step] {label}: {wall:.1f} s wall, {time.thread_time() - c0:.1f} s CPU",
                      file=sys.stderr, flush=True)  # fmt: skip

        if inspect.iscoroutinefunction(real):

            @functools.wraps(real)
            async def wrapper_async(*a: object, **k: object) -> object:
                t0, c0 = time.perf_counter(), time.thread_time()
                try:
                    return await real(*a, **k)
                finally:
                    say(t0, c0)

            setattr(owner, name, wrapper_async)
            return

        @functools.wraps(real)
        def wrapper(*a: object, **k: object) -> object:
            t0, c0 = time.perf_counter(), time.thread_time()
            try:
                return real(*a, **k)
            finally:
                say(t0, c0)

        setattr(owner, name, wrapper)

    timed(rf, "build_version", "centre: rows, delta, snapshot and index files")
    timed(rf, "pack_index", "centre: index packed")
    timed(rf.RegisterFollower, "_object", "station: object downloaded and digest checked")
    timed(rf, "unpack_index", "station: index unpacked")
    timed(rf, "_insert_snapshot", "station: snapshot rows into its database")
    timed(RegisterMatcher, "replace_register", "station: register replaced, index swapped")
    timed(RegisterMatcher, "_build", "station: index built from its database")
    timed(RegisterMatcher, "index", "station: matcher index ready")


class Measures(list[tuple[str, str]]):
    """The table's rows, each also shown on stderr as soon as it is measured (a long run
    that is stopped still tells what it reached)."""

    def append(self, row: tuple[str, str]) -> None:
        print(f"[measured] {row[0]}: {row[1]}", file=sys.stderr, flush=True)
        super().append(row)


def _rss_mb(pid: int) -> tuple[float, float]:
    """Resident and peak resident memory of a process, MB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def _cpu_s(pid: int) -> float:
    """CPU seconds a process has used (user + system), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_published(force: Force, version: int, wait: float = WAIT) -> float:
    """Seconds until the centre has published ``version`` (its manifest on the stream)."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < wait:
        with force.db.session() as s:
            done = s.get(FleetRegisterVersion, version) is not None
        if done:
            return time.perf_counter() - t0
        time.sleep(0.2)
    raise RuntimeError(f"the centre did not publish version {version} in {wait:.0f} s")


def _bootstrap(
    force: Force, station_id: str, version: int, probe: str, wait: float = WAIT
) -> tuple[float, bool]:
    """A new station (added before the server started, so NATS knows its login) enrols and
    follows the register from nothing; seconds until its index answers from ``version``, and
    whether it did."""
    st = force.stations[station_id]
    force.enrol(st, via_proxy=False)
    t0 = time.perf_counter()
    link = force.link(st, status_every=30.0)
    link.wait_for(lambda: st.register_version() >= version, wait)
    hit = st.ctx.matcher.lookup(probe).verdict == "match"  # the index, loaded or built
    elapsed = time.perf_counter() - t0
    link.stop()
    st.link = None
    return elapsed, hit


def _snapshot_phase(
    force: Force, tmp: Path, size: int, rows: list[tuple[str, str]], baseline: bool = True
) -> None:
    for st in force.stations.values():  # the fleet's links are not what is measured here
        if st.link is not None:
            st.link.stop()
            st.link = None
    wait = _wait_for(size)
    serials = [f"SNAP{i:08d}" for i in range(size)]
    t0 = time.perf_counter()
    bulk = central_import(force, register_file(tmp / "bulk.csv", serials))
    rows.append((f"central import of {size} entries, s", f"{time.perf_counter() - t0:.1f}"))
    assert bulk % force.settings.snapshot_every == 0, "the bulk version is a snapshot's"
    published = _wait_published(force, bulk, wait)
    rows.append((f"centre: snapshot v{bulk} (rows + index) published, s", f"{published:.1f}"))
    top = central_import(force, register_file(tmp / "top.csv", ["TOP0000001"]))
    _wait_published(force, top, wait)  # the stream's history no longer reaches version 0
    loaded, hit1 = _bootstrap(force, "new-loads-index", top, serials[size // 2], wait)
    rows.append((f"new station from a {size}-entry snapshot, s", f"{loaded:.1f}"))
    rows.append(("  it answers from the snapshot", f"{hit1}"))
    if not baseline:
        return
    real = RegisterFollower._staged_index

    async def no_index(self: RegisterFollower, js: object, manifest: dict, folder: Path) -> None:
        return None

    RegisterFollower._staged_index = no_index  # type: ignore[method-assign]
    try:
        built, hit2 = _bootstrap(force, "new-builds-index", top, serials[size // 3], wait)
    finally:
        RegisterFollower._staged_index = real  # type: ignore[method-assign]
    rows.append(("  baseline: same, index built locally, s", f"{built:.1f}"))
    rows.append(("  baseline answers from the snapshot", f"{hit2}"))


def _matcher_phase(
    force: Force,
    tmp: Path,
    url: str,
    rows: list[tuple[str, str]],
    queries: list[str] | None = None,
) -> None:
    """A `station central matcher` process on the centre's register: build, RSS, p50/p99 of
    ``queries`` (default: 2000, half present in the snapshot phase's register, half absent)."""
    env = {**os.environ, "STATION_DATA_DIR": str(tmp / "matcher"), "STATION_DB_URL": url,
           "PYTHONPATH": str(CODE)}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "station", "central", "matcher", "--nats", force.central_url],
        env=env,
    )
    if queries is None:
        queries = [
            f"SNAP{(i * 7919) % 1_000_000:08d}" if i % 2 else f"MISS{i:08d}" for i in range(2000)
        ]

    async def measure() -> tuple[float, float, list[float]]:
        import nats

        nc = await nats.connect(force.central_url)
        try:
            body = m.canonical({"values": [{"value": queries[0]}]})
            t0 = time.perf_counter()
            while True:  # the first answer waits for the index to be built
                try:
                    await nc.request(m.LOOKUP_SUBJECT, body, timeout=3600)
                    break
                except nats.errors.NoRespondersError:
                    if proc.poll() is not None:
                        raise RuntimeError(f"the matcher exited with {proc.returncode}") from None
                    await asyncio.sleep(0.5)
            first = time.perf_counter() - t0
            first_cpu = _cpu_s(proc.pid)
            times = []
            for value in queries:
                body = m.canonical({"values": [{"value": value}]})
                t1 = time.perf_counter()
                reply = json.loads((await nc.request(m.LOOKUP_SUBJECT, body, timeout=30)).data)
                times.append(time.perf_counter() - t1)
                assert reply["ok"], reply
            return first, first_cpu, times
        finally:
            await nc.close()

    try:
        first, first_cpu, times = asyncio.run(measure())
        rss, peak = _rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(120)
    with force.db.session() as s:
        entries = s.execute(
            text("SELECT count(*) FROM register_entries WHERE NOT withdrawn")
        ).scalar_one()
    rows.append((f"central matcher: {entries} entries, first answer s", f"{first:.1f}"))
    rows.append(("  its CPU until then (user + system), s", f"{first_cpu:.1f}"))
    rows.append(("central matcher RSS now / peak, MB", f"{rss:.0f} / {peak:.0f}"))
    rows.append(
        (f"central look-up over NATS ({len(times)}), p50 ms", f"{_pct(times, 0.5) * 1000:.2f}")
    )
    rows.append(("central look-up over NATS, p99 ms", f"{_pct(times, 0.99) * 1000:.2f}"))


def _write_register(url: str, n: int, seed: int = 7) -> list[str]:
    """N generated entries (matcher_bench's shapes) COPYed into register_entries as version 1;
    returns look-ups: 40 % exact, 30 % one edit, 10 % two, 20 % absent.

    Generated a million at a time and streamed (memory stays flat at any N). The database is
    this run's own and only the matcher reads it, so the table keeps just its primary key
    while the rows go in (ids ascending: each lands at the end of that index); the import's
    other indexes and its unique key would each take a random insert per row, which is what
    made 50M entries take over an hour. Two generated entries may share an identifier; the
    matcher takes them as two entries, as it would two sources' entries."""
    import numpy as np

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from matcher_bench import _edit, generate_register, identifier

    rng = np.random.default_rng(seed)
    sample: list[str] = []
    chunk = 1_000_000
    now = dt.datetime.now(dt.UTC).isoformat()
    tails = [f"\t{k}\tstolen\tbench\tf\t1\t{now}\n" for k in ("imei", "serial")]
    with psycopg.connect(url, autocommit=True) as conn:
        keep = "register_entries_pkey", "pk_register_entries"
        for (name,) in conn.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'register_entries'::regclass "
            "AND contype IN ('u', 'x')"
        ).fetchall():
            conn.execute(f'ALTER TABLE register_entries DROP CONSTRAINT "{name}"')
        for (name,) in conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'register_entries'"
        ).fetchall():
            if name not in keep:
                conn.execute(f'DROP INDEX "{name}"')
        columns = "id, identifier, kind, status, source, withdrawn, version, updated_at"
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY register_entries ({columns}) FROM STDIN") as copy,
        ):
            for start in range(0, n, chunk):
                size = min(chunk, n - start)
                reg = generate_register(size, seed + start // chunk)
                text_ = reg["value"].tobytes().decode("ascii")
                offs, kinds = reg["voff"].tolist(), reg["kind"].tolist()
                copy.write("".join([
                    f"{start + i + 1}\t{text_[offs[i] : offs[i + 1]]}{tails[kinds[i] != 0]}"
                    for i in range(size)
                ]))  # fmt: skip
                sample += [identifier(reg, int(i)) for i in rng.integers(0, size, 40)]
                del reg, text_, offs, kinds
        conn.execute(
            "SELECT setval(pg_get_serial_sequence('register_entries', 'id'), %s)", (max(n, 1),)
        )
        conn.execute(
            "INSERT INTO register_imports (id, source, filename, sha256, added, updated, "
            "withdrawn, imported_by, imported_at) VALUES (1, 'bench', 'generated', '', %s, 0, 0, "
            "'bench', now())",
            (n,),
        )
        conn.execute("ANALYZE register_entries")
    absent = generate_register(1000, seed + 10_000)
    queries = []
    for i in range(2000):
        r = rng.random()
        if r < 0.2:
            queries.append(identifier(absent, i % 1000))
            continue
        q = sample[int(rng.integers(len(sample)))]
        for _ in range(0 if r < 0.6 else 1 if r < 0.9 else 2):
            q = _edit(rng, q)
        queries.append(q)
    return queries


def run_central_matcher(tmp: Path, url: str, args: argparse.Namespace) -> None:
    """Only the central matcher, on a register of ``--central-matcher-entries`` entries."""
    force = Force(tmp, url)
    rows = Measures()
    n = args.central_matcher_entries
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        queries = _write_register(url, n)
        written_cpu = time.process_time() - c0
        while len(queries) < args.lookups:
            queries += queries
        rows.append(
            (f"register of {n} entries written (COPY), s", f"{time.perf_counter() - t0:.0f}")
        )
        rows.append(("  CPU of this process meanwhile (not the server's), s", f"{written_cpu:.0f}"))
        force.start_server()
        _matcher_phase(force, tmp, url, rows, queries[: args.lookups])
    finally:
        force.close()
    print(f"command: {' '.join(sys.argv)}")
    print(f"{'measure':<52} {'value':>14}")
    for label, value in rows:
        print(f"{label:<52} {value:>14}")


def run(tmp: Path, url: str, args: argparse.Namespace) -> None:
    force = Force(tmp, url, CentralSettings(publish_interval=0.2, history=2, snapshot_every=2))
    extra = Measures()
    try:
        stations = [force.add_station(f"bench-{i:03d}") for i in range(args.stations)]
        if args.snapshot:
            force.add_station("new-loads-index")
            force.add_station("new-builds-index")
        force.start_server()
        force.start_central()
        central_import(force, register_file(tmp / "r0.csv", [f"BASE{i:06d}" for i in range(100)]))
        first = central_import(force, register_file(tmp / "r1.csv", ["BASE9999999"]))  # odd
        for st in stations:
            force.enrol(st)
            force.link(st, status_every=5.0)
        for st in stations:  # each station holds the register and its index before timing, so
            assert st.link is not None  # the online checks are not its first-check costs
            st.link.wait_for(lambda st=st: st.register_version() >= first, WAIT)
            st.ctx.matcher.index()
        online: list[float] = []
        offline: list[float] = []
        t_start = time.perf_counter()
        ids = _run_checks(stations, args.checks // 2, "on", online)
        for p in force.proxies.values():  # every link cut while the first half is uploading
            p.cut()
        force.server.restart()  # and NATS itself restarted meanwhile
        ids += _run_checks(stations, args.checks - args.checks // 2, "off", offline)
        restored_at = dt.datetime.now(dt.UTC)
        for p in force.proxies.values():
            p.restore()
        for st in stations:
            assert st.link is not None
            if not st.link.wait_for(st.all_committed, WAIT):
                print(f"warning: {st.station_id} still has {st.outbox_states()}", file=sys.stderr)
        t_all = time.perf_counter() - t_start
        held = force.central_records()
        lost = sum(1 for i in ids if i not in held)
        duplicated = sum(n - 1 for n in held.values())
        with force.db.session() as s:  # the backlog built up offline, drained after the cut
            last, n = s.execute(
                select(func.max(FleetRecord.received_at), func.count()).where(
                    FleetRecord.kind == "record", FleetRecord.received_at >= restored_at
                )
            ).one()
        ingest_rate = n / max((last - restored_at).total_seconds(), 1e-6) if n else float("nan")

        serials = [f"DELTA{i:07d}" for i in range(args.register)]
        path = register_file(tmp / "delta.csv", serials)
        arrivals: list[float] = []
        lock = threading.Lock()
        t0 = time.perf_counter()
        version = central_import(force, path)
        t_imported = time.perf_counter() - t0

        def await_delta(st: SimStation) -> None:
            assert st.link is not None
            if st.link.wait_for(lambda: st.register_version() >= version, WAIT):
                elapsed = time.perf_counter() - t0
                with lock:
                    arrivals.append(elapsed)

        waiters = [threading.Thread(target=await_delta, args=(st,)) for st in stations]
        for w in waiters:
            w.start()
        for w in waiters:
            w.join()
        answered = sum(
            1 for st in stations if st.ctx.matcher.lookup(serials[-1]).verdict == "match"
        )
        p99 = _pct(arrivals, 0.99) if arrivals else float("nan")
        print(f"[measured] stations {args.stations}, records {len(held)}, lost {lost}, "
              f"duplicated {duplicated}, delta p50 {_pct(arrivals, 0.5) if arrivals else 0:.2f} s, "
              f"delta p99 {p99:.2f} s, ingest {ingest_rate:.0f} records/s, check median online "
              f"{statistics.median(online) * 1000:.0f} ms / cut {statistics.median(offline) * 1000:.0f} ms",
              file=sys.stderr, flush=True)  # fmt: skip
        if args.snapshot:
            _snapshot_phase(force, tmp, args.snapshot, extra, baseline=not args.no_baseline)
        if args.matcher:
            _matcher_phase(force, tmp, url, extra)
    finally:
        force.close()

    print(f"command: {' '.join(sys.argv)}")
    print(f"{'measure':<44} {'value':>14}")
    rows = [
        ("stations", f"{args.stations}"),
        ("checks per station (half online, half cut off)", f"{args.checks}"),
        ("check time online, median ms", f"{statistics.median(online) * 1000:.1f}"),
        ("check time link cut, median ms", f"{statistics.median(offline) * 1000:.1f}"),
        ("all records committed centrally after s", f"{t_all:.1f}"),
        ("backlog drained after the cut, records/s", f"{ingest_rate:.0f}"),
        (f"register delta of {args.register} entries: import s", f"{t_imported:.2f}"),
        ("delta reached stations", f"{len(arrivals)}/{args.stations}"),
        ("delta import -> station index, p50 s", f"{_pct(arrivals, 0.5):.2f}" if arrivals else "-"),
        (
            "delta import -> station index, p99 s",
            f"{_pct(arrivals, 0.99):.2f}" if arrivals else "-",
        ),
        ("stations answering from the delta", f"{answered}/{args.stations}"),
        *extra,
    ]
    for label, value in rows:
        print(f"{label:<44} {value:>14}")
    p99 = _pct(arrivals, 0.99) if arrivals else float("nan")
    print(
        f"stations {args.stations}, records {len(held)}, lost {lost}, duplicated {duplicated}, delta p99 {p99:.2f} s"
    )


if __name__ == "__main__":
    main()
