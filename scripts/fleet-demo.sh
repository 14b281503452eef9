#!/usr/bin/env bash
# A force on one machine, end to end: a nats-server with JetStream and per-station logins, a
# PostgreSQL database for the centre, `station central serve`, and two `station serve --sim`
# stations on SQLite, each with its own data folder and key. It imports a register at the
# centre, waits until both stations hold that version, checks an item at each station, and
# waits until the central page shows both stations' checks. Everything it starts is stopped at
# the end; the folder it worked in is printed (kept with KEEP=1).
#
#   bash scripts/fleet-demo.sh            (PG_ADMIN=postgresql://postgres@127.0.0.1:5432/postgres)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
PG_ADMIN=${PG_ADMIN:-postgresql://postgres@127.0.0.1:5432/postgres}
TIMEOUT=${TIMEOUT:-600}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fleet-demo.XXXXXX")
# the matcher's compiled kernels: the cache the caller names (`station warm` fills one; the
# test suite fills its own before its tests run), else one the demo compiles into
KERNELS=${NUMBA_CACHE_DIR:-$WORK/kernels}
DB_NAME="fleet_demo_$(basename "$WORK" | tr -cd 'a-zA-Z0-9' | tr 'A-Z' 'a-z')"
PG_URL="${PG_ADMIN%/*}/$DB_NAME"
PIDS=()

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
say() { printf '\n== %s\n' "$*"; }
# in the background (EXEC=1), the subshell becomes the station process, so the PID kept in
# PIDS is the server itself and the clean-up's kill reaches it
station() { if [[ ${EXEC:-0} == 1 ]]; then exec "$PY" -m station "$@"; else "$PY" -m station "$@"; fi; }
centre() { STATION_DATA_DIR="$WORK/centre" STATION_DB_URL="$PG_URL" station "$@"; }
at() { # at STATION ARGS...: the station command as that station
    local id=$1; shift
    STATION_DATA_DIR="$WORK/$id" STATION_DB_URL="sqlite:///$WORK/$id/station.db" \
        STATION_STATION_ID="$id" STATION_OFFICER=pc-demo NUMBA_CACHE_DIR="$KERNELS" \
        station "$@"
}
pg() { "$PY" -c 'import sys, psycopg; c = psycopg.connect(sys.argv[1], autocommit=True); c.execute(sys.argv[2])' "$PG_ADMIN" "$1"; }
json_get() { "$PY" -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1], {}, {"d": d}))' "$1"; }
wait_until() { # wait_until WHAT COMMAND...: run COMMAND until it succeeds, or give up
    local what=$1; shift
    local deadline=$((SECONDS + TIMEOUT))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS > deadline)); then echo "gave up waiting: $what" >&2; return 1; fi
        sleep 1
    done
    echo "ok: $what"
}
cleanup() {
    local rc=$?
    local i
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do # stations, then the centre, then NATS
        kill "${PIDS[$i]}" 2>/dev/null || true
        wait "${PIDS[$i]}" 2>/dev/null || true
    done
    pg "DROP DATABASE IF EXISTS \"$DB_NAME\" WITH (FORCE)" || true
    if [[ ${KEEP:-0} == 1 || $rc != 0 ]]; then echo "logs and data kept in $WORK"; else rm -rf "$WORK"; fi
    exit $rc
}
trap cleanup EXIT

NATS_PORT=$(free_port); CENTRE_PORT=$(free_port); A_PORT=$(free_port); B_PORT=$(free_port)
NATS_URL="nats://127.0.0.1:$NATS_PORT"
mkdir -p "$WORK/nats"

say "the centre's database and its stations"
pg "CREATE DATABASE \"$DB_NAME\""
centre db upgrade >/dev/null
for id in desk-a desk-b; do
    centre central add-station "$id" --location "demo $id" --nats-auth "$WORK/nats/auth.conf" \
        --json >"$WORK/$id.login.json"
    echo "added $id"
done

say "nats-server with JetStream on $NATS_PORT, logins from the centre"
cat >"$WORK/nats/server.conf" <<EOF
host: 127.0.0.1
port: $NATS_PORT
jetstream: {store_dir: "$WORK/nats/js"}
include "auth.conf"
EOF
nats-server -c "$WORK/nats/server.conf" >"$WORK/nats/server.log" 2>&1 &
PIDS+=($!)
wait_until "nats-server ready" grep -q "Server is ready" "$WORK/nats/server.log"

