"""Register import end to end — parse, validate, store in the database, index — at scale.

    .venv/bin/python benchmarks/import_bench.py [--rows 1000000] [--db URL] [--baseline DIR]
        [--repeat 1]

Generates a seeded CSV with the DESIGN.md header (IMEIs with valid Luhn and alphanumeric
serials), imports it through `RegisterMatcher.import_file` (one transaction), re-imports it
(must change nothing), and times each phase. Each import runs in its own process so its peak
RSS is its own. SQLite in a temp dir, or PostgreSQL when --db names a server: a scratch
database is created there for each run and dropped after. --baseline DIR runs the same
import with the `station` package of another checkout (e.g. `git archive main`) beside this
one, so the table compares them in one run; ``--repeat N`` alternates N runs of each and
the table shows medians (peak RSS: the largest). On PostgreSQL the table adds the CPU time of
the server sessions the import used, read from /proc when the server runs on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from stdnum import luhn

ALNUM = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"


def write_csv(path: Path, rows: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    with path.open("w") as fh:
        fh.write("identifier,kind,status,category,brand,model,crime_ref,force,reported_on\n")
        for i in range(rows):
            if i % 3 == 0:
                # 12 digits from the row number through a bijection of 0..10^12-1 (3^18 is
                # prime to 10): random-looking and never twice (random draws repeated an IMEI
                # about 7 times in 10M rows, and the importer rightly refused the file)
                body = "35" + f"{(i // 3 * 387_420_489 + 20_261_202) % 10**12:012d}"
                ident, kind, cat = body + luhn.calc_check_digit(body), "imei", "phone"
            else:
                n = rnd.randint(10, 12)
                ident, kind, cat = "".join(rnd.choice(ALNUM) for _ in range(n)), "serial", "laptop"
            fh.write(
                f"{ident},{kind},stolen,{cat},Acme,M{i % 50},NN/{i:06d}/26,Northants,2026-03-01\n"
            )


def child(csv_path: Path, url: str, index_dir: Path) -> dict[str, Any]:
    """One import, look-up and re-import, in this process (run by the parent)."""
    from sqlalchemy import func, select

    from station.db.engine import Database
    from station.db.migrate import upgrade
    from station.db.models import RegisterEntry
    from station.register.service import RegisterMatcher
    from station.settings import MatcherSettings

    db = Database(url)
    upgrade(db)
    server = _ServerCpu(db)
    m = RegisterMatcher(db, MatcherSettings(), index_dir)
    t0, c0, s0 = time.perf_counter(), _cpu(), server.cpu()
    first = m.import_file(csv_path, source="bench")
    imp, imp_cpu, imp_server = time.perf_counter() - t0, _cpu() - c0, server.cpu() - s0
    rss_import = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    m.lookup("NOTPRESENT123")
    build = time.perf_counter() - t0
    t0, c0, s0 = time.perf_counter(), _cpu(), server.cpu()
    again = m.import_file(csv_path, source="bench")
    reimp, reimp_cpu = time.perf_counter() - t0, _cpu() - c0
    reimp_server = server.cpu() - s0
    with db.session() as s:
        touched = s.execute(
            select(func.count()).where(RegisterEntry.version > first["version"])
        ).scalar_one()
    db.dispose()
    return {
        "import": imp,
        "import_cpu": imp_cpu,
        "import_server_cpu": imp_server,
        "added": first["added"],
        "rss_import": rss_import,
        "build": build,
        "reimport": reimp,
        "reimport_cpu": reimp_cpu,
        "reimport_server_cpu": reimp_server,
        "re_added": again["added"],
        "re_updated": again["updated"],
        "touched": touched,
        "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _cpu() -> float:
    """CPU seconds of this process (the importing one; parse workers are not counted)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _ServerCpu:
    """CPU seconds the PostgreSQL server spent in this process's sessions, read from /proc
    (a server on this machine; NaN otherwise, and 0 on SQLite, which runs in-process).

    On PostgreSQL the import's sorts, joins and index writes run in the server, so the
    importing process's own CPU says little; this is the figure a busy machine inflates
    least."""

    def __init__(self, db: Any) -> None:
        from sqlalchemy import event

        self.pids: set[int] = set()
        if db.dialect == "postgresql":
            event.listen(db.engine, "checkout", lambda dbapi, _rec, _proxy: self.pids.add(
                dbapi.info.backend_pid))  # fmt: skip

    def cpu(self) -> float:
        total = 0.0
        for pid in self.pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                return float("nan")
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total


