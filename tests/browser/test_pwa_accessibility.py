"""axe-core on every page of the app, for each role, in light and dark mode: 0 violations (issue 6).

axe-core is vendored for the tests only (``tests/browser/vendor``, never served). It is evaluated
through the DevTools protocol, which the page's CSP does not govern; the pages keep their CSP.
The rules are axe's WCAG 2.0/2.1/2.2 A and AA sets.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.flows import activate, check_in, enrol_patient, fill_checkin, log_in, log_in_as_staff, unique

if TYPE_CHECKING:
    from tests.browser.conftest import LiveServer

pytestmark = pytest.mark.browser

VENDOR = Path(__file__).parent / "vendor"
AXE = sorted(VENDOR.glob("axe-core-*.min.js"))[-1]
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
RUN_AXE = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
  if (result.passes.length < 10) return [`axe checked only ${result.passes.length} rules`];
  return result.violations.map(v => `${v.id} (${v.impact}): ${v.help} -> ` +
    v.nodes.slice(0, 3).map(n => n.target.join(' ') + ' ' + (n.failureSummary || '').replace(/\\s+/g, ' ')).join(' | '));
}"""
ADMIN_LOGIN = "ada-admin@x.example"
ADMIN_PASSWORD = "pale lantern over the harbour"


class Audit:
    def __init__(self) -> None:
        self.source = AXE.read_text(encoding="utf-8")
        self.pages = 0
        self.found: list[str] = []

    def __call__(self, page: Page, label: str) -> None:
        page.wait_for_load_state("load")
        expect(page.locator("main")).to_be_visible()
        if not page.evaluate("() => typeof window.axe !== 'undefined'"):
            page.evaluate(self.source)
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            for violation in page.evaluate(RUN_AXE, WCAG_TAGS):
                self.found.append(f"{label} [{scheme}] {page.url}: {violation}")
        page.emulate_media(color_scheme="light")
        self.pages += 1

    def visit(self, page: Page, path: str, label: str) -> None:
        page.goto(path)
        self(page, label)


def optional(page: Page, path: str) -> list[str]:
    """Pages other work adds: audited when this build has them."""
    return [path] if page.request.get(path, max_redirects=0).status == 200 else []


@pytest.fixture(scope="module")
def admin(live_server: LiveServer) -> str:
    live_server.cli("user", "create", "--role", "admin", "--email", ADMIN_LOGIN, "--name", "Ada Admin",
                    "--clinic", "Test Clinic", stdin=ADMIN_PASSWORD + "\n")
    return ADMIN_LOGIN


