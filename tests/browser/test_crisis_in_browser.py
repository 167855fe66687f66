"""Crisis help on a 360×640 phone: working tel: links, "Get help now" one tap from every patient
page, and the crisis card swapped in by htmx in answer to a risky check-in."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LiveServer
from tests.browser.flows import SAFETY_QUESTION, fill_checkin, new_patient

pytestmark = pytest.mark.browser

SMALL_PHONE = {"width": 360, "height": 640}
PATIENT_PAGES = ["/today", "/checkin", "/journal", "/sessions", "/history", "/safety-plan", "/questionnaires/phq9"]


def test_crisis_page_works_logged_out_with_tappable_tel_links(new_context: Any, live_server: LiveServer) -> None:
    page = new_context(viewport=SMALL_PHONE).new_page()
    page.goto("/crisis")
    emergency = page.get_by_role("link", name="Call 911 (emergency)")
    expect(emergency).to_be_visible()
    expect(emergency).to_have_attribute("href", "tel:911")
    box = emergency.bounding_box()
    assert box is not None and box["height"] >= 44 and box["y"] + box["height"] <= SMALL_PHONE["height"]
    lifeline = page.get_by_role("link", name=re.compile(r"^Call 988 Suicide & Crisis Lifeline"))
    expect(lifeline).to_have_attribute("href", "tel:988")
    expect(page.get_by_role("link", name=re.compile(r"^Text HOME to 741741"))).to_have_attribute(
        "href", "sms:741741?body=HOME"
    )
    page.get_by_role("link", name="UK", exact=True).click()
    expect(page.get_by_role("link", name="Call 999 (emergency)")).to_have_attribute("href", "tel:999")


def test_get_help_now_is_one_tap_from_every_patient_page(new_context: Any, live_server: LiveServer) -> None:
    patient = new_patient(new_context, live_server, viewport=SMALL_PHONE)
    page = patient.page
    for path in PATIENT_PAGES:
        page.goto(path)
        link = page.locator("header").get_by_role("link", name="Get help now")
        expect(link).to_be_visible()
        box = link.bounding_box()
        assert box is not None and 0 <= box["y"] and box["y"] + box["height"] <= SMALL_PHONE["height"], path
        assert box["height"] >= 44, path
    link.click()
    expect(page).to_have_url(re.compile(r"/crisis$"))
    expect(page.get_by_role("link", name="Call 911 (emergency)")).to_be_visible()


def test_a_risky_checkin_answers_with_the_crisis_card_and_the_asq(new_context: Any, live_server: LiveServer) -> None:
    patient = new_patient(new_context, live_server, viewport=SMALL_PHONE)
    page = patient.page
    page.goto("/checkin")
    fill_checkin(page, mood=2, anxiety=8, energy=2)
    page.get_by_role("group", name=SAFETY_QUESTION).get_by_role(
        "radio", name=re.compile("hurting or killing myself")
    ).check()
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/checkin")) as answer:
        page.get_by_role("button", name="Save check-in").click()
    assert answer.value.request.headers.get("hx-request") == "true"
    card = page.locator("#crisis-card")
    expect(card).to_be_visible()
    expect(card.get_by_role("link", name="Call 911 (emergency)")).to_have_attribute("href", "tel:911")
    card.get_by_role("link", name=re.compile("Answer a few short questions")).click()
    expect(page).to_have_url(re.compile(r"/questionnaires/asq\?trigger=checkin_active$"))
    expect(page.get_by_text("Are you having thoughts of killing yourself right now?")).to_be_visible()
