#!/usr/bin/env bash
# aarch64 proof: builds a Debian 12 (bookworm) arm64 root with debootstrap, runs it on this
# machine through qemu-user (binfmt_misc), installs Check Station there exactly as the README
# says (a clone of the repository, then `bash scripts/setup.sh`), and runs doctor, scan, read,
# a small register import and a check, printing wall time and peak RSS of each step.
# Every figure is EMULATED (qemu-user on another architecture): it proves the install and the
# results, not the speed of a Raspberry Pi. Slow (tens of minutes), so not part of CI's run.
#
#   sudo bash scripts/arm64-smoke.sh [--root DIR] [--keep] [--no-cache] [--photos DIR]
#
#   --root DIR     where the arm64 root is built (default /var/tmp/station-arm64-smoke)
#   --keep         leave the root in place afterwards (default: removed when all passed)
#   --no-cache     debootstrap afresh instead of unpacking the cached base root
#   --photos DIR   photographs for `station read` (default ../shared/testdata/barcodes)
#
# Needs root, the Debian packages debootstrap, qemu-user-static and binfmt-support (installed
# when missing) and network access to the Debian mirror and the Python package index. Any
# proxy CA in /usr/local/share/ca-certificates is trusted inside the root too.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"

root=/var/tmp/station-arm64-smoke
keep=0
use_cache=1
photos="$repo/../shared/testdata/barcodes"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    --no-cache) use_cache=0; shift ;;
    --photos) photos="$2"; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "arm64-smoke: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
root="$(realpath -m "$root")"
cache="$(dirname "$root")/station-arm64-base-bookworm.tar"

say() { printf '\n== %s\n' "$*"; }
die() { echo "arm64-smoke: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap, chroot and binfmt_misc need it)"
[ "$root" != "/" ] || die "--root must not be /"
[ -d "$photos" ] || die "no photographs at $photos (give --photos DIR)"

# -- host tools ------------------------------------------------------------------------------
missing=()
for p in debootstrap qemu-user-static binfmt-support; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing host packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc ||
    die "cannot mount binfmt_misc (a container may need --privileged)"
fi
update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
grep -q enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null ||
  die "qemu-aarch64 is not registered with binfmt_misc (update-binfmts --enable qemu-aarch64)"

# -- the arm64 root --------------------------------------------------------------------------
mounted=()
unmount_all() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
  mounted=()
}
trap unmount_all EXIT

if mountpoint -q "$root/proc" 2>/dev/null; then
  die "$root/proc is still mounted by an earlier run; umount -R $root first"
fi
rm -rf "$root"
mkdir -p "$root"
t_start=$(date +%s)
if [ $use_cache -eq 1 ] && [ -f "$cache" ]; then
  say "unpacking the cached arm64 base root ($cache)"
  tar -C "$root" -xf "$cache"
else
  say "debootstrap bookworm arm64 into $root (emulated second stage)"
  debootstrap --arch=arm64 --variant=minbase \
    --include=python3,python3-venv,ca-certificates,procps \
    bookworm "$root" "$mirror" > "$(dirname "$root")/station-arm64-debootstrap.log" 2>&1 ||
    { tail -n 30 "$(dirname "$root")/station-arm64-debootstrap.log"; die "debootstrap failed"; }
  tar -C "$root" -cf "$cache" .
fi
t_base=$(date +%s)
[ "$(chroot "$root" uname -m)" = aarch64 ] || die "the root does not run as aarch64"

# the host's proxy CA(s), so apt and pip inside the root trust the same HTTPS path
if compgen -G "/usr/local/share/ca-certificates/*.crt" > /dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
fi
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
chroot "$root" update-ca-certificates > /dev/null

for m in proc sys dev dev/pts; do
  case $m in
    proc) mount -t proc proc "$root/proc" ;;
    sys) mount -t sysfs sys "$root/sys" ;;
    dev) mount --bind /dev "$root/dev" ;;
    dev/pts) mount -t devpts devpts "$root/dev/pts" -o newinstance,ptmxmode=0666 ;;
  esac
  mounted+=("$root/$m")
