"""Memory on a 4 GB Raspberry Pi: peak RSS of a register import, RSS of `station serve` with a
large register once its index is loaded.

    .venv/bin/python benchmarks/memory_bench.py [--entries 5000000] [--chunk 1000000]

Writes the register as CSV files of ``--chunk`` rows (the first is the "1M-row import"),
imports each with `station register import` in its own process (peak RSS from wait4), then
starts `station serve` on that database, makes one manual check through the HTTP API so the
matcher loads its index, and reads the server's VmRSS / VmHWM from /proc. Targets (issue 16):
serve <= 1024 MiB RSS with 5M entries; a 1M-row import <= 600 MiB peak. SQLite in a temp
folder under /var/tmp (about 1.5 GB for 5M entries), removed afterwards unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ALNUM = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
HEADER = "identifier,kind,status,category,brand,model,crime_ref,force,reported_on\n"
STATION = [sys.executable, "-m", "station"]


def _luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def write_chunk(path: Path, rows: int, seed: int) -> str:
    """A register file of stolen phones and laptops; returns its first identifier."""
    rnd = random.Random(seed)
    first = ""
    with path.open("w") as fh:
        fh.write(HEADER)
        for i in range(rows):
            if i % 3 == 0:
                body = "35" + "".join(rnd.choices("0123456789", k=12))
                ident, kind, cat = body + _luhn_digit(body), "imei", "phone"
            else:
                ident = "".join(rnd.choices(ALNUM, k=rnd.randint(10, 12)))
                kind, cat = "serial", "laptop"
            first = first or ident
            fh.write(
                f"{ident},{kind},stolen,{cat},Acme,M{i % 50},NN/{seed}{i:07d}/26,Bench,2026-03-01\n"
            )
    return first


def run_measured(cmd: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (KiB) and output of one command in its own process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    out = proc.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{out[-2000:]}")
    return time.perf_counter() - t0, int(usage.ru_maxrss), out


def proc_memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a running process, KiB."""
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"station serve exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return time.perf_counter() - t0
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"station serve did not listen within {timeout:.0f} s")


def manual_check(port: int, token: str, identifier: str) -> tuple[float, str]:
    body = json.dumps({"identifiers": [identifier], "purpose": "property_office"}).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/checks",
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=1800) as resp:
        doc = json.loads(resp.read())
    return time.perf_counter() - t0, str(doc.get("verdict"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--entries", type=int, default=5_000_000, help="register size for serve")
    ap.add_argument("--chunk", type=int, default=1_000_000, help="rows per import")
    ap.add_argument("--work", default="/var/tmp", help="folder for the temp data")
    ap.add_argument("--keep", action="store_true", help="keep the data folder")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="station-memory-", dir=args.work))
    env = {
        **os.environ,
        "STATION_DATA_DIR": str(work / "data"),
        "STATION_DB_URL": f"sqlite:///{work}/data/station.db",
    }
    rows: list[tuple[str, str, str, str]] = []
    try:
        chunks = max(1, -(-args.entries // args.chunk))
        first_ident = ""
        for n in range(chunks):
            size = min(args.chunk, args.entries - n * args.chunk)
            path = work / f"register-{n + 1}.csv"
            ident = write_chunk(path, size, seed=n + 1)
            first_ident = first_ident or ident
            secs, kib, _ = run_measured(
                [*STATION, "register", "import", str(path), "--source", f"bench-{n + 1}"], env
            )
            path.unlink()
            rows.append(
                (
                    f"register import {size:,} rows (#{n + 1})",
                    f"{secs:.1f}",
                    f"{kib / 1024:.0f}",
                    "",
                )
            )
            print("  ".join(rows[-1]), "MiB", file=sys.stderr, flush=True)
        subprocess.run(
            [*STATION, "user", "add", "bench", "--role", "custody", "--password-stdin"],
            input=b"lamp-store-2718-quiet\n",
            env=env,
            check=True,
            capture_output=True,
        )
        token = subprocess.run(
            [*STATION, "user", "token", "bench"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()[-1]
        port = free_port()
        log = (work / "serve.log").open("wb")
        t0 = time.perf_counter()
        server = subprocess.Popen(
            [*STATION, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_port(port, server, timeout=600)
            ready = time.perf_counter() - t0
            at_ready = proc_memory(server.pid)
            rows.append(("serve: listening", f"{ready:.1f}", f"{at_ready['VmRSS'] / 1024:.0f}", ""))
            secs, verdict = manual_check(port, token, first_ident)
            loaded = proc_memory(server.pid)
            rows.append(
                (
                    f"serve: first check, index of {args.entries:,} loaded",
                    f"{secs:.1f}",
                    f"{loaded['VmRSS'] / 1024:.0f}",
                    f"verdict {verdict}; peak {loaded['VmHWM'] / 1024:.0f} MiB",
                )
            )
            secs, verdict = manual_check(port, token, first_ident[:-1] + "X")
            after = proc_memory(server.pid)
            rows.append(
                (
                    "serve: second check (fuzzy)",
                    f"{secs:.2f}",
                    f"{after['VmRSS'] / 1024:.0f}",
                    f"verdict {verdict}; peak {after['VmHWM'] / 1024:.0f} MiB",
                )
            )
        finally:
            server.terminate()
            server.wait(timeout=120)
        # a station's normal start: the index was built and saved by the first run
        t0 = time.perf_counter()
        server = subprocess.Popen(
            [*STATION, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_port(port, server, timeout=600)
            secs, verdict = manual_check(port, token, first_ident)
            loaded = proc_memory(server.pid)
            rows.append(
                (
                    "serve restarted: first check, index from disk",
                    f"{secs:.1f}",
                    f"{loaded['VmRSS'] / 1024:.0f}",
                    f"verdict {verdict}; peak {loaded['VmHWM'] / 1024:.0f} MiB",
                )
            )
        finally:
            server.terminate()
            server.wait(timeout=120)
            log.close()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print("command:", " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]))
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(f"{'step':52} {'seconds':>8} {'RSS MiB':>8}  note")
    for step, secs, mib, note in rows:
        print(f"{step:52} {secs:>8} {mib:>8}  {note}")
    print("targets: serve with 5M entries <= 1024 MiB RSS; 1M-row import <= 600 MiB peak RSS")
    print("(import rows show the peak RSS of that import's process, from wait4)")


if __name__ == "__main__":
    main()
