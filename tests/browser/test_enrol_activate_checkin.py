"""The patient journey in a phone-sized browser: enrol, activate, check in, see it in History.

Also: the patient pages fit a 360 px screen, the check-in form's controls are labelled and big
enough to tap, and the check-in works with JavaScript switched off.
"""

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
    log_in,
    log_in_as_staff,
    new_patient,
    submit_checkin,
    unique,
)

if TYPE_CHECKING:
    from tests.browser.conftest import LiveServer

pytestmark = pytest.mark.browser

PATIENT_PAGES = ["/today", "/checkin", "/journal", "/history", "/sessions"]
CLINIC_ZONE = "America/New_York"  # the default zone of a clinic created by `companion user create`
BROWSER_ZONE = "Europe/London"


def timeline_checkin(page: Page) -> Any:
    return page.locator(".timeline-item.checkin")


def test_clinician_enrols_patient_who_activates_checks_in_and_sees_history(new_context: Any, live_server: LiveServer) -> None:
    # The clinician enrols a patient and gets a one-time link and its QR code.
    staff = new_context().new_page()
    log_in_as_staff(staff, live_server)
    name = f"Sam {secrets.token_hex(3)}"
    email = f"{unique('sam')}@patients.example"
    url = enrol_patient(staff, name, email)
    qr = staff.locator(".qr svg")
    expect(qr).to_be_visible()
    assert qr.locator("path").first.get_attribute("d"), "the QR code SVG has no modules"
    box = qr.bounding_box()
    assert box is not None and box["width"] >= 100 and box["height"] >= 100, box

    # The patient opens it on their own phone: a second context, with the browser's time zone.
    patient = new_context(timezone_id=BROWSER_ZONE).new_page()
    patient.goto(url)
    expect(patient.get_by_role("heading", name=f"Welcome, {name}")).to_be_visible()
    zone = patient.get_by_label("Time zone")
    expect(zone.locator("option[selected]")).to_have_attribute("value", CLINIC_ZONE)  # what the server suggested
    expect(zone).to_have_value(BROWSER_ZONE)  # what the page's script put in from the browser
    expect(patient.get_by_label("Login name")).to_have_value(email)
    activate(patient, None, login=None, reminder="08:30")
    expect(patient.get_by_text("Your account is ready. Welcome.")).to_be_visible()

    # The first check-in, from the tab bar.
    patient.get_by_role("navigation", name="Main").get_by_role("link", name="Check-in").click()
    expect(patient).to_have_url(re.compile(r"/checkin$"))
    fill_checkin(patient, mood=7, anxiety=3, energy=6, side_effect=("Headache", "Mild"), note="Walked by the river.")
    submit_checkin(patient)
    expect(patient.get_by_text("Check-in done")).to_be_visible()

    patient.get_by_role("navigation", name="Main").get_by_role("link", name="History").click()
    expect(patient).to_have_url(re.compile(r"/history$"))
    entry = timeline_checkin(patient)
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text("mood 7/10, anxiety 3/10, energy 6/10")
    expect(entry).to_contain_text("Side effects: headache")
    expect(entry).to_contain_text("Walked by the river.")

    # The link worked once.
    stranger = new_context().new_page()
    response = stranger.goto(url)
    assert response is not None and response.status == 410
    expect(stranger.get_by_role("heading", name=re.compile("already been used"))).to_be_visible()


def test_patient_pages_do_not_scroll_sideways_at_360px(new_context: Any, live_server: LiveServer) -> None:
    patient = new_patient(new_context, live_server, viewport={"width": 360, "height": 740})
    page = patient.page
    # A long unbroken word (a pasted link) is the usual way text pushes a phone page wider.
    check_in(page, mood=5, anxiety=5, energy=5, side_effect=("Dizziness", "Moderate"), note="https://example.org/" + "x" * 120)
    for path in PATIENT_PAGES:
        page.goto(path)
        expect(page.locator("main h1")).to_be_visible()
        widths = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert widths[0] <= widths[1], f"{path} scrolls sideways at 360 px: scrollWidth {widths[0]} > clientWidth {widths[1]}"


INTERACTIVE = "a[href], button, input:not([type=hidden]), select, textarea, summary"
# The box a finger has to hit: a visually hidden radio is tapped through its chip (the label's span)
# or its whole label row. An inline link inside a sentence is exempt (WCAG 2.5.8, "Inline").
TARGET_BOX = """(el) => {
  let target = el;
  if (el.matches('input[type=radio], input[type=checkbox]')) {
    const label = el.closest('label');
    if (label) target = label.classList.contains('chip') ? label.querySelector('span') : label;
  }
  const box = target.getBoundingClientRect();
  const parent = el.parentElement;
  const inSentence = el.matches('a') && parent !== null && parent.matches('p')
    && parent.textContent.trim() !== el.textContent.trim();
  return {width: box.width, height: box.height, right: box.right, inSentence, html: el.outerHTML.slice(0, 100)};
}"""


def test_checkin_controls_have_names_and_44px_targets(new_context: Any, live_server: LiveServer) -> None:
    page = new_patient(new_context, live_server).page
    page.goto("/checkin")
    for summary in page.locator("details > summary").all():
        summary.click()  # open the optional sections so their controls are checked too
    expect(page.locator("details[open]")).to_have_count(page.locator("details").count())

    checked, too_small = 0, []
    for control in page.locator(INTERACTIVE).all():
        if not control.is_visible():
            continue
        box = control.evaluate(TARGET_BOX)
        expect(control, f"no accessible name: {box['html']}").to_have_accessible_name(re.compile(r"\S"))
        if box["right"] <= 0:  # shown only when focused (the skip link)
            control.focus()
            box = control.evaluate(TARGET_BOX)
        if not box["inSentence"] and (box["width"] < 44 or box["height"] < 44):
            too_small.append(f"{box['width']:.0f}x{box['height']:.0f} {box['html']}")
        checked += 1
    assert checked > 60, f"only {checked} controls found on /checkin"
    assert not too_small, "targets smaller than 44x44 CSS px:\n" + "\n".join(too_small)


def test_checkin_works_without_javascript(new_context: Any, live_server: LiveServer) -> None:
    patient = new_patient(new_context, live_server)
    page = new_context(java_script_enabled=False).new_page()  # a third context: no scripts at all
    log_in(page, patient.login, patient.password)
    expect(page).to_have_url(re.compile(r"/today$"))
    page.goto("/checkin")
    fill_checkin(page, mood=4, anxiety=6, energy=3, side_effect=("Nausea or vomiting", "Moderate"), note="Sent without scripts.")
    with page.expect_request(lambda request: request.method == "POST" and request.url.endswith("/checkin")) as posted:
        submit_checkin(page)
    assert "hx-request" not in posted.value.headers, "htmx ran although JavaScript is off"
    page.goto("/history")
    entry = timeline_checkin(page)
    expect(entry).to_contain_text("mood 4/10, anxiety 6/10, energy 3/10")
    expect(entry).to_contain_text("Side effects: nausea")
