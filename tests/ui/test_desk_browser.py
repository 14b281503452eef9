"""End to end in headless Chromium against `station serve --sim`: what staff see and click."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.ui import assert_accessible

pytestmark = pytest.mark.browser


def login(browser: Any, base: str, username: str, password: str) -> Any:
    page = browser.new_page()
    page.goto(base + "/")
    assert page.url.startswith(base + "/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login")
    return page


def test_login_page_lists_demo_accounts_in_sim(browser: Any, sim_server: str) -> None:
    page = browser.new_page()
    page.goto(sim_server + "/login")
    rows = page.locator("#demo-accounts tr").all_inner_texts()
    assert any("demo-custody" in r and "custody-demo-pass" in r for r in rows)
    page.fill("#username", "demo-custody")
    page.fill("#password", "wrong")
    page.click("#login")
    assert "Wrong username or password" in page.inner_text("#login-error")
    page.close()


def test_custody_scans_the_item_on_the_tray(browser: Any, sim_server: str) -> None:
    page = login(browser, sim_server, "demo-custody", "custody-demo-pass")
    page.wait_for_selector("#scan")
    assert page.inner_text("#whoami").startswith("Demo custody")
    # live status from the simulated controller: demo scenario has the lid shut, item placed
    page.wait_for_function("() => document.getElementById('lid').textContent === 'lid: closed'")
    assert page.inner_text("#item") == "item: on tray"
    assert page.inner_text("#link") == "controller: connected"
    page.select_option("#purpose", "prisoner_property")
    page.click("#scan")
    page.wait_for_selector("#verdict[data-verdict='match']", timeout=30_000)
    assert page.inner_text("#headline") == "STOLEN — on the register"
    assert page.get_attribute("#marking", "data-class") == "forensic_liquid"
    assert "swab and submit" in page.inner_text("#marking")
    idents = page.locator("#identifiers tr.identifier").all_inner_texts()
    assert any("C02XK1ABJGH5" in r and "on register: stolen" in r for r in idents)
    assert "NN/004211/26" in page.inner_text(".candidate")
    assert "laptop Acme Book Pro 14" in page.inner_text(".candidate")
    assert "prisoner property" in page.inner_text("#result")
    assert "officer demo-custody" in page.inner_text("#result")
    page.wait_for_selector("#scan:not([disabled])")
    # both frames arrive and decode, with overlays
    for role in ("white", "uv"):
        img = page.locator(f"img.frame-{role}")
        img.scroll_into_view_if_needed()
        page.wait_for_function(
            f"() => document.querySelector('img.frame-{role}').complete && "
            f"document.querySelector('img.frame-{role}').naturalWidth > 0"
        )
    # a manual entry of a stolen IMEI on the same page
    page.fill("#manual", "35-693803-564380-9")
    page.click("#manual-submit")
    page.wait_for_function(
        "() => document.querySelector('#identifiers') && "
        "document.querySelector('#identifiers').innerText.includes('356938035643809')"
    )
    assert page.get_attribute("#verdict", "data-verdict") == "match"
    assert "NN/003876/26" in page.inner_text("#result")
    # the record page of the check shows the same and lets custody record an outcome
    page.click("#check-id")
    page.wait_for_selector("#outcome-box")
    page.click("#outcome-other summary")
    page.select_option("#outcome-kind", "retained_as_evidence")
    page.click("#outcome-submit")
    page.wait_for_function(
        "() => document.getElementById('outcomes').innerText.includes('Kept as evidence')"
    )
    page.close()


def _api(base: str, token: str, method: str, path: str, doc: Any = None) -> Any:
    req = urllib.request.Request(
        base + path,
        data=None if doc is None else json.dumps(doc).encode(),
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def test_supervisor_sees_the_checks_in_outcomes(browser: Any, sim_server: str) -> None:
    # two checks of stolen items, made through the API as a custody officer would
    for ident in ("C02XK1ABJGH5", "356938035643809"):
        _api(sim_server, "demo-custody-token", "POST", "/api/checks", {"identifiers": [ident]})
    totals = _api(sim_server, "demo-supervisor-token", "GET", "/api/outcomes")["totals"]
    page = login(browser, sim_server, "demo-supervisor", "supervisor-demo-pass")
    page.wait_for_selector("#totals")
    assert page.url.endswith("/outcomes")
    checked = int(page.inner_text("#t-checked"))
    matched = int(page.inner_text("#t-matched"))
    assert checked == totals["checked"] and matched == totals["matched"]
    assert checked >= 2 and matched >= 2
    assert page.locator("#chart tr.day").count() >= 1
    page.fill("#b-items", str(checked + 2))
    page.click("#b-submit")
    page.wait_for_function(
        f"() => document.getElementById('t-booked').textContent === '{checked + 2}'"
    )
    assert "%" in page.inner_text("#t-rate")
    page.close()


def test_store_runs_a_batch_with_progress_and_report(
    browser: Any, sim_server: str, tmp_path: Path
) -> None:
    csv = tmp_path / "recovered.csv"
    csv.write_text(
        "identifier,property bag\n"
        + "".join(f"NOTONFILE{i:04d},B{i}\n" for i in range(300))
        + "WX7Q2284115,B-DRILL\nC02XK1ABJGH5,B-LAPTOP\n"
    )
    page = login(browser, sim_server, "demo-store", "store-demo-pass")
    page.wait_for_selector("#batch-form")
    page.set_input_files("#batch-file", str(csv))
    page.click("#batch-submit")
    page.wait_for_selector("#batch-text[data-state='complete']", timeout=60_000)
    assert page.inner_text("#batch-text").startswith(
        "recovered.csv: 302 of 302 checked (100%) — 2 hit(s)"
    )
    assert page.evaluate("document.getElementById('batch-bar').value") == 302
    page.click("#report-html")
    page.wait_for_selector("#hits")
    rows = page.locator("#hits tr").all_inner_texts()
    # the spreadsheet's own columns stay beside each hit
    assert page.locator("#hits th.sheet-col").all_inner_texts() == ["property bag"]
    assert any("C02XK1ABJGH5" in r and "B-LAPTOP" in r and "NN/004211/26" in r for r in rows)
    assert page.inner_text("#hit-count").startswith("2 item(s)")
    assert page.title() == "Bulk check report: recovered.csv — Check Station"
    assert_accessible(page, "batch report")
    page.close()


def test_store_sees_bad_rows_by_line(browser: Any, sim_server: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("identifier,note\nGOOD12345,x\n,empty\n")
    page = login(browser, sim_server, "demo-store", "store-demo-pass")
    page.set_input_files("#batch-file", str(bad))
    page.click("#batch-submit")
    page.wait_for_selector("#batch-error:not([hidden])")
    assert "bad.csv line 3: empty identifier" in page.inner_text("#batch-error")
    page.close()


def test_dealer_gets_do_not_buy_and_nothing_else(browser: Any, sim_server: str) -> None:
    page = login(browser, sim_server, "demo-dealer", "dealer-demo-pass")
    page.wait_for_selector("#dealer-form")
    assert page.locator("header a", has_text="Desk").count() == 0
    page.fill("#dealer-identifier", "C02XK1ABJGH5")
    page.click("#dealer-submit")
    page.wait_for_selector("#dealer-advice")
    assert page.inner_text("#dealer-advice") == "DO NOT BUY — contact police"
    text = page.inner_text("main")
    assert "NN/004211/26" not in text and "stolen" not in text.lower()
    assert "Reference:" in page.inner_text("#dealer-reference")
    page.goto(sim_server + "/outcomes")
    assert "cannot open this page" in page.inner_text("#forbidden")
    page.close()


def test_engineer_runs_the_self_test(browser: Any, sim_server: str) -> None:
    page = login(browser, sim_server, "demo-engineer", "engineer-demo-pass")
    page.wait_for_selector("#devices")
    assert "lamp_link_stats" in page.inner_text("#devices")
    assert page.inner_text("#self-test") == "never run"
    page.click("#doctor")
    page.wait_for_selector("#doctor-result tr", timeout=60_000)
    rows = page.locator("#doctor-result tr").all_inner_texts()
    assert any(r.startswith("PASS") and "link" in r for r in rows), rows
    assert page.inner_text("#self-test") in ("passed", "failed")
    # the result is recorded: a reload shows it as the last self-test
    page.reload()
    assert page.inner_text("#self-test") in ("passed", "failed")
    page.close()
