"""Vision evaluation: generated scenes, real photographs, speed. Prints tables.

    .venv/bin/python benchmarks/vision_eval.py                      # everything
    .venv/bin/python benchmarks/vision_eval.py --scenes 100 --no-speed
    .venv/bin/python benchmarks/vision_eval.py --photos ../shared/testdata/barcodes --scenes 0
    .venv/bin/python benchmarks/vision_eval.py --scenes 0 --no-photos   # speed only

Targets (issue 4): on real photographs every symbology at least as many as the best single
decoder with zero wrong; on >= 500 scenes marking recall >= 0.98, <= 0.02 false marks per
scene, UV-code read rate >= 0.95; vision <= 250 ms at 1920x1080, <= 700 ms at 4056x3040.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_PHOTOS = [
    ROOT.parent / "shared" / "testdata" / "barcodes",
    ROOT.parent / "shared" / "testdata" / "barcodes-whole",
]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--scenes", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument(
        "--photos", type=Path, action="append", help="photograph folder (repeatable)"
    )
    parser.add_argument("--no-photos", action="store_true", help="skip the real photographs")
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    args = parser.parse_args()
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")  # corrupt test images are expected

    from station_tools.vision_eval import run_eval

    photos = args.photos if args.photos else [p for p in DEFAULT_PHOTOS if p.is_dir()]
    if args.no_photos:
        photos = []
    summary = run_eval(photos, scenes=args.scenes, seed=args.seed, speed=not args.no_speed)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
