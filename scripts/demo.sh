#!/usr/bin/env bash
# Set up, then run the station on the simulator with a demo register: http://127.0.0.1:8000
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export STATION_DATA_DIR="${STATION_DATA_DIR:-$PWD/var/demo}"
exec .venv/bin/station serve --sim "$@"
