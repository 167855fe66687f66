"""What a clinician and a patient do in the browser, step by step, for the browser tests."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from playwright.sync_api import Page, expect

if TYPE_CHECKING:
    from tests.browser.conftest import LiveServer

PATIENT_PASSWORD = "quiet river under old stones"
SAFETY_QUESTION = re.compile("thoughts of death or of hurting yourself")


@dataclass(frozen=True)
class Patient:
    name: str
    login: str
    password: str
    invitation_url: str
    page: Page  # logged in, JavaScript on, phone viewport


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def log_in(page: Page, login: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("E-mail or login name").fill(login)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()


def log_in_as_staff(page: Page, server: LiveServer) -> None:
    log_in(page, server.staff_login, server.staff_password)
    expect(page).to_have_url(re.compile(r"/clinic$"))


def enrol_patient(page: Page, name: str, email: str | None = None) -> str:
    """On the clinician's page: enrol a patient and return the invitation link shown."""
    page.goto("/clinic/patients")
    page.get_by_label("Name", exact=True).fill(name)
    if email:
        page.get_by_label("E-mail (optional)").fill(email)
    page.get_by_role("button", name="Create invitation").click()
    expect(page.get_by_role("heading", name=f"Invitation for {name}")).to_be_visible()
    url = page.locator("input#invitation-url").input_value()
    assert url.startswith(f"{page.url.split('/clinic')[0]}/invite/"), url
    return url


def activate(page: Page, url: str | None, login: str | None, password: str = PATIENT_PASSWORD, reminder: str = "08:30") -> None:
    """On the patient's page: open the invitation (unless it is open), fill it in and land on Today.

    ``login=None`` keeps the login the form suggests (the e-mail the clinic entered).
    """
    if url:
        page.goto(url)
    if login is not None:
        page.get_by_label("Login name").fill(login)
    page.get_by_label("Choose a password").fill(password)
    page.get_by_label("Type it again").fill(password)
    page.get_by_label("Daily check-in reminder at").fill(reminder)
    page.get_by_label(re.compile("I have read this and agree")).check()
    page.get_by_role("button", name="Create my account").click()
    expect(page).to_have_url(re.compile(r"/today\?welcome=1$"))


def new_patient(new_context: Any, server: LiveServer, **patient_context: Any) -> Patient:
    """A freshly enrolled and activated patient, so that every test starts from its own state."""
    staff = new_context().new_page()
    log_in_as_staff(staff, server)
    name = f"Robin {secrets.token_hex(3)}"
    url = enrol_patient(staff, name)
    staff.context.close()
    page = new_context(**patient_context).new_page()
    login = unique("robin")
    activate(page, url, login)
    return Patient(name=name, login=login, password=PATIENT_PASSWORD, invitation_url=url, page=page)


def pick_chip(page: Page, question: str | re.Pattern[str], answer: str) -> None:
    """Tap an answer chip (the radio itself is visually hidden; the label's span is what shows)."""
    group = page.get_by_role("group", name=question, exact=True) if isinstance(question, str) else page.get_by_role("group", name=question)
    group.locator("label").filter(has_text=re.compile(rf"^\s*{re.escape(answer)}\s*$")).locator("span").click()
    expect(group.get_by_role("radio", name=answer, exact=True)).to_be_checked()


def fill_checkin(page: Page, *, mood: int, anxiety: int, energy: int, side_effect: tuple[str, str] | None = None, note: str = "") -> None:
    """Fill the check-in form on /checkin (the page must be open)."""
    pick_chip(page, "How is your mood right now?", str(mood))
    pick_chip(page, "How anxious do you feel?", str(anxiety))
    pick_chip(page, "How is your energy?", str(energy))
    page.get_by_role("group", name=SAFETY_QUESTION).get_by_role("radio", name="No", exact=True).check()
    if side_effect:
        details = page.locator("details", has=page.locator("summary", has_text="Side effects"))
        if details.get_attribute("open") is None:
            details.locator("summary").click()
        pick_chip(page, side_effect[0], side_effect[1])
    if note:
        page.get_by_label("Anything else? (optional)").fill(note)


def submit_checkin(page: Page) -> None:
    page.get_by_role("button", name="Save check-in").click()
    expect(page).to_have_url(re.compile(r"/today\?saved=checkin$"))
    expect(page.get_by_text("Check-in saved. Thank you.")).to_be_visible()


def check_in(page: Page, **answers: Any) -> None:
    page.goto("/checkin")
    fill_checkin(page, **answers)
    submit_checkin(page)
