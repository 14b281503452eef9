"""Load test on loopback: N concurrent desk clients against a real `station serve --sim`.

Each client does what a desk screen does: start a scan (202), poll the record until it is
finished, read the live status and the recent-checks list, and now and then type an
identifier (manual check). Scans queue on the one simulated tray; reads must stay fast.

    .venv/bin/python benchmarks/load_bench.py --clients 20 --seconds 30
    .venv/bin/python benchmarks/load_bench.py --db postgresql://postgres@127.0.0.1:5432/bench

Prints p50/p95/p99/max latency per request kind and the error count. Target (issue 6):
20 clients, reads p99 < 1 s, no errors.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx

TOKEN = "demo-custody-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(data_dir: Path, port: int, db_url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "STATION_DATA_DIR": str(data_dir), "STATION_DB_URL": db_url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "station", "serve", "--sim", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        # not listening yet is the normal case while the server starts: try again
        with contextlib.suppress(httpx.HTTPError):
            r = httpx.get(
                f"http://127.0.0.1:{port}/api/me",
                headers={"Authorization": f"Bearer {TOKEN}"},
                timeout=1,
            )
            if r.status_code == 200:
                return proc
        time.sleep(0.3)
    proc.kill()
    raise SystemExit("station serve did not come up")


class Recorder:
    def __init__(self) -> None:
        self.lat: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.lock = threading.Lock()

    def timed(
        self, kind: str, client: httpx.Client, method: str, url: str, **kw: object
    ) -> httpx.Response | None:
        t0 = time.perf_counter()
        try:
            r = client.request(method, url, **kw)  # type: ignore[arg-type]
        except httpx.HTTPError:
            with self.lock:
                self.errors[kind] += 1
            return None
        dt = time.perf_counter() - t0
        with self.lock:
            self.lat[kind].append(dt)
            if r.status_code >= 400:
                self.errors[kind] += 1
        return r


def desk_client(base: str, rec: Recorder, stop: float, n: int) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as c:
        i = 0
        while time.monotonic() < stop:
            i += 1
            r = rec.timed("POST scan (202)", c, "POST", "/api/checks", json={})
            if r is None or r.status_code != 202:
                time.sleep(0.2)
                continue
            href = r.json()["href"]
            t_scan = time.perf_counter()
            while time.monotonic() < stop + 30:
                doc = rec.timed("GET check (poll)", c, "GET", href)
                if doc is None or doc.status_code != 200:
                    break
                if doc.json()["state"] != "started":
                    with rec.lock:
                        rec.lat["scan to result (e2e)"].append(time.perf_counter() - t_scan)
                    break
                rec.timed("GET station status", c, "GET", "/api/station/status")
                time.sleep(0.25)
            rec.timed("GET check list", c, "GET", "/api/checks?limit=10")
            if i % 3 == 0:
                rec.timed(
                    "POST manual check",
                    c,
                    "POST",
                    "/api/checks",
                    json={"identifiers": [f"BENCH{n:02d}{i:05d}"]},
                )
            time.sleep(0.1)


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, round(p / 100 * (len(values) - 1)))
    return values[k]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--db", default="", help="database URL (default: a fresh SQLite file)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        proc = start(Path(tmp) / "data", port, args.db)
        try:
            rec = Recorder()
            stop = time.monotonic() + args.seconds
            threads = [
                threading.Thread(
                    target=desk_client, args=(f"http://127.0.0.1:{port}", rec, stop, n)
                )
                for n in range(args.clients)
            ]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - t0
            with httpx.Client(
                base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {TOKEN}"}
            ) as c:
                listed = c.get("/api/checks?state=complete&limit=500").json()["total_returned"]
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    print(
        f"\nload_bench: {args.clients} desk clients, {wall:.1f} s, loopback, station serve --sim "
        f"({args.db.split('://')[0] if args.db else 'SQLite'}), {os.cpu_count()} CPUs"
    )
    print(
        f"{'request':<22}{'count':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"{'errors':>8}"
    )
    all_reads: list[float] = []
    for kind in sorted(rec.lat):
        v = rec.lat[kind]
        if kind.startswith("GET") and "e2e" not in kind:
            all_reads.extend(v)
        print(
            f"{kind:<22}{len(v):>7}{pct(v, 50) * 1000:>9.1f}{pct(v, 95) * 1000:>9.1f}"
            f"{pct(v, 99) * 1000:>9.1f}{max(v) * 1000:>9.1f}{rec.errors[kind]:>8}"
        )
    errors = sum(rec.errors.values())
    print(
        f"{'all reads':<22}{len(all_reads):>7}{pct(all_reads, 50) * 1000:>9.1f}"
        f"{pct(all_reads, 95) * 1000:>9.1f}{pct(all_reads, 99) * 1000:>9.1f}"
        f"{max(all_reads, default=0) * 1000:>9.1f}{errors:>8}"
    )
    scans = len(rec.lat.get("POST scan (202)", []))
    print(
        f"scans started {scans}, complete checks on record (scans + manual) {listed}; "
        f"scan throughput {scans / wall:.2f}/s (one tray: scans queue)"
    )
    ok = pct(all_reads, 99) < 1.0 and errors == 0
    print(f"target (reads p99 < 1 s, no errors): {'MET' if ok else 'NOT MET'}")


if __name__ == "__main__":
    main()
