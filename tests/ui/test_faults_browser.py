"""The desk when something is wrong: lid open, empty tray, a lamp that does not light, a silent
controller, an item with nothing on it. Each case runs on its own simulated station."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from station.settings import DeskSettings
from tests.helpers.servers import free_port, spawn_server, stop_server, wait_for_port
from tests.helpers.ui import VIEWPORTS, assert_accessible, login

pytestmark = pytest.mark.browser
DESK = DeskSettings()
BLANK_ITEM = {"labels": [], "splashes": [], "truth": {}}


def scenario(folder: Path, name: str, lid: str, items: list[dict[str, Any]]) -> str:
    path = folder / f"{name}.json"
    start = {"item": 0 if items else None, "lid": lid}
    path.write_text(json.dumps({"name": name, "items": items, "start": start}))
    return str(path)


@pytest.fixture(scope="module")
def stations(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Three simulated stations: an item with nothing on it; an empty tray whose UV lamp does
    not strike; an open lid whose controller falls silent after a few status requests."""
    tmp = tmp_path_factory.mktemp("faults")
    #: the stations whose checks never get as far as reading need no OCR model loaded first
    no_reading = {"STATION_VISION__PRELOAD_OCR": "false"}
    plans = {
        "blank": {"STATION_SIM_SCENARIO": scenario(tmp, "blank", "closed", [BLANK_ITEM])},
        "no-uv": {
            "STATION_SIM_SCENARIO": "empty",
            "STATION_SIM_FAULTS": '["nostrike:lamp=uv"]',
            **no_reading,
        },
        "lid-then-silent": {
            "STATION_SIM_SCENARIO": scenario(tmp, "lid", "open", [BLANK_ITEM]),
            # the inbound frame count only grows while a desk asks for the status, so the
            # controller answers for the first few seconds of the page, then falls silent
            "STATION_SIM_FAULTS": '["silent:from=16"]',
            **no_reading,
        },
    }
    procs = {}
    try:
        for name, env in plans.items():  # all three start at once
            port = free_port()
            procs[name] = (spawn_server(tmp / name, port, "--sim", env=env), port)
        for proc, port in procs.values():
            wait_for_port(port, proc)
        yield {name: f"http://127.0.0.1:{port}" for name, (_, port) in procs.items()}
    finally:
        for proc, _ in procs.values():
            stop_server(proc)


def scan_reason(page: Any, words: str) -> None:
    page.wait_for_function(
        "(w) => document.getElementById('scan-reason').textContent.includes(w)",
        arg=words,
        timeout=30_000,
    )
    assert page.is_disabled("#scan")


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_an_item_with_nothing_on_it_is_nothing_read_never_a_green_no_match(
    browser: Any, stations: dict[str, str], size: str
) -> None:
    page = login(browser, stations["blank"], "demo-custody", size)
    page.wait_for_selector("#scan:not([disabled])")
    before = page.get_attribute("#check-id", "href") if page.locator("#check-id").count() else None
    page.click("#scan")
    page.wait_for_function(
        "(b) => { const a = document.getElementById('check-id'); return a && a.getAttribute('href') !== b; }",
        arg=before,
        timeout=30_000,
    )
    assert page.get_attribute("#verdict", "data-result") == "nothing_read"
    assert page.inner_text("#headline").startswith("NOTHING READ")
    assert page.inner_text("#next-step") == DESK.next_step("nothing_read")
    assert page.inner_text("#marking") == DESK.marking("none")
    assert page.evaluate("document.activeElement.id") == "result"
    assert_accessible(page, f"nothing-read card at {size}")
    page.context.close()


def test_an_empty_tray_disables_the_scan_and_a_lamp_fault_reads_as_a_call_to_the_engineer(
    browser: Any, stations: dict[str, str]
) -> None:
    base = stations["no-uv"]
    page = login(browser, base, "demo-custody", "800x480")
    scan_reason(page, "The tray is empty. Place an item on the tray.")
    assert page.inner_text("#item") == "item: tray empty"
    assert_accessible(page, "desk with an empty tray")
    # a scan asked for through the API anyway meets the lamp that does not strike
    req = urllib.request.Request(
        base + "/api/checks?wait=true",
        data=b"{}",
        method="POST",
        headers={"Authorization": "Bearer demo-custody-token", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        record = json.loads(resp.read())
    assert record["state"] == "incomplete" and record["result"] == "incomplete"
    page.goto(f"{base}/checks/{record['id']}")
    assert page.inner_text("#headline").startswith("CHECK INCOMPLETE")
    assert page.inner_text("#fault-todo") == "Call the station engineer: the UV lamp did not light."
    # the engineer's detail is one tap away, and no exception name is shown before it
    assert not page.is_visible("#fault-detail code")
    assert "LampFault" not in page.inner_text("#fault-what")
    page.click("#fault-detail summary")
    assert "LampFault" in page.inner_text("#fault-detail code")
    assert_accessible(page, "lamp-fault card")
    page.context.close()


def test_an_open_lid_then_a_silent_controller_disable_the_scan_with_the_reason(
    browser: Any, stations: dict[str, str]
) -> None:
    page = login(browser, stations["lid-then-silent"], "demo-custody", "800x480")
    scan_reason(page, "The lid is open. Close the lid to check.")
    assert page.inner_text("#lid") == "lid: OPEN"
    assert_accessible(page, "desk with the lid open")
    scan_reason(page, "The lamp controller is not answering. Call the station engineer.")
    assert page.inner_text("#link") == "controller: NOT ANSWERING"
    assert_accessible(page, "desk with a silent controller")
    page.context.close()
