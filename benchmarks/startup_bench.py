"""Whole-process wall time of one-shot commands beside the floor of importing cv2 and numpy,
and the time from `station serve --sim` reporting ready to its first verdict.

    .venv/bin/python benchmarks/startup_bench.py [--runs 5] [--baseline DIR] [--no-serve]

Each tree (this one, and with ``--baseline`` another checkout's root, e.g. one made with
``git worktree add``, whose ``station`` package runs with this interpreter) gets its own temp
data folder set up as an installation is: database, ``station warm`` (as scripts/setup.sh
runs it), the demo register. Then, per tree:

- the first ``station check`` after the register import, once (it may build the index);
- each command once unmeasured (OS file cache, bytecode), then ``--runs`` times, the trees
  taking turns run by run so both see the same machine load;
- ``station serve --sim`` in a fresh installation's data folder: seconds until it answers (ready), then
  seconds from ready to the first scan's verdict over the HTTP API.

Medians of wall and CPU (user + system, this process and its children) seconds. Targets
(issue 16), on a quiet machine: `station check X --json` <= 1.5 s, `station scan --sim
--json` <= 3 s, first verdict <= 5 s after ready.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

PY = sys.executable
ROOT = Path(__file__).resolve().parents[1]
DEMO_REGISTER = ROOT / "station" / "data" / "demo_register.csv"
STATION = [PY, "-m", "station"]
TOKEN = "demo-custody-token"  # seeded by `station serve --sim`


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one process; exits on a broken command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, timeout=600)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    # scan exits 1 when the check is incomplete; anything else is a broken command
    if proc.returncode not in (0, 1) or (cmd[1] == "-m" and not proc.stdout):
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr.decode()}")
    return wall, cpu


def tree_env(code: Path, data: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "STATION_DATA_DIR": str(data),
        "STATION_DB_URL": f"sqlite:///{data}/station.db",
    }
    env.pop("NUMBA_CACHE_DIR", None)
    if code != ROOT:
        env["PYTHONPATH"] = str(code)
    return env


def install(env: dict[str, str], register: bool = True) -> None:
    """What scripts/setup.sh leaves: a current database and compiled kernels (and here the
    demo register)."""
    steps = [["db", "upgrade"], ["warm"]]
    if register:
        steps.append(["register", "import", str(DEMO_REGISTER), "--source", "demo"])
    for args in steps:
        subprocess.run([*STATION, *args], env=env, check=True, capture_output=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_first_verdict(env: dict[str, str]) -> tuple[float, float]:
    """(seconds until `station serve --sim` answers, seconds from then to the first verdict)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    t0 = time.perf_counter()
    server = subprocess.Popen(
        [*STATION, "serve", "--sim", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            deadline = time.monotonic() + 600
            while True:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("station serve did not come up")
                # not listening yet is the normal case while the server starts: try again
                with contextlib.suppress(httpx.HTTPError):
                    if client.get("/api/me").status_code == 200:
                        break
                time.sleep(0.05)
            ready = time.perf_counter()
            r = client.post("/api/checks", json={})
            r.raise_for_status()
            href = r.json()["href"]
            while time.monotonic() < deadline:
                doc = client.get(href).json()
                if doc.get("state") in ("complete", "incomplete"):
                    if doc.get("verdict") is None:
                        raise SystemExit(f"first scan gave no verdict: {doc.get('state')}")
                    return ready - t0, time.perf_counter() - ready
                time.sleep(0.05)
            raise SystemExit("first scan did not finish")
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--baseline", type=Path, help="another checkout's root, run side by side")
    ap.add_argument("--no-serve", action="store_true", help="skip the serve measurement")
    args = ap.parse_args()
    trees = [("this tree", ROOT)]
    if args.baseline:
        trees.append(("baseline", args.baseline.resolve()))
    commands = [
        ("floor: python -c 'import cv2, numpy'", [PY, "-c", "import cv2, numpy"], None),
        ("station --help", [*STATION, "--help"], None),
        ("station check C02XK1ABJGH5 --json", [*STATION, "check", "C02XK1ABJGH5", "--json"], 1.5),
        ("station scan --sim --json", [*STATION, "scan", "--sim", "--json"], 3.0),
    ]
    print("command: " + " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]))
    print(
        f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, {args.runs} runs"
        " each after one warm-up; medians"
    )
    print(f"{'measure':38} {'tree':10} {'wall s':>7} {'cpu s':>6} {'target s':>9}", flush=True)
    loads = [os.getloadavg()[0]]

    def row(
        label: str, name: str, walls: list[float], cpus: list[float], target: float | None
    ) -> None:
        cpu = f"{statistics.median(cpus):6.2f}" if cpus else f"{'':6}"
        goal = f"{target:9.1f}" if target else ""
        print(f"{label:38} {name:10} {statistics.median(walls):7.2f} {cpu} {goal}", flush=True)
        loads.append(os.getloadavg()[0])

    with tempfile.TemporaryDirectory(prefix="station-startup-") as tmp:
        envs = {}
        for name, code in trees:
            env = tree_env(code, Path(tmp) / name.replace(" ", "-") / "data")
            install(env)
            envs[name] = env
            first = timed(commands[2][1], env)
            row("first check after import", name, [first[0]], [first[1]], None)
        for label, cmd, target in commands:
            walls: dict[str, list[float]] = {name: [] for name, _ in trees}
            cpus: dict[str, list[float]] = {name: [] for name, _ in trees}
            for name, _ in trees:
                timed(cmd, envs[name])  # warm-up: OS file cache, bytecode
            for _ in range(args.runs):
                for name, _ in trees:
                    wall, cpu = timed(cmd, envs[name])
                    walls[name].append(wall)
                    cpus[name].append(cpu)
            for name, _ in trees:
                row(label, name, walls[name], cpus[name], target)
        if not args.no_serve:
            for name, code in trees:
                env = tree_env(code, Path(tmp) / f"serve-{name.replace(' ', '-')}" / "data")
                install(env, register=False)  # serve --sim seeds the demo register itself
                up, verdict = serve_first_verdict(env)
                row("serve --sim: start to ready", name, [up], [], None)
                row("serve --sim: ready to first verdict", name, [verdict], [], 5.0)
    print(f"load average (1 min) during the run: {min(loads):.2f} to {max(loads):.2f}")


if __name__ == "__main__":
    main()
