"""The desk's result card in Chromium at 800x480 (the 7" touch display) and 1280x800."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from station.settings import DeskSettings
from tests.helpers.ui import VIEWPORTS, assert_accessible, focus_ring_missing, login

pytestmark = pytest.mark.browser
DESK = DeskSettings()
SIZES = list(VIEWPORTS)


def api(base: str, token: str, method: str, path: str, doc: Any = None) -> tuple[int, Any]:
    req = urllib.request.Request(
        base + path,
        data=None if doc is None else json.dumps(doc).encode(),
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def wait_for_new_check(page: Any, before: str | None, timeout: float = 15_000) -> None:
    page.wait_for_function(
        "(before) => { const a = document.getElementById('check-id');"
        " return a && a.getAttribute('href') !== before; }",
        arg=before,
        timeout=timeout,
    )


def type_and_check(page: Any, text: str) -> None:
    """Type identifiers and press Ctrl+Enter; wait until the card shows the new check."""
    before = page.get_attribute("#check-id", "href") if page.locator("#check-id").count() else None
    page.fill("#manual", text)
    page.press("#manual", "Control+Enter")
    wait_for_new_check(page, before)


def card_in_view_and_focused(page: Any) -> None:
    box = page.locator("#verdict").bounding_box()
    height = page.viewport_size["height"]
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height, box
    assert page.evaluate("document.activeElement.id") == "result"


@pytest.mark.parametrize("size", SIZES)
def test_a_scan_shows_steps_then_a_stolen_card_in_view_with_focus(
    browser: Any, sim_server: str, size: str
) -> None:
    page = login(browser, sim_server, "demo-custody", size)
    page.wait_for_selector("#scan:not([disabled])")
    assert "Ready" in page.inner_text("#scan-reason")
    page.select_option("#purpose", "prisoner_property")
    before = page.get_attribute("#check-id", "href") if page.locator("#check-id").count() else None
    page.click("#scan")
    wait_for_new_check(page, before, timeout=30_000)
    assert page.get_attribute("#verdict", "data-result") == "stolen"
    # every step the check went through was shown, in order
    assert page.get_attribute("#steps", "data-seen") == "lamps frames reading matching"
    assert page.inner_text("#headline") == "STOLEN — on the register"
    assert page.inner_text("#next-step") == DESK.next_step("stolen")
    assert page.get_attribute("#marking", "data-class") == "forensic_liquid"
    assert page.inner_text("#marking") == DESK.marking("forensic_liquid")
    row = page.locator("#identifiers tr.identifier").first.inner_text()
    assert "Serial number" in row and "C02XK1ABJGH5" in row
    assert "barcode label (Code 128)" in row and "on register: stolen" in row
    assert "NN/004211/26" in page.inner_text(".candidate")
    assert "prisoner property" in page.inner_text("#check-meta")
    card_in_view_and_focused(page)
    # the header never wraps onto a second line, even on the 7" display
    assert page.locator("header").bounding_box()["height"] <= 60
    assert_accessible(page, f"desk after a scan at {size}")
    assert focus_ring_missing(page) == []
    page.context.close()


CASES = [
    ("C02XK1ABJGH5", "stolen", "STOLEN"),
    ("490154203237518", "lost", "LOST"),
    ("5GT7709KL21", "recovered", "RECOVERED"),
    ("12 NN1 4AB", "registered_owner", "REGISTERED OWNER"),
    ("C02XK1ABJGH7", "possible_match", "POSSIBLE MATCH"),
    ("ZZQ998877665", "no_match", "No register match"),
]


@pytest.mark.parametrize("size", SIZES)
def test_each_result_has_its_own_words_icon_colour_and_next_step(
    browser: Any, sim_server: str, size: str
) -> None:
    page = login(browser, sim_server, "demo-custody", size)
    page.wait_for_selector("#manual")
    looks: dict[str, tuple[str, str]] = {}
    for typed, result, words in CASES:
        type_and_check(page, typed)
        assert page.get_attribute("#verdict", "data-result") == result, typed
        assert page.inner_text("#headline").startswith(words)
        assert page.inner_text("#next-step") == DESK.next_step(result)
        card_in_view_and_focused(page)
        icon = page.inner_html("#verdict svg")
        colour = page.evaluate(
            "getComputedStyle(document.getElementById('verdict')).backgroundColor"
        )
        looks[result] = (icon, colour)
        assert_accessible(page, f"{result} card at {size}")
    icons = {icon for icon, _ in looks.values()}
    colours = {colour for _, colour in looks.values()}
    assert len(icons) == len(CASES) and len(colours) == len(CASES), looks
    page.context.close()


def test_junk_is_refused_with_the_reason_and_not_checked(browser: Any, sim_server: str) -> None:
    page = login(browser, sim_server, "demo-custody", "800x480")
    page.wait_for_selector("#manual")
    type_and_check(page, "ZZQ998877665")
    last = page.get_attribute("#check-id", "href")
    for junk, reason in (
        ("!!!", "contains '!'"),
        ("a1", "too short"),
        ("35693803564380 8", "check digit"),
    ):
        page.fill("#manual", junk)
        page.click("#manual-submit")
        page.wait_for_selector("#manual-error:not([hidden])")
        assert reason in page.inner_text("#manual-error"), junk
        assert page.get_attribute("#manual", "aria-invalid") == "true"
        assert page.get_attribute("#check-id", "href") == last  # nothing was checked
    assert_accessible(page, "desk with a refused entry")
    page.context.close()
    status, doc = api(
        sim_server, "demo-custody-token", "POST", "/api/checks", {"identifiers": ["!!!"]}
    )
    assert status == 422 and "contains '!'" in doc["detail"]
    dealer = login(browser, sim_server, "demo-dealer", "800x480")
    dealer.fill("#dealer-identifier", "!!!")
    dealer.click("#dealer-submit")
    dealer.wait_for_selector("#dealer-error:not([hidden])")
    assert "contains '!'" in dealer.inner_text("#dealer-error")
    assert dealer.locator("#dealer-advice").count() == 0
    assert_accessible(dealer, "dealer page with a refused entry")
    dealer.context.close()
