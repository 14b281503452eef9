#!/usr/bin/env bash
# Set up, then run the linters, the type checker and the whole test suite, on SQLite and on
# the PostgreSQL at $STATION_TEST_PG_URL (default postgresql://postgres@127.0.0.1:5432/postgres).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
# the firmware and its simulator harness, before pytest: the firmware-backed tests need them
if command -v avr-gcc >/dev/null; then
  echo "== firmware"; make -s -C firmware all sim
fi
echo "== ruff"; .venv/bin/ruff check . && .venv/bin/ruff format --check .
echo "== mypy"; .venv/bin/mypy
# tests/conftest.py schedules the workers: the firmware-in-simavr tests share one worker
echo "== pytest"; .venv/bin/python -m pytest -n 2 -p no:cacheprovider "$@"
