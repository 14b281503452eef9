"""Screenshots of the desk's result card for every result at 800x480 (the 7" display).

    .venv/bin/python docs/screenshots.py [OUT_DIR]     (default: screenshots/, git-ignored)

Starts `station serve --sim` on a free port, types an identifier for each register result
(and scans the demo item), and saves one PNG per result. Look at them before a release."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playwright.sync_api import sync_playwright

from tests.helpers.servers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    free_port,
    start_server,
    stop_server,
)

TYPED = {
    "stolen": "C02XK1ABJGH5",
    "lost": "490154203237518",
    "recovered": "5GT7709KL21",
    "registered_owner": "12 NN1 4AB",
    "possible_match": "C02XK1ABJGH7",
    "no_match": "ZZQ998877665",
}


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="screens-"))
    port = free_port()
    proc = start_server(tmp / "data", port, "--sim")
    base = f"http://127.0.0.1:{port}"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 800, "height": 480})
            page.goto(base + "/login")
            page.fill("#username", "demo-custody")
            page.fill("#password", "custody-demo-pass")
            page.click("#login")
            page.wait_for_selector("#scan:not([disabled])")
            page.click("#scan")
            page.wait_for_selector("#check-id", timeout=30_000)
            page.screenshot(path=str(out / "card-scan-stolen-800x480.png"))
            for result, typed in TYPED.items():
                before = page.get_attribute("#check-id", "href")
                page.fill("#manual", typed)
                page.press("#manual", "Control+Enter")
                page.wait_for_function(
                    "(b) => document.getElementById('check-id').getAttribute('href') !== b",
                    arg=before,
                )
                got = page.get_attribute("#verdict", "data-result")
                page.screenshot(path=str(out / f"card-{got}-800x480.png"))
                print(f"{result:18} -> {got:18} {out / f'card-{got}-800x480.png'}")
            browser.close()
    finally:
        stop_server(proc)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("screenshots"))
