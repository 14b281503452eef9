"""How long the batch report (HTML and CSV) of a 20,000-row spreadsheet takes to render.

    .venv/bin/python benchmarks/report_bench.py [--rows 20000] [--hit-share 0.2] [--runs 5]
        [--baseline DIR]

Builds a property store's spreadsheet (serial, property bag, description) with the given
share of rows on a seeded register, checks it through `BatchService` on SQLite, then times
the two reports as the web UI serves them: the HTML page (batch report route) and the CSV
download, read to the last byte. Prints the median and best of ``--runs``.

``--baseline DIR`` runs the same measurement with DIR's ``station`` package (e.g. an export
of ``main``) in a child process and prints both side by side.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def build_sheet(path: Path, idents: list[str], rows: int, hit_share: float) -> None:
    """A store's spreadsheet: ``hit_share`` of the rows are register serials, the rest unknown."""
    rnd = random.Random(12)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["serial", "property bag", "description"])
        for i in range(rows):
            if rnd.random() < hit_share:
                ident = rnd.choice(idents)
            else:
                ident = "ZX" + "".join(rnd.choice("ABCDEFGHJK0123456789") for _ in range(9))
            w.writerow([ident, f"PB{i:06d}", f"item {i}: grey, scuffed, in a bag"])


def measure(rows: int, hit_share: float, runs: int) -> dict[str, Any]:
    """Build the batch with the importable ``station`` and time both reports."""
    sys.path.insert(0, str(HERE))
    from fastapi.testclient import TestClient
    from import_bench import write_csv

    from station.api.app import create_app
    from station.batches.service import BatchService
    from station.settings import StationSettings

    with tempfile.TemporaryDirectory() as tmp:
        reg = Path(tmp) / "register.csv"
        write_csv(reg, 5000)
        idents = [r["identifier"] for r in csv.DictReader(reg.open())]
        sheet = Path(tmp) / "recovered.csv"
        build_sheet(sheet, idents, rows, hit_share)
        settings = StationSettings(data_dir=Path(tmp) / "data")
        app = create_app(settings)
        with TestClient(app) as client:
            state = app.state.station
            ctx = state.ctx
            ctx.matcher.import_file(reg, source="bench")
            service = BatchService(ctx.db, ctx.matcher, ctx.settings)
            batch_id = service.create(sheet, sheet.name, officer="bench")
            doc = service.run(batch_id)
            headers = _login(state)
            out: dict[str, Any] = {
                "station": str(Path(str(sys.modules["station"].__file__)).parent)
            }
            out["rows"], out["hits"] = doc["total"], doc["hits"]
            for form in ("html", "csv"):
                url = f"/api/batches/{batch_id}/report.{form}"
                times = []
                size = 0
                for _ in range(runs + 1):  # the first run warms the template cache
                    t0 = time.perf_counter()
                    r = client.get(url, headers=headers)
                    body = r.content
                    times.append(time.perf_counter() - t0)
                    assert r.status_code == 200, r.text[:300]
                    size = len(body)
                out[form] = {
                    "median_ms": statistics.median(times[1:]) * 1000,
                    "best_ms": min(times[1:]) * 1000,
                    "bytes": size,
                }
    return out


def _login(state: Any) -> dict[str, str]:
    """A store officer's bearer token, issued the way `station user` does it."""
    state.users.create_user("bench-store", "store", "violet-lantern-harbour-9")
    return {"Authorization": f"Bearer {state.users.issue_token('bench-store', name='bench')}"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--hit-share", type=float, default=0.2)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--baseline", default="", help="a source tree whose station to compare")
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.json:
        print(json.dumps(measure(args.rows, args.hit_share, args.runs)))
        return
    results: list[tuple[str, dict[str, Any]]] = []
    if args.baseline:
        child = [sys.executable, __file__, "--json", "--rows", str(args.rows)]
        child += ["--hit-share", str(args.hit_share), "--runs", str(args.runs)]
        env = dict(os.environ, PYTHONPATH=str(Path(args.baseline).resolve()))
        done = subprocess.run(child, env=env, capture_output=True, text=True, check=True)
        results.append(("baseline", json.loads(done.stdout.strip().splitlines()[-1])))
    sys.path.insert(0, str(HERE.parent))
    results.append(("this tree", measure(args.rows, args.hit_share, args.runs)))
    print("$ " + " ".join([Path(sys.executable).name, *sys.argv]))
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    print(
        f"{'code':<10} {'rows':>6} {'hits':>5} {'report':<6} {'median ms':>10} {'best ms':>8}"
        f" {'bytes':>9}  station"
    )
    for name, res in results:
        for form in ("html", "csv"):
            f = res[form]
            print(
                f"{name:<10} {res['rows']:>6} {res['hits']:>5} {form:<6} {f['median_ms']:>10.1f}"
                f" {f['best_ms']:>8.1f} {f['bytes']:>9}  {res['station']}"
            )


if __name__ == "__main__":
    main()