def run(code: Path, csv_path: Path, db: str, tmp: Path, label: str) -> dict[str, Any]:
    """Run `child` under the `station` package found in ``code``, on a fresh database."""
    scratch = ""
    if db.startswith("postgresql"):
        import sqlalchemy as sa

        scratch = f"import_bench_{os.getpid()}_{label}"
        admin = sa.create_engine(db.replace("postgresql://", "postgresql+psycopg://", 1))
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql(f"DROP DATABASE IF EXISTS {scratch}")
            c.exec_driver_sql(f"CREATE DATABASE {scratch}")
        url = db.rsplit("/", 1)[0] + "/" + scratch
    else:
        url = f"sqlite:///{tmp}/{label}.db"
    env = {**os.environ, "PYTHONPATH": str(code)}
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(csv_path), url, str(tmp / f"{label}-index")],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
    finally:
        # each run starts from nothing: its own database, its index built afresh
        shutil.rmtree(tmp / f"{label}-index", ignore_errors=True)
        for leftover in tmp.glob(f"{label}.db*"):
            leftover.unlink()
        if scratch:
            with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.exec_driver_sql(f"DROP DATABASE IF EXISTS {scratch} WITH (FORCE)")
            admin.dispose()
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"... {label}: {json.dumps(result)}", file=sys.stderr, flush=True)  # kept if cut short
    return result


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        print(json.dumps(child(Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4]))))
        return
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--db", default="", help="PostgreSQL server URL (default: SQLite)")
    ap.add_argument("--baseline", type=Path, help="another checkout's root to compare against")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each, alternating")
    args = ap.parse_args()
    here = Path(__file__).resolve().parents[1]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        csv_path = tmp / "register.csv"
        t0 = time.perf_counter()
        write_csv(csv_path, args.rows)
        gen = time.perf_counter() - t0
        size_mb = csv_path.stat().st_size / 1e6
        codes = [("this", here)] + (
            [("baseline", args.baseline.resolve())] if args.baseline else []
        )
        results: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in codes}
        for n in range(args.repeat):
            for label, code in codes if n % 2 == 0 else codes[::-1]:
                results[label].append(run(code, csv_path, args.db, tmp, label))
    load_after = os.getloadavg()
    print(" ".join(["$", "python", *sys.argv]))
    print(
        f"register import, {args.rows:,} rows ({size_mb:.0f} MB CSV, "
        f"generated in {gen:.1f} s), database {'postgresql' if args.db else 'sqlite'}; "
        f"median of {args.repeat}"
    )
    print(
        "load average before {:.2f} {:.2f} {:.2f}, after {:.2f} {:.2f} {:.2f}".format(
            *load_before, *load_after
        )
    )
    labels = list(results)
    print(f"  {'':38}" + "".join(f"{lab:>14}" for lab in labels))

    def value(label: str, key: str) -> float:
        runs = [r[key] for r in results[label]]
        return max(runs) if key.startswith("rss") else statistics.median(runs)

    def line(name: str, fmt: str, key: str) -> None:
        print(f"  {name:38}" + "".join(f"{format(value(lab, key), fmt):>14}" for lab in labels))

    line("import: parse+validate+store (s)", ".1f", "import")
    print(
        f"  {'import rate (rows/s)':38}"
        + "".join(f"{args.rows / value(lab, 'import'):>14,.0f}" for lab in labels)
    )
    line("  CPU of the importing process (s)", ".1f", "import_cpu")
    line("  CPU of its database sessions (s)", ".1f", "import_server_cpu")
    line("rows added", ",", "added")
    line("peak RSS after import (MB), max", ".0f", "rss_import")
    line("first look-up: build+save index (s)", ".1f", "build")
    line("re-import of the same file (s)", ".1f", "reimport")
    line("  CPU of the importing process (s)", ".1f", "reimport_cpu")
    line("  CPU of its database sessions (s)", ".1f", "reimport_server_cpu")
    line("re-import added", ",", "re_added")
    line("re-import updated", ",", "re_updated")
    line("rows the re-import touched", ",", "touched")
    line("peak RSS, whole run (MB), max", ".0f", "rss")
    for label in labels:
        runs = ", ".join(f"{r['import']:.1f}" for r in results[label])
        print(f"  {label}: imports {runs} s")


if __name__ == "__main__":
    main()
