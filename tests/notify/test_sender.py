"""The sender against the real protocol fakes: decrypted payloads, status codes, retries, leases."""

from __future__ import annotations

import asyncio

import pytest

from companion.alerts.help import press_help
from companion.alerts.models import Alert, AlertEvent
from companion.checkins.forms import CheckInInput
from companion.checkins.service import record_checkin
from companion.notify.delivery_models import Delivery, PushSubscription
from companion.notify.models import OutboxMessage
from companion.notify.sender import claim, undelivered_alerts
from companion.notify.service import set_preferences
from tests.fakes import HANG, Reply, throttled
from tests.notify.helpers import (
    FORBIDDEN,
    Clock,
    add_subscription,
    all_rows,
    as_user,
    close,
    make_sender,
    wired,
)


async def help_alert(db, personas) -> Alert:
    await press_help(db, as_user(personas.alice))
    [alert] = await all_rows(db, Alert)
    return alert


async def test_alert_reaches_carol_by_push_and_email_without_health_data(db, settings, personas, push, sink):
    browser = push.subscription("carol-phone")
    await add_subscription(db, personas.carol, browser)
    clock = Clock()
    sender = make_sender(db, wired(settings, sink), clock)
    # A risky check-in with a note: none of it may leave the server.
    note = "secret-note about my mood"
    await record_checkin(
        db, as_user(personas.alice), CheckInInput(mood=1, anxiety=9, energy=1, safety="active", note=note), None
    )
    [alert] = await all_rows(db, Alert)
    try:
        await sender.drain()
    finally:
        await close(sender)

    [message] = push.messages("carol-phone")
    assert message.payload == {
        "title": "Patient alert",
        "body": "A patient alert needs your review. Open Companion to see it.",
        "url": f"/clinic/alerts/{alert.code}",
        "tag": f"alert-{alert.code}",
    }
    assert message.urgency == "high" and message.ttl == 24 * 3600 and message.topic == f"alert-{alert.code}"
    [mail] = sink.wait_for(1)
    assert mail.rcpt_tos == ("carol@north.example",) and mail.subject == "Patient alert"
    assert f"http://testserver.local/clinic/alerts/{alert.code}" in mail.text and mail.html
    for text in (message.data.decode(), mail.text, mail.html, mail.subject):
        assert not FORBIDDEN.search(text), text
    outbox = await all_rows(db, OutboxMessage)
    assert sorted((m.channel, m.status, m.attempts) for m in outbox) == [("email", "sent", 1), ("push", "sent", 1)]
    deliveries = await all_rows(db, Delivery)
    assert {(d.channel, d.outcome, d.status_code) for d in deliveries} == {
        ("push", "sent", 201),
        ("email", "sent", 250),
    }
    assert all(d.finished_at is not None for d in deliveries)
    [sub] = await all_rows(db, PushSubscription)
    assert sub.last_success_at is not None and sub.disabled_at is None


@pytest.mark.parametrize("status", [404, 410])
async def test_gone_endpoint_disables_the_subscription_and_is_not_retried(db, settings, personas, push, status):
    browser = push.subscription("gone")
    push.script("gone", [status])
    await add_subscription(db, personas.carol, browser)
    await set_preferences(db, as_user(personas.carol), push=True, email=False)
    clock = Clock()
    sender = make_sender(db, wired(settings), clock)
    alert = await help_alert(db, personas)
    try:
        await sender.drain()
        clock.advance(hours=2)
        await sender.drain()
    finally:
        await close(sender)
    assert len(push.attempts("gone")) == 1
    [sub] = await all_rows(db, PushSubscription)
    assert sub.disabled_at is not None and str(status) in sub.last_error
    [message] = await all_rows(db, OutboxMessage)
    assert message.status == "failed"
    async with db.reading() as session:
        assert await undelivered_alerts(session, [alert.id]) == {alert.id}
    assert "delivery_failed" in [e.kind for e in await all_rows(db, AlertEvent)]


