"""A property store's bulk check end to end: a spreadsheet of serials through BatchService.

    .venv/bin/python benchmarks/batch_bench.py [--register 200000] [--rows 100000]
        [--hit-share 0.75] [--delta 0] [--db URL] [--baseline DIR] [--repeat 1]

Writes a seeded register and a CSV of recovered items (by default 3/8 on the register,
3/8 one confusable edit away, a quarter absent; ``--hit-share 0.02`` is a store clearance
where few items hit), then times `station batch`'s path on a fresh database:

- validate the file (``BatchService.create``: every row checked, the batch stored);
- check + store (``BatchService.run``): per chunk of 5,000 rows the bare bulk search over
  every row, an explained result only for the rows with a candidate, a compact row for each
  of the rest, the chunk's rows written in one bulk insert (COPY on PostgreSQL);
- the report (``BatchService.report``: every hit, the counts, the no-match runs) and its CSV.

Setup, not timed: the register import, the index, and the compiled kernels (a station loads
them from its cache, filled by `station warm`). ``--delta N`` then imports N more entries,
which the index holds in its overlay as a station does between compactions.

Each run is a child process on its own fresh database (SQLite in a temp dir, or a scratch
database on the PostgreSQL server ``--db`` names, dropped after). ``--baseline DIR`` runs
the same children with the ``station`` package of another checkout (e.g. ``git archive
main``), alternating with this one ``--repeat`` times; the table shows medians, wall and
CPU (user+sys) seconds, and the load average.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from import_bench import write_csv

SWAP = {"0": "O", "1": "I", "5": "S", "8": "B", "2": "Z", "6": "G"}


def write_sheet(reg: Path, sheet: Path, rows: int, hit_share: float) -> None:
    rnd = random.Random(11)
    idents = [row["identifier"] for row in csv.DictReader(reg.open())]
    with sheet.open("w") as fh:
        fh.write("serial,description\n")
        for i in range(rows):
            ident = rnd.choice(idents)
            roll = rnd.random()
            r = 3 if roll >= hit_share else (2 if roll < hit_share / 2 else 0)
            if r == 2:  # one confusable misread
                pos = [k for k, c in enumerate(ident) if c in SWAP]
                if pos:
                    k = rnd.choice(pos)
                    ident = ident[:k] + SWAP[ident[k]] + ident[k + 1 :]
            elif r == 3:
                ident = "ZX" + "".join(rnd.choice("ABCDEFGHJK0123456789") for _ in range(9))
            fh.write(f"{ident},item {i}\n")


def write_delta(path: Path, rows: int) -> None:
    rnd = random.Random(13)
    with path.open("w") as fh:
        fh.write("identifier,kind,status,category,brand,model,crime_ref,force,reported_on\n")
        for i in range(rows):
            ident = "DL" + "".join(rnd.choice("ABCDEFGHJK0123456789") for _ in range(9))
            fh.write(f"{ident},serial,stolen,bike,Acme,D,NN/{i:06d}/27,Northants,2026-06-01\n")


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def child(work: Path, url: str) -> dict[str, Any]:
    """One bulk check in this process, with the `station` package on PYTHONPATH."""
    import station
    from station.batches.service import BatchService
    from station.context import StationContext
    from station.matcher.jit import warm
    from station.settings import StationSettings

    ctx = StationContext(StationSettings(data_dir=work / "data", db_url=url))
    ctx.matcher.import_file(work / "register.csv", source="bench")
    ctx.matcher.lookup("WARMUP12345")
    delta = work / "delta.csv"
    if delta.exists():
        ctx.matcher.import_file(delta, source="bench-delta")
        ctx.matcher.lookup("WARMUP12345")
    warm()
    service = BatchService(ctx.db, ctx.matcher, ctx.settings)
    sheet = work / "recovered.csv"
    out: dict[str, Any] = {"package": str(Path(station.__file__).parent)}
    t0, c0 = time.perf_counter(), _cpu()
    batch_id = service.create(sheet, sheet.name, officer="bench")
    t1, c1 = time.perf_counter(), _cpu()
    doc = service.run(batch_id)
    t2, c2 = time.perf_counter(), _cpu()
    report = service.report_csv(batch_id)
    t3, c3 = time.perf_counter(), _cpu()
    ctx.close()
    out.update(
        create=t1 - t0,
        run=t2 - t1,
        report=t3 - t2,
        total=t3 - t0,
        create_cpu=c1 - c0,
        run_cpu=c2 - c1,
        report_cpu=c3 - c2,
        cpu=c3 - c0,
        hits=doc["hits"],
        lines=report.count("\n") - 1,
    )
    return out


def run_child(code: Path, work: Path, db: str, label: str) -> dict[str, Any]:
    scratch = ""
    if db.startswith("postgres"):
        import sqlalchemy as sa

        scratch = f"batch_bench_{os.getpid()}_{label}"
        admin = sa.create_engine("postgresql+psycopg://" + db.split("://", 1)[1])
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql(f"DROP DATABASE IF EXISTS {scratch}")
            c.exec_driver_sql(f"CREATE DATABASE {scratch}")
        url = db.rsplit("/", 1)[0] + "/" + scratch
    else:
        url = f"sqlite:///{work}/{label}.db"
    env = {**os.environ, "PYTHONPATH": str(code), "NUMBA_CACHE_DIR": str(work / "kernels")}
    try:
        proc = subprocess.run(
            [sys.executable, __file__, "--child", str(work), url],
            env=env,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise SystemExit(f"{label} run failed:\n{proc.stderr}")
    finally:
        if scratch:
            with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.exec_driver_sql(f"DROP DATABASE IF EXISTS {scratch} WITH (FORCE)")
            admin.dispose()
        for leftover in work.glob(f"{label}.db*"):
            leftover.unlink()
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"... {label}: {json.dumps(result)}", file=sys.stderr, flush=True)
    return result


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(child(Path(sys.argv[2]), sys.argv[3])))
        return
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--register", type=int, default=200_000)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--db", default="", help="PostgreSQL server URL (default: SQLite)")
    ap.add_argument(
        "--hit-share",
        type=float,
        default=0.75,
        help="rows on the register (half exact, half misread); a store clearance is ~0.02",
    )
    ap.add_argument("--delta", type=int, default=0, help="entries imported after the index")
    ap.add_argument("--baseline", type=Path, help="another checkout's root to compare against")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each, alternating")
    args = ap.parse_args()
    here = Path(__file__).resolve().parents[1]
    codes = [("this", here)] + ([("baseline", args.baseline.resolve())] if args.baseline else [])
    results: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in codes}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        write_csv(work / "register.csv", args.register)
        write_sheet(work / "register.csv", work / "recovered.csv", args.rows, args.hit_share)
        if args.delta:
            write_delta(work / "delta.csv", args.delta)
        for _ in range(args.repeat):
            for label, code in codes:
                results[label].append(run_child(code, work, args.db, label))
    load_after = os.getloadavg()
    n = args.rows
    print(" ".join(["$", "python", *sys.argv]))
    print(
        f"bulk check: {n:,} rows against a {args.register:,}-entry register "
        f"({'postgresql' if args.db else 'sqlite'}), hit share {args.hit_share}, "
        f"delta {args.delta}; median of {args.repeat}"
    )
    print(
        "load average before {:.2f} {:.2f} {:.2f}, after {:.2f} {:.2f} {:.2f}".format(
            *load_before, *load_after
        )
    )
    labels = list(results)
    print(f"  {'':34}" + "".join(f"{lab:>12}" for lab in labels))

    def med(label: str, key: str) -> float:
        return statistics.median(r[key] for r in results[label])

    for name, key in (
        ("validate the file (create) s", "create"),
        ("  CPU user+sys s", "create_cpu"),
        ("check + store every row (run) s", "run"),
        ("  CPU user+sys s", "run_cpu"),
        ("report + CSV s", "report"),
        ("  CPU user+sys s", "report_cpu"),
        ("whole bulk check s", "total"),
        ("  CPU user+sys s", "cpu"),
    ):
        print(f"  {name:34}" + "".join(f"{med(lab, key):>12.2f}" for lab in labels))
    print(
        f"  {'rows/s, whole bulk check':34}"
        + "".join(f"{n / med(lab, 'total'):>12,.0f}" for lab in labels)
    )
    for label in labels:
        r = results[label][0]
        runs = ", ".join(f"{x['total']:.2f}" for x in results[label])
        print(f"  {label}: hits {r['hits']:,}, report lines {r['lines']:,}; runs {runs} s")
        print(f"    package {r['package']}")


if __name__ == "__main__":
    main()
