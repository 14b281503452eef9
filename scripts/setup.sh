#!/usr/bin/env bash
# Sets up a fresh Debian / Raspberry Pi OS machine for Check Station: the Debian packages the
# station needs (only those missing, without recommends), a virtual environment in .venv and
# the project installed into it. Idempotent: a second run only checks.
#   scripts/setup.sh          runtime only
#   scripts/setup.sh --dev    also test tools (pytest, ruff, mypy, playwright, Chromium)
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[ "${1:-}" = "--dev" ] && dev=1

# libzbar0: pyzbar's decoder; tesseract-ocr(-eng): printed serials and UV-pen postcodes;
# python3-venv: the virtual environment; chromium: the browser the UI test drives; cage: the
# kiosk compositor, so the tests can verify the kiosk unit (`station install` adds it on a station).
pkgs=(libzbar0 tesseract-ocr tesseract-ocr-eng)
# dev: the lamp-controller firmware's toolchain and its AVR simulator (firmware/, tests);
# fonts-*: real label typefaces the OCR evaluation draws its generated labels with;
# nats-server: the force's message server (the fleet tests start their own).
[ $dev -eq 1 ] && pkgs+=(chromium cage make gcc libc6-dev gcc-avr avr-libc simavr libsimavr-dev libsimavrparts1
  fonts-ocr-b fonts-dejavu-core fonts-liberation2 nats-server)
# Debian's python3 needs python3-venv for `python3 -m venv`; other Pythons bring their own.
python3 -c 'import venv, ensurepip' 2>/dev/null || pkgs+=(python3-venv)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi
extras="postgres"
[ $dev -eq 1 ] && extras="dev,postgres"
stamp=".venv/.installed-$extras"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing check-station[$extras] into .venv"
  # pip's self-upgrade exits 0 when the index cannot be reached, and the failure would surface
  # later as an unsatisfiable build requirement: fetch the build requirements first instead.
  probe="$(mktemp -d)"
  if ! .venv/bin/python -m pip download -q --no-cache-dir --no-deps --only-binary :all: \
        --retries 2 -d "$probe" "setuptools>=77" wheel > .venv/pip.log 2>&1; then
    rm -rf "$probe"
    index="${PIP_INDEX_URL:-$(.venv/bin/python -m pip config get global.index-url 2>/dev/null ||
      echo https://pypi.org/simple)}"
    why="$(grep -m 1 -oE "Failed to establish a new connection: [^')]*|certificate verify failed[^')]*|Temporary failure in name resolution|Name or service not known|timed out|ProxyError[^']*|No matching distribution[^']*" \
      .venv/pip.log || echo "see the log")"
    echo "setup: cannot download from the Python package index $index ($why)." \
      "Check the network, the proxy (HTTPS_PROXY and its CA) and PIP_INDEX_URL;" \
      "full log in .venv/pip.log" >&2
    exit 1
  fi
  rm -rf "$probe"
  if ! { .venv/bin/python -m pip install -q --upgrade pip &&
          .venv/bin/python -m pip install -q -e ".[$extras]" &&
          .venv/bin/python -m pip install -q --no-deps "rapidocr_onnxruntime>=1.4,<2"; } \
      >> .venv/pip.log 2>&1; then
    tail -n 40 .venv/pip.log
    echo "setup: pip install failed (full log in .venv/pip.log)" >&2
    exit 1
  fi
  touch "$stamp"
fi
# the browser tests check every page with axe-core: fetched from the npm registry into a
# git-ignored folder, never committed (needs nodejs/npm)
if [ $dev -eq 1 ] && [ ! -f tests/ui/node_modules/axe-core/axe.min.js ]; then
  if ! command -v npm >/dev/null; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm
  fi
  echo "setup: installing axe-core into tests/ui/node_modules"
  npm install --no-save --no-audit --no-fund --prefix tests/ui axe-core@4 > .venv/npm.log 2>&1 ||
    { tail -n 20 .venv/npm.log; echo "setup: npm install axe-core failed" >&2; exit 1; }
fi
# compile the matcher's kernels now, into the data directory's cache, so no check waits on it
echo "setup: compiling the matcher's kernels (once per CPU and numba version)"
.venv/bin/station warm || { echo "setup: station warm failed" >&2; exit 1; }
echo "setup: ready"
