"""Whole-process wall time of one-shot commands, beside the floor of importing cv2 and numpy.

    .venv/bin/python benchmarks/startup_bench.py [--runs 5]

Each command runs ``--runs`` times in a fresh process (after one unmeasured warm-up run that
creates the database, imports the demo register and fills the OS file cache); the table shows
the median and the fastest. Targets (issue 16), on a quiet machine: `station check X --json`
<= 1.5 s, `station scan --sim --json` <= 3 s. The data folder is a temp dir.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = sys.executable
DEMO_REGISTER = Path(__file__).resolve().parents[1] / "station" / "data" / "demo_register.csv"


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, timeout=600)
    took = time.perf_counter() - t0
    # scan exits 1 when the check is incomplete; anything else is a broken command
    if proc.returncode not in (0, 1) or (cmd[1] == "-m" and not proc.stdout):
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr.decode()}")
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="station-startup-") as tmp:
        env = {
            **os.environ,
            "STATION_DATA_DIR": str(Path(tmp) / "data"),
            "STATION_DB_URL": f"sqlite:///{tmp}/data/station.db",
        }
        station = [PY, "-m", "station"]
        subprocess.run([*station, "db", "upgrade"], env=env, check=True, capture_output=True)
        subprocess.run(
            [*station, "register", "import", str(DEMO_REGISTER), "--source", "demo"],
            env=env,
            check=True,
            capture_output=True,
        )
        commands = [
            ("floor: python -c 'import cv2, numpy'", [PY, "-c", "import cv2, numpy"], None),
            ("station --help", [*station, "--help"], None),
            (
                "station check C02XK1ABJGH5 --json",
                [*station, "check", "C02XK1ABJGH5", "--json"],
                1.5,
            ),
            ("station scan --sim --json", [*station, "scan", "--sim", "--json"], 3.0),
        ]
        rows = []
        for label, cmd, target in commands:
            timed(cmd, env)  # warm-up: caches, first-use compiles, database files
            runs = [timed(cmd, env) for _ in range(args.runs)]
            rows.append((label, statistics.median(runs), min(runs), target))
    print("command: " + " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]))
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}, "
        f"Python {sys.version.split()[0]}, {args.runs} runs each after one warm-up"
    )
    print(f"{'command':40} {'median s':>9} {'fastest s':>10} {'target s':>9}")
    for label, med, fastest, target in rows:
        print(f"{label:40} {med:>9.2f} {fastest:>10.2f} {target if target else '':>9}")


if __name__ == "__main__":
    main()