async def test_throttled_429_waits_for_retry_after_then_500_retries(db, settings, personas, push):
    browser = push.subscription("busy")
    push.script("busy", [throttled(600), Reply(500)])
    await add_subscription(db, personas.carol, browser)
    await set_preferences(db, as_user(personas.carol), push=True, email=False)
    clock = Clock()
    sender = make_sender(db, wired(settings), clock)
    await help_alert(db, personas)
    try:
        await sender.drain()
        [message] = await all_rows(db, OutboxMessage)
        assert message.status == "pending" and (message.available_at - clock.now).total_seconds() >= 599
        clock.advance(seconds=300)  # before Retry-After: nothing is sent
        assert await sender.drain() == 0
        clock.advance(seconds=301)
        await sender.drain()  # 500 -> backoff
        clock.advance(seconds=120)
        await sender.drain()  # accepted
    finally:
        await close(sender)
    assert [a.status for a in push.attempts("busy")] == [429, 500, 201]
    assert len(push.messages("busy")) == 1
    [message] = await all_rows(db, OutboxMessage)
    assert (message.status, message.attempts) == ("sent", 3)
    outcomes = [(d.attempt, d.outcome, d.status_code) for d in await all_rows(db, Delivery)]
    assert outcomes == [(1, "retry", 429), (2, "retry", 500), (3, "sent", 201)]
    [sub] = await all_rows(db, PushSubscription)
    assert sub.disabled_at is None


async def test_hang_times_out_and_is_retried(db, settings, personas, push):
    browser = push.subscription("slow")
    push.script("slow", [HANG])
    await add_subscription(db, personas.carol, browser)
    await set_preferences(db, as_user(personas.carol), push=True, email=False)
    clock = Clock()
    sender = make_sender(db, wired(settings), clock)
    await help_alert(db, personas)
    try:
        await sender.drain()
        [delivery] = await all_rows(db, Delivery)
        assert delivery.outcome == "retry" and "timed out" in delivery.error
        clock.advance(minutes=2)
        await sender.drain()
    finally:
        push.release()
        await close(sender)
    assert [a.reason for a in push.attempts("slow")][-1] == "accepted"
    assert len(push.messages("slow")) == 1


async def test_a_dead_senders_lease_expires_and_the_work_is_retried(db, settings, personas, push):
    browser = push.subscription("carol")
    await add_subscription(db, personas.carol, browser)
    await set_preferences(db, as_user(personas.carol), push=True, email=False)
    clock = Clock()
    sender = make_sender(db, wired(settings), clock)
    await help_alert(db, personas)
    # A sender claims and dies before sending.
    from datetime import timedelta

    async with db.writing() as session:
        assert len(await claim(session, clock.now, timedelta(seconds=60), 10)) == 1
    try:
        assert await sender.drain() == 0  # leased to the dead sender
        clock.advance(seconds=61)
        assert await sender.drain() == 1
    finally:
        await close(sender)
    assert len(push.messages("carol")) == 1
    [message] = await all_rows(db, OutboxMessage)
    assert (message.status, message.attempts) == ("sent", 2)


async def test_concurrent_senders_deliver_each_message_once(db, settings, personas, push):
    browser = push.subscription("carol")
    await add_subscription(db, personas.carol, browser)
    await set_preferences(db, as_user(personas.carol), push=True, email=False)
    alert = await help_alert(db, personas)
    async with db.writing() as session:
        for index in range(60):
            session.add(
                OutboxMessage(
                    clinic_id=alert.clinic_id,
                    kind="alert",
                    alert_id=alert.id,
                    channel="push",
                    recipient_id=personas.carol.user_id,
                    dedupe_key=f"bulk:{index}:push:x",
                )
            )
    clock = Clock()
    senders = [make_sender(db, wired(settings, batch_size=7), clock) for _ in range(3)]
    try:
        await asyncio.gather(*(s.drain() for s in senders))
    finally:
        for s in senders:
            await close(s)
    assert len(push.messages("carol")) == 61
    assert {m.status for m in await all_rows(db, OutboxMessage)} == {"sent"}


async def test_no_device_fails_visibly(db, settings, personas):
    await set_preferences(db, as_user(personas.carol), push=True, email=False)
    clock = Clock()
    sender = make_sender(db, wired(settings), clock)
    alert = await help_alert(db, personas)
    try:
        await sender.drain()
    finally:
        await close(sender)
    [message] = await all_rows(db, OutboxMessage)
    assert message.status == "failed"
    async with db.reading() as session:
        assert await undelivered_alerts(session, [alert.id]) == {alert.id}
