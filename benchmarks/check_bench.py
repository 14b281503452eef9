"""Full check on the simulator — capture, vision, match, record — timed stage by stage.

    .venv/bin/python benchmarks/check_bench.py [--checks 20] [--db URL]

Prints the median and 90th percentile of each stage and of the whole check (wall clock from
`POST` to the committed record), on a fresh SQLite database unless --db is given.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from station.checks.service import CheckRequest
from station.context import StationContext, hardware
from station.settings import StationSettings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--checks", type=int, default=20)
    ap.add_argument("--db", default="")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = StationSettings(data_dir=Path(tmp), db_url=args.db, sim=True)
        ctx = StationContext(settings)
        ctx.matcher.seed_demo_if_empty()
        totals: list[float] = []
        stages: dict[str, list[float]] = {}
        verdicts: dict[str, int] = {}
        with hardware(ctx, sim=True):
            service = ctx.check_service()
            service.scan(CheckRequest(officer="bench"))  # warm-up: imports, index, first render
            for _ in range(args.checks):
                t0 = time.perf_counter()
                record = service.scan(CheckRequest(officer="bench"))
                totals.append((time.perf_counter() - t0) * 1000)
                verdict = record.verdict or "none"
                verdicts[verdict] = verdicts.get(verdict, 0) + 1
                for k, v in record.timings_ms.items():
                    stages.setdefault(k, []).append(float(v))
        ctx.close()

    def row(name: str, xs: list[float]) -> str:
        xs = sorted(xs)
        p90 = xs[min(len(xs) - 1, int(0.9 * len(xs)))]
        return f"{name:<14} {statistics.median(xs):>9.1f} {p90:>9.1f}"

    print(f"full check on the simulator, {args.checks} checks, database {ctx.db.dialect}")
    print(f"{'stage (ms)':<14} {'median':>9} {'p90':>9}")
    for k in sorted(stages):
        print(row(k, stages[k]))
    print(row("whole check", totals))
    print(f"verdicts: {verdicts}")


if __name__ == "__main__":
    main()
