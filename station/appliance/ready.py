"""Wait until the station's server answers HTTP, so the kiosk opens on the desk, not an error.

    python -m station.appliance.ready http://127.0.0.1:8000/ [--timeout 300]

Standard library only: it runs before every kiosk start and must itself start fast.
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.error
import urllib.request


def answers(url: str, timeout_s: float = 2.0) -> bool:
    """True when an HTTP server answers at ``url`` with anything but a server error."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return int(resp.status) < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except (urllib.error.URLError, OSError):
        return False


def wait_ready(url: str, timeout_s: float, interval_s: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout_s
    while True:
        if answers(url):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args(argv)
    if wait_ready(args.url, args.timeout):
        return 0
    print(
        f"the station server did not answer at {args.url} within {args.timeout:.0f} s",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":  # pragma: no cover - run by the kiosk unit
    sys.exit(main())
