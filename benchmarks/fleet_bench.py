"""Force-wide operation end to end: N stations checking, the link cut mid-run, a register delta.

    .venv/bin/python benchmarks/fleet_bench.py --stations 5 --checks 40 --register 10000

Starts its own nats-server (JetStream, per-station users), a central service on a fresh
PostgreSQL database, and N simulated stations on SQLite, each behind a TCP proxy. Every
station runs M manual checks: half online, then every link is cut and the other half run
offline (check times side by side), then the links come back. It then counts what reached
the centre (lost, duplicated), the centre's ingest rate, and times a K-entry register delta
from the central import to each station's index answering from it (p50/p99). The last line
is `stations N, records R, lost L, duplicated D, delta p99 X s`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from sqlalchemy import func, select

from station.db.fleet_models import FleetRecord
from station.fleet.central import CentralSettings
from tests.helpers.fleet import Force, SimStation, central_import, register_file

WAIT = 600


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
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = ap.parse_args()
    name = f"fleet_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.pg, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{args.pg.rsplit('/', 1)[0]}/{name}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            run(Path(tmp), url, args)
    finally:
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(tmp: Path, url: str, args: argparse.Namespace) -> None:
    force = Force(tmp, url, CentralSettings(publish_interval=0.2))
    try:
        stations = [force.add_station(f"bench-{i:03d}") for i in range(args.stations)]
        force.start_server()
        force.start_central()
        central_import(force, register_file(tmp / "r0.csv", [f"BASE{i:06d}" for i in range(100)]))
        for st in stations:
            force.enrol(st)
            force.link(st, status_every=5.0)
        online: list[float] = []
        offline: list[float] = []
        t_start = time.perf_counter()
        ids = _run_checks(stations, args.checks // 2, "on", online)
        for p in force.proxies.values():  # every link cut while the first half is uploading
            p.cut()
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
    ]
    for label, value in rows:
        print(f"{label:<44} {value:>14}")
    p99 = _pct(arrivals, 0.99) if arrivals else float("nan")
    print(
        f"stations {args.stations}, records {len(held)}, lost {lost}, duplicated {duplicated}, delta p99 {p99:.2f} s"
    )


if __name__ == "__main__":
    main()
