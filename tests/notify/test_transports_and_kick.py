"""Transports in isolation, strict push settings, and delivery right after an entry commits."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import pytest

from companion.alerts.help import press_help
from companion.notify import kick
from companion.notify.email import EmailTransport
from companion.notify.messages import alert_notice, environment, reminder_notice
from companion.notify.service import set_preferences
from companion.notify.transports import TransportError
from companion.notify.webpush import retry_after_seconds
from companion.reminders.service import sweep_reminders
from companion.settings import EmailSettings, SettingsError, load_settings
from tests.notify.helpers import FORBIDDEN, Clock, add_subscription, as_user, close, make_sender, wired


@pytest.mark.parametrize(
    "subject", ["mailto:me@localhost", "mailto:x@clinic.local", "https://a.invalid", "me@x.org", "mailto:"]
)
def test_placeholder_vapid_subjects_are_refused(subject):
    # Apple's push service answers 403 BadJwtToken for these (tech-notes 4.2): refuse them at start-up.
    with pytest.raises(SettingsError, match="VAPID_SUBJECT"):
        load_settings({"COMPANION_VAPID_SUBJECT": subject})


def test_push_email_and_scheduler_settings_parse_strictly(tmp_path):
    secret = tmp_path / "smtp"
    secret.write_text("pw\n")
    settings = load_settings(
        {
            "COMPANION_VAPID_SUBJECT": "https://clinic.example.org/contact",
            "COMPANION_SMTP_HOST": "mail.example.org",
            "COMPANION_SMTP_PASSWORD_FILE": str(secret),
            "COMPANION_SMTP_SECURITY": "tls",
            "COMPANION_SWEEP_SECONDS": "5",
        }
    )
    assert settings.push.subject == "https://clinic.example.org/contact" and settings.email.password == "pw"
    assert settings.email.enabled and settings.scheduler.sweep_seconds == 5
    with pytest.raises(SettingsError, match="SMTP_SECURITY"):
        load_settings({"COMPANION_SMTP_SECURITY": "maybe"})
    with pytest.raises(SettingsError, match="SCHEDULER_ENABLED"):
        load_settings({"COMPANION_SCHEDULER_ENABLED": "perhaps"})


def test_retry_after_in_seconds_or_http_date():
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    assert retry_after_seconds("120") == 120
    assert retry_after_seconds("Mon, 01 Jun 2026 12:05:00 GMT", now) == 300
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_notices_carry_no_health_data():
    for notice in [alert_notice("abc123"), alert_notice("abc123", escalated=True)] + [
        reminder_notice(kind) for kind in ("checkin", "session_prep", "session_soon", "journal", "side_effects")
    ]:
        assert not FORBIDDEN.search(notice.payload())
        assert len(notice.payload().encode()) < 3993 and (notice.topic is None or len(notice.topic) <= 32)


async def test_email_fallback_reminder_reaches_the_sink(db, settings, personas, sink):
    email = EmailTransport(
        EmailSettings(host=sink.hostname, port=sink.port, security="none"),
        environment(),
        "https://companion.example.org",
    )
    await email.send("alice@patient.example", reminder_notice("checkin"), ttl=0)
    [mail] = sink.wait_for(1)
    assert mail.subject == "Time for your check-in" and "https://companion.example.org/checkin" in mail.text
    assert '<a href="https://companion.example.org/checkin">' in mail.html
    for text in (mail.text, mail.html):
        assert not FORBIDDEN.search(text)
    off = EmailTransport(EmailSettings(), environment(), "https://x.example.org")
    with pytest.raises(TransportError) as refused:
        await off.send("a@b.example", reminder_notice("checkin"), ttl=0)
    assert refused.value.permanent


async def test_reminder_goes_by_email_when_the_patient_has_no_device(db, settings, personas, sink):
    await set_preferences(db, as_user(personas.alice), push=True, email=True)
    clock = Clock()
    sender = make_sender(db, wired(settings, sink), clock)
    now = datetime.now(UTC)
    await sweep_reminders(db, now)
    from sqlalchemy import update

    from companion.reminders.models import ReminderSchedule

    async with db.writing() as session:
        await session.execute(
            update(ReminderSchedule)
            .where(ReminderSchedule.kind == "checkin")
            .values(next_due_at=now - timedelta(minutes=1), local_time=time(9, 0))
        )
    await sweep_reminders(db, now)
    try:
        await sender.drain()
    finally:
        await close(sender)
    mails = sink.wait_for(1)
    assert [m.rcpt_tos for m in mails] == [("alice@patient.example",)]  # bob has no fallback: nothing for him


async def test_a_commit_that_queues_messages_wakes_the_sender(db, personas):
    woken = asyncio.Event()
    remove = kick.add_waiter(kick.event_waker(woken))
    try:
        await press_help(db, as_user(personas.bob))
        await asyncio.wait_for(woken.wait(), timeout=5)
        woken.clear()
        await set_preferences(db, as_user(personas.bob), push=True, email=False)  # queues nothing
        await asyncio.sleep(0.05)
        assert not woken.is_set()
    finally:
        remove()


async def test_embedded_app_delivers_an_alert_right_after_the_entry_commits(settings, db, personas, push):
    """`companion serve` in embedded mode: no sweep needed, the commit wakes the in-process sender."""
    from companion.app import create_app
    from tests.browser_client import AppClient

    browser = push.subscription("carol")
    await add_subscription(db, personas.carol, browser)
    await set_preferences(db, as_user(personas.carol), push=True, email=False)
    slow_sweep = replace(wired(settings), scheduler=replace(settings.scheduler, sweep_seconds=3600))
    async with AppClient.open(create_app(slow_sweep, background=True)) as alice:
        await alice.login(personas.alice)
        started = asyncio.get_running_loop().time()
        response = await alice.post_form("/help-now", {})
        assert response.status_code == 200
        [message] = await asyncio.to_thread(push.wait_for, 1, 10.0)
        assert asyncio.get_running_loop().time() - started < 5
    assert message.payload["title"] == "Patient alert" and message.endpoint_id == "carol"