def test_every_page_for_every_role_has_no_axe_violations(new_context: Any, live_server: LiveServer, admin: str) -> None:
    audit = Audit()

    # Anonymous visitor.
    anonymous = new_context().new_page()
    for path in ["/login", "/login?logged_out=1", "/crisis", "/offline", "/no-such-page"]:
        audit.visit(anonymous, path, "anonymous")
    anonymous.goto("/login")
    anonymous.get_by_label("E-mail or login name").fill("nobody@x.example")
    anonymous.get_by_label("Password", exact=True).fill("not the password at all")
    anonymous.get_by_role("button", name="Log in").click()
    expect(anonymous.locator("main")).to_contain_text("do not match")
    audit(anonymous, "anonymous, failed login")

    # Clinician: enrols a patient (invitation page), then the patient's record.
    staff = new_context().new_page()
    log_in_as_staff(staff, live_server)
    audit(staff, "clinician")
    audit.visit(staff, "/clinic/patients", "clinician")
    name = f"Alex {secrets.token_hex(3)}"
    url = enrol_patient(staff, name)
    audit(staff, "clinician, invitation")

    # The patient: the invitation, then every patient page.
    patient = new_context().new_page()
    patient.goto(url)
    audit(patient, "anonymous, invitation")
    activate(patient, None, unique("alex"))
    audit(patient, "patient, welcome")
    for path in ["/checkin", "/journal", "/history", "/sessions", "/safety-plan", "/crisis", "/questionnaires/phq9",
                 "/questionnaires/gad7", *optional(patient, "/settings")]:
        audit.visit(patient, path, "patient")
    patient.goto("/checkin")
    patient.get_by_role("button", name="Save check-in").click()  # nothing chosen: the errors
    expect(patient.locator("#checkin-form")).to_contain_text("Please choose")
    audit(patient, "patient, check-in errors")
    check_in(patient, mood=7, anxiety=2, energy=6, note="Fine today.")
    audit(patient, "patient, check-in saved")
    audit.visit(patient, "/history", "patient, history with an entry")
    patient.goto("/checkin")
    fill_checkin(patient, mood=2, anxiety=8, energy=2)
    patient.get_by_role("group", name=re.compile("thoughts of death")).get_by_role("radio", name=re.compile("hurting or killing")).check()
    patient.get_by_role("button", name="Save check-in").click()
    expect(patient.locator("main")).to_contain_text("Your check-in is saved.")
    audit(patient, "patient, saved with help")
    patient.goto("/journal")
    patient.context.set_offline(True)
    patient.get_by_label(re.compile("Write about your experience")).fill("Offline words.")
    patient.get_by_label("Only me").check()
    patient.get_by_role("button", name="Save entry").click()
    expect(patient.locator("#outbox")).to_contain_text("waiting to send")
    audit(patient, "patient, waiting to send")
    patient.goto("/history")
    expect(patient.get_by_role("heading", name="You are offline")).to_be_visible()
    audit(patient, "patient, offline page")
    patient.context.set_offline(False)
    patient.goto("/today")
    expect(patient.locator("#outbox")).to_be_hidden()
    audit(patient, "patient, today")

    # The clinician again: the record, the alert the risky check-in raised, the safety plan.
    staff.get_by_role("link", name=f"Go to {name}'s record").click()
    expect(staff.get_by_role("heading", name=re.compile(name))).to_be_visible()
    audit(staff, "clinician, patient record")
    record = staff.url
    audit.visit(staff, f"{record}/safety-plan", "clinician, safety plan")
    audit.visit(staff, "/clinic/alerts", "clinician, alerts")
    alert_links = staff.locator("main a[href^='/clinic/alerts/']")
    expect(alert_links.first).to_be_visible()  # the risky check-in raised one
    alert_links.first.click()
    audit(staff, "clinician, alert")
    audit.visit(staff, "/clinic", "clinician, dashboard with a patient")
    for path in optional(staff, "/settings"):
        audit.visit(staff, path, "clinician")

    # Admin.
    admin_page = new_context().new_page()
    log_in(admin_page, admin, ADMIN_PASSWORD)
    expect(admin_page).to_have_url(re.compile(r"/clinic$"))
    audit(admin_page, "admin")
    for path in [*optional(admin_page, "/clinic/admin"), *optional(admin_page, "/settings")]:
        audit.visit(admin_page, path, "admin")

    assert audit.pages >= 25, audit.pages
    assert audit.found == [], f"{len(audit.found)} axe violations:\n" + "\n".join(audit.found)


def test_patient_pages_keep_working_with_text_at_200_percent(new_context: Any, live_server: LiveServer) -> None:
    """WCAG 1.4.4 / 1.4.10: text zoomed to 200 % on a phone: nothing is cut off or needs sideways scrolling."""
    from tests.browser.flows import new_patient

    page = new_patient(new_context, live_server, viewport={"width": 320, "height": 640}).page
    for path in ["/today", "/checkin", "/journal", "/history", "/sessions", "/safety-plan", "/crisis"]:
        page.goto(path)
        page.evaluate("() => { document.documentElement.style.fontSize = '200%'; }")
        expect(page.locator("main h1")).to_be_attached()
        widths = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert widths[0] <= widths[1], f"{path} scrolls sideways with 200 % text: {widths}"
        # The Save / primary button is still on screen and reachable by keyboard.
        page.keyboard.press("Tab")
        focused = page.evaluate("() => document.activeElement && document.activeElement.textContent.trim()")
        assert focused == "Skip to content", (path, focused)
