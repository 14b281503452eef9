"""Browser-test helpers: log in, run axe-core in the page, measure touch targets and focus rings."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest

AXE = Path(__file__).parents[1] / "ui" / "node_modules" / "axe-core" / "axe.min.js"
#: the official 7" Raspberry Pi touch display, and a laptop
VIEWPORTS = {"800x480": (800, 480), "1280x800": (1280, 800)}
MIN_TARGET_PX = 44

PASSWORDS = {
    "demo-custody": "custody-demo-pass",
    "demo-store": "store-demo-pass",
    "demo-engineer": "engineer-demo-pass",
    "demo-supervisor": "supervisor-demo-pass",
    "demo-admin": "admin-demo-pass",
    "demo-dealer": "dealer-demo-pass",
}


@cache
def axe_source() -> str:
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: run `bash scripts/setup.sh --dev` (installs axe-core)")
    return AXE.read_text(encoding="utf-8")


def new_page(browser: Any, viewport: str = "1280x800") -> Any:
    """A page in its own context (own cookies) that records Content-Security-Policy refusals."""
    width, height = VIEWPORTS[viewport]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.csp_errors = []  # type: ignore[attr-defined]

    def on_console(msg: Any) -> None:
        if "Content Security Policy" in msg.text or "Content-Security-Policy" in msg.text:
            page.csp_errors.append(msg.text)

    page.on("console", on_console)
    return page


def login(browser: Any, base: str, username: str, viewport: str = "1280x800") -> Any:
    page = new_page(browser, viewport)
    page.goto(base + "/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORDS[username])
    page.click("#login")
    page.wait_for_load_state()
    return page


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's violations for the page as it is now (evaluated over DevTools, so the page's
    own Content-Security-Policy applies to everything but the checker)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source())
    result: list[dict[str, Any]] = page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ['violations']});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => n.target.join(' ') + ' :: ' + n.failureSummary)}));
        }"""
    )
    return result


def assert_accessible(page: Any, what: str) -> None:
    """Zero axe-core violations, every visible target at least 44x44 px, no CSP refusal."""
    violations = axe_violations(page)
    assert violations == [], f"{what}: axe-core violations: {violations}"
    small = small_targets(page)
    assert small == [], f"{what}: targets under {MIN_TARGET_PX}x{MIN_TARGET_PX} px: {small}"
    refused = getattr(page, "csp_errors", [])
    assert refused == [], f"{what}: refused by the Content-Security-Policy: {refused}"


def small_targets(page: Any) -> list[str]:
    """Visible controls and links smaller than 44x44 CSS pixels."""
    found: list[str] = page.evaluate(
        """(min) => {
            const out = [];
            for (const el of document.querySelectorAll('a[href], button, input, select, textarea, summary')) {
                if (el.type === 'hidden') continue;
                const r = el.getBoundingClientRect();
                const style = getComputedStyle(el);
                if (r.width === 0 || r.height === 0 || style.visibility === 'hidden') continue;
                if (el.classList.contains('skip')) continue;
                if (r.width < min || r.height < min) {
                    out.push(`${el.tagName.toLowerCase()}#${el.id || ''}.${el.className || ''} "${(el.textContent || el.value || '').trim().slice(0, 30)}" ${Math.round(r.width)}x${Math.round(r.height)}`);
                }
            }
            return out;
        }""",
        MIN_TARGET_PX,
    )
    return found


def focus_ring_missing(page: Any, presses: int = 40) -> list[str]:
    """Tab through the page; the controls that show no visible focus indicator when focused."""
    page.evaluate("document.activeElement && document.activeElement.blur()")
    missing: list[str] = []
    seen = 0
    for _ in range(presses):
        page.keyboard.press("Tab")
        info = page.evaluate(
            """() => {
                const el = document.activeElement;
                if (!el || el === document.body) return null;
                const s = getComputedStyle(el);
                const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2;
                const ring = s.boxShadow && s.boxShadow !== 'none';
                return {name: `${el.tagName.toLowerCase()}#${el.id || ''} "${(el.textContent || '').trim().slice(0, 20)}"`,
                        ok: outline || ring};
            }"""
        )
        if info is None:
            continue
        seen += 1
        if not info["ok"]:
            missing.append(info["name"])
    assert seen > 0, "Tab focused nothing on the page"
    return missing
