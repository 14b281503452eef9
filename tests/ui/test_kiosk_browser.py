"""The desk as the kiosk shows it: the touch display's sizes, touch input, the boot self-test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers.cli import run_station
from tests.helpers.devices import device_env
from tests.helpers.servers import free_port, start_server, stop_server

pytestmark = pytest.mark.browser

#: the two touch displays the desk is laid out for (official 7" and 10" panels)
DISPLAYS = [(800, 480), (1280, 800)]


@pytest.fixture(scope="module")
def booted_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A station as it comes up at boot: the self-test unit runs first, then the server."""
    data = tmp_path_factory.mktemp("kiosk") / "data"
    data.mkdir()
    doctor = run_station(data, "doctor", "--sim", "--json")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    port = free_port()
    proc = start_server(data, port, "--sim", env=device_env())
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_server(proc)


def _inside(page: Any, selector: str, width: int, height: int) -> dict[str, float]:
    box = page.locator(selector).bounding_box()
    assert box is not None, f"{selector} is not displayed"
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, (selector, box)
    assert box["y"] >= 0 and box["y"] + box["height"] <= height, (selector, box)
    return dict(box)


@pytest.mark.parametrize(("width", "height"), DISPLAYS)
def test_desk_fits_the_touch_display_and_works_by_touch(
    browser: Any, booted_server: str, width: int, height: int
) -> None:
    context = browser.new_context(
        viewport={"width": width, "height": height}, has_touch=True, is_mobile=False
    )
    page = context.new_page()
    try:
        page.goto(booted_server + "/")
        assert "/login" in page.url
        # the login form is on the first screen, no scrolling
        for selector in ("#username", "#password", "#login"):
            _inside(page, selector, width, height)
        page.fill("#username", "demo-custody")
        page.fill("#password", "custody-demo-pass")
        page.tap("#login")
        page.wait_for_selector("#scan")
        # nothing wider than the display (no sideways scrolling on a touch screen)
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        # the one button that matters is on the first screen and big enough for a finger
        scan = _inside(page, "#scan", width, height)
        assert scan["height"] >= 48
        for pill in ("#lid", "#item", "#link", "#self-test"):
            _inside(page, pill, width, height)
        # the boot self-test's result is on the desk
        assert page.get_attribute("#self-test", "data-status") == "passed"
        assert page.inner_text("#self-test") == "self-test: passed"
        page.wait_for_function("document.getElementById('lid').textContent === 'lid: closed'")
        # the desk shows the officer's previous check: mark it, then wait for this one's
        page.evaluate("document.getElementById('verdict')?.setAttribute('data-old', '1')")
        page.tap("#scan")
        # the demo item's serial is on the demo register
        page.wait_for_selector("#verdict[data-verdict='match']:not([data-old])", timeout=60_000)
        _inside(page, "#verdict", width, 10 * height)  # the verdict fits the width
        assert page.evaluate("document.documentElement.scrollWidth") <= width
    finally:
        context.close()
