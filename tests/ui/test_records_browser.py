"""Outcomes from the result card, the owner's contact for the store, possible matches
confirmed or rejected, the searchable checks list, the audit log, and the idle logout."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.ui import assert_accessible, focus_ring_missing, login, new_page

pytestmark = pytest.mark.browser


def api(base: str, token: str, method: str, path: str, doc: Any = None) -> Any:
    req = urllib.request.Request(
        base + path,
        data=None if doc is None else json.dumps(doc).encode(),
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def manual_check(base: str, token: str, *identifiers: str) -> dict[str, Any]:
    doc: dict[str, Any] = api(
        base, token, "POST", "/api/checks", {"identifiers": list(identifiers)}
    )
    return doc


def outcome_click(page: Any, kind: str) -> None:
    page.click(f"#outcome-suggested button[data-kind='{kind}']")


def wait_outcome(page: Any, kind: str) -> None:
    page.wait_for_selector(f"#outcomes li[data-kind='{kind}']")


def test_outcomes_follow_the_result_and_a_contradiction_is_warned_before_it_is_recorded(
    browser: Any, sim_server: str
) -> None:
    check = manual_check(sim_server, "demo-custody-token", "WX7Q2284115")
    page = login(browser, sim_server, "demo-custody", "800x480")
    page.goto(f"{sim_server}/checks/{check['id']}")
    suggested = page.locator("#outcome-suggested button").all_inner_texts()
    assert suggested[0] == "Kept as evidence"  # stolen: keep it first
    outcome_click(page, "retained_as_evidence")
    wait_outcome(page, "retained_as_evidence")
    # after "kept as evidence" the card no longer offers "returned to owner" directly …
    assert page.locator("#outcome-suggested button[data-kind='returned_to_owner']").count() == 0
    # … and choosing it anyway brings a warning first, then records it only on confirmation
    page.click("#outcome-other summary")
    page.select_option("#outcome-kind", "returned_to_owner")
    page.fill("#outcome-note", "released by the officer in the case")
    page.click("#outcome-submit")
    page.wait_for_selector("#outcome-warning:not([hidden])")
    assert "kept as evidence" in page.inner_text("#outcome-warning-text")
    assert page.locator("#outcomes li[data-kind='returned_to_owner']").count() == 0
    assert_accessible(page, "outcome warning")
    page.click("#outcome-confirm")
    wait_outcome(page, "returned_to_owner")
    assert "released by the officer in the case" in page.inner_text("#outcomes")
    page.context.close()


def test_store_sees_how_to_contact_a_registered_owner_and_the_look_up_is_audited(
    browser: Any, sim_server: str
) -> None:
    check = manual_check(sim_server, "demo-store-token", "12 NN1 4AB")
    assert check["result"] == "registered_owner"
    custody = login(browser, sim_server, "demo-custody", "800x480")
    custody.goto(f"{sim_server}/checks/{check['id']}")
    assert "property store contacts the registered owner" in custody.inner_text("#owner-how")
    assert custody.locator("#owner-show").count() == 0
    custody.context.close()
    page = login(browser, sim_server, "demo-store", "800x480")
    page.goto(f"{sim_server}/checks/{check['id']}")
    assert page.inner_text("#next-step").startswith("Not reported stolen or lost.")
    page.click("#owner-show")
    page.wait_for_selector("#owner-contact:not([hidden])")
    contact = page.inner_text("#owner-contact")
    assert "Alex Example (demo)" in contact and "01604 496000" in contact
    assert_accessible(page, "owner contact")
    outcome_click(page, "owner_notified")
    wait_outcome(page, "owner_notified")
    page.context.close()
    entries = api(
        sim_server, "demo-supervisor-token", "GET", "/api/audit?object_type=owner&limit=20"
    )
    rows = entries["entries"] if isinstance(entries, dict) else entries
    assert any(
        e["actor"] == "demo-store" and e["detail"].get("check") == check["id"] for e in rows
    ), rows


def test_a_possible_match_is_confirmed_or_rejected_from_the_card(
    browser: Any, sim_server: str
) -> None:
    first = manual_check(sim_server, "demo-custody-token", "C02XK1ABJGH7")
    second = manual_check(sim_server, "demo-custody-token", "C02XK1ABJGH8")
    assert first["result"] == second["result"] == "possible_match"
    page = login(browser, sim_server, "demo-custody", "1280x800")
    page.goto(f"{sim_server}/checks/{first['id']}")
    assert "C02XK1ABJGH5" in page.inner_text(".candidate")  # the entry to compare by eye
    outcome_click(page, "match_confirmed")
    wait_outcome(page, "match_confirmed")
    assert page.locator("#outcome-suggested button[data-kind='retained_as_evidence']").count() == 1
    page.goto(f"{sim_server}/checks/{second['id']}")
    outcome_click(page, "match_rejected")
    wait_outcome(page, "match_rejected")
    page.click("#outcome-other summary")
    page.select_option("#outcome-kind", "match_confirmed")
    page.click("#outcome-submit")
    page.wait_for_selector("#outcome-warning:not([hidden])")
    assert "Match rejected" in page.inner_text("#outcome-warning-text")
    page.click("#outcome-cancel")
    assert page.is_hidden("#outcome-warning")
    assert page.locator("#outcomes li[data-kind='match_confirmed']").count() == 0
    page.context.close()


def test_checks_list_finds_any_identifier_form_by_date_and_result_with_paging(
    browser: Any, sim_server: str
) -> None:
    mark = manual_check(sim_server, "demo-custody-token", "SW-8H3N-5P2R-X")
    postcode = manual_check(sim_server, "demo-custody-token", "12 NN1 4AB")
    for n in range(26):  # more than one page of checks
        manual_check(sim_server, "demo-custody-token", f"PAGEFILL{n:04d}")
    page = login(browser, sim_server, "demo-custody", "800x480")
    page.goto(sim_server + "/checks")
    assert page.title() == "Checks — Check Station"
    assert page.locator("tr.check-row").count() == 25
    page.click("#page-older")
    assert page.locator("tr.check-row").count() >= 1
    assert page.locator("#page-newer").count() == 1
    for typed, wanted in (
        ("sw8h3n5p2rx", mark["id"]),
        ("SW-8H3N-5P2R-X", mark["id"]),
        ("12NN14AB", postcode["id"]),
        ("NN1 4AB", postcode["id"]),
    ):
        page.goto(sim_server + "/checks")
        page.fill("#q-identifier", typed)
        page.click("#q-submit")
        links = page.locator("tr.check-row a").evaluate_all(
            "els => els.map(a => a.getAttribute('href'))"
        )
        assert f"/checks/{wanted}" in links, typed
    page.goto(sim_server + "/checks")
    page.select_option("#q-verdict", "match")
    page.fill("#q-since", mark["started_at"][:10])
    page.fill("#q-until", mark["started_at"][:10])
    page.click("#q-submit")
    results = set(
        page.locator("tr.check-row").evaluate_all("els => els.map(r => r.dataset.result)")
    )
    assert results == {"match"}
    assert_accessible(page, "checks list")
    assert focus_ring_missing(page) == []
    page.fill("#q-since", "2026-05-04")
    page.fill("#q-until", "2026-05-01")
    page.click("#q-submit")
    assert "before the 'from' date" in page.inner_text("#checks-error")
    page.context.close()


def test_earlier_checks_are_one_line_each_capped_with_show_all(
    browser: Any, sim_server: str
) -> None:
    for _ in range(5):  # each earlier check holds both identifiers: one line per check
        manual_check(sim_server, "demo-custody-token", "EARLY12345", "EARLY67890")
    latest = manual_check(sim_server, "demo-custody-token", "EARLY12345", "EARLY67890")
    assert len(latest["earlier_checks"]) == 5
    assert all(
        set(e["identifiers"]) == {"EARLY12345", "EARLY67890"} for e in latest["earlier_checks"]
    )
    page = login(browser, sim_server, "demo-custody", "800x480")
    page.goto(f"{sim_server}/checks/{latest['id']}")
    assert page.locator("#earlier li.earlier-check").count() == 3
    assert page.inner_text("#earlier-more summary") == "Show all 5"
    page.click("#earlier-more summary")
    assert page.locator("#earlier-more li.earlier-check").count() == 2
    assert_accessible(page, "earlier checks shown in full")
    page.context.close()


def test_audit_is_paged_readable_and_exported(browser: Any, sim_server: str) -> None:
    for n in range(30):
        manual_check(sim_server, "demo-custody-token", f"AUDITFILL{n:03d}")
    page = login(browser, sim_server, "demo-supervisor", "1280x800")
    page.goto(sim_server + "/audit")
    assert page.title() == "Audit log — Check Station"
    assert page.locator("tr.audit-row").count() == 50
    text = page.inner_text("#audit")
    assert '{"' not in text and "identifiers: AUDITFILL029" in text
    first_page = page.locator("tr.audit-row td:first-child").all_inner_texts()
    page.click("#audit-older")
    older = page.locator("tr.audit-row td:first-child").all_inner_texts()
    assert int(older[0]) < int(first_page[-1])
    assert_accessible(page, "audit log")
    page.goto(sim_server + "/audit")
    with page.expect_download() as dl:
        page.click("#audit-export")
    body = Path(dl.value.path()).read_text(encoding="utf-8")
    assert body.startswith("id,time_utc,person,action") and "AUDITFILL029" in body
    page.context.close()


def test_every_page_of_every_role_is_accessible_titled_and_touchable(
    browser: Any, sim_server: str
) -> None:
    pages = {
        "demo-custody": [("/", "Desk"), ("/checks", "Checks")],
        "demo-store": [("/batches", "Bulk checks")],
        "demo-supervisor": [("/outcomes", "Checking outcomes"), ("/audit", "Audit log")],
        "demo-engineer": [("/engineer", "Diagnostics")],
        "demo-dealer": [("/dealer", "Dealer check"), ("/outcomes", "Not for your role")],
    }
    for size in ("800x480", "1280x800"):
        login_page = new_page(browser, size)
        login_page.goto(sim_server + "/login")
        assert login_page.title() == "Log in — Check Station"
        assert_accessible(login_page, f"login at {size}")
        login_page.context.close()
        for user, paths in pages.items():
            page = login(browser, sim_server, user, size)
            for path, title in paths:
                page.goto(sim_server + path)
                assert page.title() == f"{title} — Check Station", path
                assert_accessible(page, f"{path} as {user} at {size}")
                assert page.locator("header").bounding_box()["height"] <= 60, path
            page.context.close()
    page = login(browser, sim_server, "demo-supervisor", "800x480")
    page.goto(sim_server + "/outcomes?since=2026-05-04&until=2026-05-01")
    assert "before" in page.inner_text("#outcomes-error")
    assert focus_ring_missing(page) == []
    page.context.close()


def test_an_idle_desk_logs_out_and_says_why(browser: Any, sim_server: str) -> None:
    page = login(browser, sim_server, "demo-custody", "800x480")
    page.clock.install()
    page.reload()
    page.wait_for_selector("#scan")
    page.clock.fast_forward(280_000)  # 4 min 40 s untouched: the warning shows
    page.wait_for_selector("#idle-warning:not([hidden])")
    page.mouse.click(400, 300)  # a touch keeps the session
    assert page.is_hidden("#idle-warning")
    page.clock.fast_forward(200_000)
    assert page.url.rstrip("/") == sim_server
    page.clock.fast_forward(110_000)  # 5 min without a touch since then
    page.wait_for_url("**/login**")
    assert page.is_visible("#idle-notice")
    page.context.close()