say "station central serve (page on $CENTRE_PORT)"
EXEC=1 centre central serve --nats "$NATS_URL" --port "$CENTRE_PORT" --snapshot-every 5 \
    >"$WORK/centre.log" 2>&1 &
PIDS+=($!)
wait_until "central page up" curl -sf "http://127.0.0.1:$CENTRE_PORT/central/login"
printf 'Lamp-tray-demo-4471\n' | centre user add sup --role supervisor --password-stdin >/dev/null
TOKEN=$(centre user token sup)
overview() { curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$CENTRE_PORT/api/central/overview"; }

say "two stations enrol and serve (simulated hardware, SQLite)"
for id in desk-a desk-b; do
    mkdir -p "$WORK/$id"
    json_get 'd["nats_password"]' <"$WORK/$id.login.json" |
        at "$id" enrol --station-id "$id" --nats "$NATS_URL" --password-stdin
done
serve() { # serve STATION PORT: the station's server in the background, logging to its file
    # the demo's checks are typed: a station need not load the OCR model before it serves
    # (a scan from its desk loads it then)
    EXEC=1 STATION_VISION__PRELOAD_OCR=false at "$1" serve --sim --port "$2" >"$WORK/$1.log" 2>&1 &
    PIDS+=($!)
}
serve desk-a "$A_PORT"
wait_until "desk-a serving" curl -s -o /dev/null "http://127.0.0.1:$A_PORT/"
serve desk-b "$B_PORT" # after desk-a: the matcher's kernels are compiled once, then shared
wait_until "desk-b serving" curl -s -o /dev/null "http://127.0.0.1:$B_PORT/"

say "a register imported at the centre"
{
    echo "identifier,kind,status,category,brand,model,crime_ref,force,reported_on"
    for n in $(seq 1 200); do printf 'DEMO%06d,serial,stolen,laptop,Acme,X%d,NN/%06d/26,Northants,2026-11-30\n' "$n" "$n" "$n"; done
} >"$WORK/register.csv"
VERSION=$(centre register import "$WORK/register.csv" --source pnc --json | json_get 'd["version"]')
echo "register version $VERSION at the centre"
holds() { [[ $(at "$1" register stats --json | json_get 'd["version"]') == "$VERSION" ]]; }
wait_until "desk-a holds version $VERSION" holds desk-a
wait_until "desk-b holds version $VERSION" holds desk-b
reported() { overview | json_get "all(s['register_version'] == $VERSION for s in d['stations'])" | grep -qx True; }
wait_until "the central page shows both stations on version $VERSION" reported

say "a check at each station"
at desk-a check DEMO000042 --json | json_get '"desk-a: " + str(d["results"][0]["verdict"])'
at desk-b check DEMO000117 --json | json_get '"desk-b: " + str(d["results"][0]["verdict"])'
say "a hardware self-test at each station (the simulated lamps and camera)"
for id in desk-a desk-b; do
    at "$id" doctor --sim --json | json_get '"'"$id"': self-test " + ("passed" if d["passed"] else "FAILED")'
done
tested() { overview | json_get "all(s['last_self_test'] and s['lamp'] for s in d['stations'])" | grep -qx True; }
wait_until "both stations' self-tests and lamps on the central page" tested
both_checked() { overview | json_get "all(s['records'] >= 1 for s in d['stations']) and d['figures']['matched'] >= 2" | grep -qx True; }
wait_until "both stations' checks on the central page" both_checked
curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$CENTRE_PORT/central" >"$WORK/central.html"
grep -q desk-a "$WORK/central.html" && grep -q desk-b "$WORK/central.html"

say "the central page's figures"
overview | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
for s in d["stations"]:
    s["chain"] = "ok" if s["chain_ok"] else "BROKEN"
    s["test"] = "passed" if s["last_self_test"]["passed"] else "FAILED"
    s["lamps"] = ", ".join(n + (" ok" if p["passed"] else " FAULT") for n, p in s["lamp"].items())
    print("{station_id:<8} register v{register_version}  records {records}  backlog {backlog}  "
          "chain {chain}  self-test {test}  lamps: {lamps}".format(**s))
print("force-wide:", ", ".join(f"{k} {v}" for k, v in d["figures"].items()))
print("alerts:", len(d["alerts"]))'
echo
echo "fleet demo passed"