done
mkdir -p "$root/dev/shm" 2>/dev/null || true

# -- the project, as a user would get it: a clone of the committed branch --------------------
commit="$(git -C "$repo" rev-parse HEAD)"
say "cloning ${commit:0:7} ($(git -C "$repo" rev-parse --abbrev-ref HEAD)) into the root"
git clone -q --no-hardlinks "$repo" "$root/opt/check-station"
git -C "$root/opt/check-station" checkout -q "$commit"
mkdir -p "$root/opt/photos"
picked=()
# the first photograph with its expected text in each of a few symbologies' folders
for d in code128-1 ean13-1 qrcode-1 datamatrix-1; do
  for f in $(find "$photos/$d" -maxdepth 1 -type f \( -name '*.png' -o -name '*.jpg' -o -name '*.webp' \) 2>/dev/null | sort); do
    [ -f "${f%.*}.txt" ] || continue
    name="$d-$(basename "$f" | tr -c 'A-Za-z0-9._\n-' '_')"
    cp "$f" "$root/opt/photos/$name"
    cp "${f%.*}.txt" "$root/opt/photos/${name%.*}.expected"
    picked+=("/opt/photos/$name")
    break
  done
done
[ ${#picked[@]} -gt 0 ] || die "none of the chosen photographs exist under $photos"

# a small register: 200 entries, one of them the item the check must find
{
  echo "identifier,kind,status,category,brand,model,crime_ref,force,reported_on"
  for i in $(seq 1 199); do
    printf 'SMK%07d,serial,stolen,laptop,Acme,Book %d,CR/%05d/24,Smoke Force,2024-03-01\n' "$i" "$i" "$i"
  done
  echo "C02XK1ABJGH5,serial,stolen,laptop,Apple,MacBook Pro,CR/99999/24,Smoke Force,2024-05-01"
} > "$root/opt/smoke-register.csv"

# Runs a command in the root with a clean environment; prints its output to a log and one
# "seconds peak_rss_kib exit" line. The RSS is that of the emulating qemu process (it includes
# the emulator's translation cache): an upper bound, not a Pi figure.
in_root() {
  chroot "$root" /usr/bin/env -i \
    PATH=/opt/check-station/.venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    STATION_DATA_DIR=/var/lib/station-smoke STATION_DB_URL=sqlite:////var/lib/station-smoke/station.db \
    "$@"
}
measure() {
  # usage: measure LOG COMMAND...  -> prints "seconds kib status"
  local log="$1"; shift
  in_root /usr/bin/python3 -c '
import resource, subprocess, sys, time
t = time.monotonic()
with open(sys.argv[1], "wb") as out, open(sys.argv[1] + ".err", "wb") as err:
    code = subprocess.call(sys.argv[2:], stdout=out, stderr=err, cwd="/opt/check-station")
print(f"{time.monotonic() - t:.1f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss} {code}")
' "$log" "$@"
}

results=()
failed=0
record() {
  # usage: record LABEL "seconds kib status" VERDICT
  local label="$1" s kib code
  read -r s kib code <<< "$2"
  results+=("$(printf '%-34s %9s %12s %6s  %s' "$label" "$s" "$((kib / 1024))" "$code" "$3")")
  case "$3" in ok*) ;; *) failed=1 ;; esac
}

say "scripts/setup.sh in the root (emulated; minutes)"
m=$(measure /tmp/setup.log bash scripts/setup.sh)
v=ok; [ "${m##* }" = 0 ] || v="FAILED (see below)"
record "scripts/setup.sh" "$m" "$v"
if [ "$v" != ok ]; then tail -n 40 "$root/tmp/setup.log" "$root/tmp/setup.log.err"; fi

