"""Security properties only a real browser shows: the CSP holds, htmx loads, logout forgets pages."""

from __future__ import annotations

import re
import secrets
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.flows import (
    activate,
    check_in,
    enrol_patient,
    fill_checkin,
    log_in_as_staff,
    unique,
)

if TYPE_CHECKING:
    from tests.browser.conftest import BrowserLog, LiveServer

pytestmark = pytest.mark.browser

# Also catches violations whose console message might arrive after the test has moved on.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


def visit(page: Page, path: str) -> None:
    response = page.goto(path)
    assert response is not None and response.ok, f"{path}: {response.status if response else 'no response'}"
    assert_no_violations(page)


def assert_no_violations(page: Page) -> None:
    violations = page.evaluate("() => window.__cspViolations")
    assert violations == [], f"CSP violations on {page.url}: {violations}"


def assert_htmx_loaded(page: Page) -> None:
    page.wait_for_function("() => window.htmx !== undefined")
    version = page.evaluate("() => window.htmx.version")
    assert version.startswith("2.0."), f"htmx {version} on {page.url}"


def test_main_pages_raise_no_csp_violations_and_load_htmx(new_context: Any, live_server: LiveServer, browser_log: BrowserLog) -> None:
    staff_context = new_context()
    staff_context.add_init_script(RECORD_VIOLATIONS)
    staff = staff_context.new_page()
    visit(staff, "/login")
    assert_htmx_loaded(staff)
    log_in_as_staff(staff, live_server)
    assert_no_violations(staff)
    visit(staff, "/clinic/patients")
    name = f"Kim {secrets.token_hex(3)}"
    url = enrol_patient(staff, name)  # the invitation page, with its inline QR code SVG
    assert_no_violations(staff)
    staff.get_by_role("link", name=f"Go to {name}'s record").click()
    expect(staff.get_by_role("heading", name=re.compile(name))).to_be_visible()
    assert_no_violations(staff)

    patient_context = new_context()
    patient_context.add_init_script(RECORD_VIOLATIONS)
    patient = patient_context.new_page()
    visit(patient, url)
    activate(patient, None, unique("kim"))
    for path in ["/today", "/checkin", "/journal", "/sessions", "/history", "/crisis"]:
        visit(patient, path)
        assert_htmx_loaded(patient)

    # A check-in sent by htmx: the swap and the client-side redirect must not trip the CSP either.
    patient.goto("/checkin")
    fill_checkin(patient, mood=6, anxiety=2, energy=6)
    with patient.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/checkin")) as answer:
        patient.get_by_role("button", name="Save check-in").click()
    assert answer.value.request.headers.get("hx-request") == "true", "the form was not sent by htmx"
    assert answer.value.headers.get("hx-redirect") == "/today?saved=checkin"
    expect(patient).to_have_url(re.compile(r"/today\?saved=checkin$"))
    assert_no_violations(patient)

    assert browser_log.csp_violations() == [], "\n".join(browser_log.csp_violations())
    assert browser_log.errors == [], "\n".join(browser_log.errors)


def test_back_button_after_logout_shows_login_not_patient_content(new_context: Any, live_server: LiveServer) -> None:
    staff = new_context().new_page()
    log_in_as_staff(staff, live_server)
    url = enrol_patient(staff, f"Lee {secrets.token_hex(3)}")
    page = new_context().new_page()
    activate(page, url, unique("lee"))
    note = f"Private note {secrets.token_hex(4)}"
    check_in(page, mood=3, anxiety=7, energy=2, note=note)  # ends on /today?saved=checkin
    response = page.goto("/history")
    assert response is not None and response.headers.get("cache-control") == "no-store"
    expect(page.get_by_text(note)).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login\?logged_out=1$"))
    expect(page.get_by_text("You have logged out.")).to_be_visible()

    # Back through what the patient saw: each page is fetched again (no-store) and, without a
    # session, answered with the login page.
    for seen in ["/history", "/today", "/checkin"]:
        page.go_back()
        expect(page).to_have_url(re.compile(rf"/login\?next={re.escape(seen)}$"))
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        expect(page.get_by_text(note)).to_have_count(0)
        expect(page.get_by_role("navigation", name="Main")).to_have_count(0)
