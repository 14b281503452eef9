"""A property store's bulk check end to end: a spreadsheet of serials through BatchService.

    .venv/bin/python benchmarks/batch_bench.py [--register 200000] [--rows 100000] [--db URL]

Imports a seeded register, writes a CSV of recovered items (by default 3/8 on the register,
3/8 one confusable edit away, a quarter absent; ``--hit-share 0.02`` is a store clearance
where few items hit), then times `station batch`'s path: validate the
file, check every row through `RegisterIndex.lookup_many` in chunks, store every item,
build the hit report. Prints rows per second for each phase.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from import_bench import write_csv

from station.batches.service import BatchService
from station.context import StationContext
from station.settings import StationSettings

SWAP = {"0": "O", "1": "I", "5": "S", "8": "B", "2": "Z", "6": "G"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--register", type=int, default=200_000)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--db", default="")
    ap.add_argument(
        "--hit-share",
        type=float,
        default=0.75,
        help="rows on the register (half exact, half misread); a store clearance is ~0.02",
    )
    args = ap.parse_args()
    rnd = random.Random(11)
    with tempfile.TemporaryDirectory() as tmp:
        reg = Path(tmp) / "register.csv"
        write_csv(reg, args.register)
        idents = [row["identifier"] for row in csv.DictReader(reg.open())]
        sheet = Path(tmp) / "recovered.csv"
        with sheet.open("w") as fh:
            fh.write("serial,description\n")
            for i in range(args.rows):
                ident = rnd.choice(idents)
                roll = rnd.random()
                r = 3 if roll >= args.hit_share else (2 if roll < args.hit_share / 2 else 0)
                if r == 2:  # one confusable misread
                    pos = [k for k, c in enumerate(ident) if c in SWAP]
                    if pos:
                        k = rnd.choice(pos)
                        ident = ident[:k] + SWAP[ident[k]] + ident[k + 1 :]
                elif r == 3:
                    ident = "ZX" + "".join(rnd.choice("ABCDEFGHJK0123456789") for _ in range(9))
                fh.write(f"{ident},item {i}\n")
        ctx = StationContext(StationSettings(data_dir=Path(tmp) / "data", db_url=args.db))
        t0 = time.perf_counter()
        ctx.matcher.import_file(reg, source="bench")
        ctx.matcher.lookup("WARMUP12345")
        t_reg = time.perf_counter() - t0
        service = BatchService(ctx.db, ctx.matcher, ctx.settings)
        t0 = time.perf_counter()
        batch_id = service.create(sheet, sheet.name, officer="bench")
        t_create = time.perf_counter() - t0
        t0 = time.perf_counter()
        doc = service.run(batch_id)
        t_run = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = service.report_csv(batch_id)
        t_report = time.perf_counter() - t0
        ctx.close()
    n = args.rows
    print(" ".join(["command:", *sys.argv]))
    print(f"bulk check: {n:,} rows against a {args.register:,}-entry register ({ctx.db.dialect})")
    print(f"  register import + index (setup)     {t_reg:8.1f} s")
    print(f"  validate the file (create batch)    {t_create:8.1f} s  {n / t_create:>10,.0f} rows/s")
    print(f"  check + store every item (run)      {t_run:8.1f} s  {n / t_run:>10,.0f} rows/s")
    print(f"  hit report (CSV)                    {t_report:8.1f} s")
    print(f"  whole bulk check                    {t_create + t_run + t_report:8.1f} s")
    print(f"  hits {doc['hits']:,} of {n:,}; report lines {report.count(chr(10)) - 1:,}")


if __name__ == "__main__":
    main()
