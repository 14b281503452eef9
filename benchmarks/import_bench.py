"""Register import end to end — parse, validate, store in the database, index — at scale.

    .venv/bin/python benchmarks/import_bench.py [--rows 1000000] [--db URL]

Generates a seeded CSV with the DESIGN.md header (IMEIs with valid Luhn and alphanumeric
serials), imports it through `RegisterMatcher.import_file` (one transaction), re-imports it
(must change nothing), and times each phase. SQLite in a temp dir unless --db is given.
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time
from pathlib import Path

from stdnum import luhn

from station.db.engine import Database
from station.db.migrate import upgrade
from station.register.service import RegisterMatcher
from station.settings import MatcherSettings

ALNUM = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"


def write_csv(path: Path, rows: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    with path.open("w") as fh:
        fh.write("identifier,kind,status,category,brand,model,crime_ref,force,reported_on\n")
        for i in range(rows):
            if i % 3 == 0:
                body = "35" + "".join(rnd.choice("0123456789") for _ in range(12))
                ident, kind, cat = body + luhn.calc_check_digit(body), "imei", "phone"
            else:
                n = rnd.randint(10, 12)
                ident, kind, cat = "".join(rnd.choice(ALNUM) for _ in range(n)), "serial", "laptop"
            fh.write(
                f"{ident},{kind},stolen,{cat},Acme,M{i % 50},NN/{i:06d}/26,Northants,2026-03-01\n"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--db", default="")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "register.csv"
        t0 = time.perf_counter()
        write_csv(csv_path, args.rows)
        gen = time.perf_counter() - t0
        db = Database(args.db or f"sqlite:///{tmp}/bench.db")
        upgrade(db)
        m = RegisterMatcher(db, MatcherSettings(), Path(tmp) / "index")
        t0 = time.perf_counter()
        summary = m.import_file(csv_path, source="bench")
        imp = time.perf_counter() - t0
        t0 = time.perf_counter()
        m.lookup("NOTPRESENT123")
        build = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = m.import_file(csv_path, source="bench")
        reimp = time.perf_counter() - t0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"register import, {args.rows:,} rows, database {db.dialect}")
        print(f"  generate CSV ({csv_path.stat().st_size / 1e6:.0f} MB)      {gen:8.1f} s")
        print(
            f"  import: parse + validate + store   {imp:8.1f} s   ({args.rows / imp:,.0f} rows/s)"
        )
        print(f"  first look-up: build + save index  {build:8.1f} s")
        print(
            f"  re-import of the same file         {reimp:8.1f} s   "
            f"(added {again['added']}, updated {again['updated']})"
        )
        print(f"  rows added on first import         {summary['added']:>10,}")
        print(f"  peak RSS                           {rss:8.0f} MB")
        db.dispose()


if __name__ == "__main__":
    main()