check_json() {
  # usage: check_json LOG PYTHON_EXPR -> "ok ..." or "FAILED ..."; the expression sees `doc`
  in_root /usr/bin/python3 -c '
import json, sys
text = open(sys.argv[1]).read()
try:
    doc = json.loads(text)
    print(eval(sys.argv[2]))
except Exception as exc:
    print(f"FAILED ({type(exc).__name__}: {exc})")
' "$1" "$2"
}

if [ $failed -eq 0 ]; then
  say "station doctor --sim"
  m=$(measure /tmp/doctor.log station doctor --sim)
  v=ok; [ "${m##* }" = 0 ] || v="FAILED (exit status)"
  record "station doctor --sim" "$m" "$v"

  for n in 1 2; do
    say "station scan --sim --json (run $n)"
    m=$(measure "/tmp/scan$n.log" station scan --sim --json)
    v=$(check_json "/tmp/scan$n.log" \
      '"ok: " + ", ".join(sorted({i["value"] for i in doc["identifiers"]}))[:60] if doc["identifiers"] else "FAILED (no identifiers)"')
    record "station scan --sim --json ($n)" "$m" "$v"
  done

  for p in "${picked[@]}"; do
    say "station read $p"
    log="/tmp/read-$(basename "$p").log"
    m=$(measure "$log" station read "$p" --json)
    exp="${p%.*}.expected"
    if [ -f "$root$exp" ]; then
      v=$(check_json "$log" \
        "'ok: read ' + open('$exp').read().strip()[:40] if open('$exp').read().strip() in [i['raw'] for i in doc['identifiers']] + [i['value'] for i in doc['identifiers']] else 'FAILED (expected ' + open('$exp').read().strip()[:40] + ', read ' + str([i['raw'] for i in doc['identifiers']])[:60] + ')'")
    else
      v=$(check_json "$log" '"ok: " + str(len(doc["identifiers"])) + " identifiers"')
    fi
    record "station read $(basename "$p")" "$m" "$v"
  done

  say "station register import (200 rows)"
  m=$(measure /tmp/import.log station register import /opt/smoke-register.csv --source smoke)
  v=ok; [ "${m##* }" = 0 ] || v="FAILED (exit status)"
  record "station register import 200" "$m" "$v"

  for n in 1 2; do
    say "station check C02XK1ABJGH5 --json (run $n)"
    m=$(measure "/tmp/check$n.log" station check C02XK1ABJGH5 --json)
    v=$(check_json "/tmp/check$n.log" \
      '"ok: " + doc["results"][0]["verdict"] + " " + doc["results"][0]["candidates"][0]["crime_ref"] if doc["results"][0]["verdict"] == "match" else "FAILED (verdict " + doc["results"][0]["verdict"] + ")"')
    record "station check C02XK1ABJGH5 ($n)" "$m" "$v"
  done
fi
t_end=$(date +%s)

say "results (EMULATED: qemu-user aarch64 on $(uname -m), $(nproc) cores; RSS is the emulator's)"
echo "commit ${commit:0:7}, root $root"
echo "base root: $((t_base - t_start)) s ($([ $use_cache -eq 1 ] && [ -f "$cache" ] && echo cached || echo debootstrap)), total $((t_end - t_start)) s"
in_root /opt/check-station/.venv/bin/python -c 'import platform, sys; print("guest:", platform.machine(), "Python", sys.version.split()[0])' 2>/dev/null || true
printf '%-34s %9s %12s %6s  %s\n' "step" "seconds" "peak RSS MiB" "exit" "result"
printf '%s\n' "${results[@]}"
if [ $failed -ne 0 ]; then
  for f in "$root"/tmp/*.log "$root"/tmp/*.log.err; do echo "--- $(basename "$f")"; tail -n 15 "$f"; done
  echo "arm64-smoke: FAILED (root kept at $root for inspection)" >&2
  exit 1
fi
unmount_all
if [ $keep -eq 0 ]; then rm -rf "$root"; fi
echo "arm64-smoke: all steps passed"
