"""The clinician workspace in Chromium: a Critical alert written by another process appears on the
dashboard without a reload; the record's charts have accessible names; the summary prints on one page."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LiveServer
from tests.browser.flows import log_in_as_staff, new_patient

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
DESKTOP = {"width": 1280, "height": 900}


def seed(server: LiveServer, command: str, login: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.browser.workspace_seed", command, login],
        cwd=ROOT,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_critical_alert_from_another_process_appears_within_15_seconds(
    new_context: Any, live_server: LiveServer
) -> None:
    patient = new_patient(new_context, live_server)
    staff = new_context(viewport=DESKTOP).new_page()
    log_in_as_staff(staff, live_server)
    expect(staff.get_by_role("heading", name=re.compile("Open alerts"))).to_be_visible()
    staff.evaluate("window.__marker = 'no reload'")
    seed(live_server, "critical", patient.login)
    alerts = staff.locator("#dashboard-alerts")
    expect(alerts.get_by_text(f"{patient.name}: A7")).to_be_visible(timeout=15_000)
    expect(alerts.locator(".severity-critical")).to_have_count(1)
    assert staff.evaluate("window.__marker") == "no reload"


def test_record_charts_are_accessible_and_the_summary_prints_on_one_page(
    new_context: Any, live_server: LiveServer
) -> None:
    patient = new_patient(new_context, live_server)
    seed(live_server, "history", patient.login)
    staff = new_context(viewport=DESKTOP).new_page()
    log_in_as_staff(staff, live_server)
    staff.get_by_role("link", name=patient.name).first.click()
    expect(staff.get_by_role("heading", name=patient.name, level=1)).to_be_visible()
    for name in ("Daily mood", "PHQ-9", "GAD-7", "Home blood pressure"):
        chart = staff.get_by_role("img", name=re.compile(rf"^{re.escape(name)}\b"))
        expect(chart).to_be_visible()
        assert chart.locator("title").first.text_content() == name
        assert chart.locator("desc").count() == 1
    expect(staff.get_by_text("Response (≥50% fall)")).to_be_visible()
    staff.emulate_media(media="print")
    expect(staff.locator("#timeline")).to_be_hidden()
    expect(staff.get_by_role("img", name=re.compile(r"^Daily mood"))).to_be_visible()
    pdf = staff.pdf(format="A4", print_background=False)
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    print(f"workspace: summary prints on {pages} page(s)")
    assert pages == 1
