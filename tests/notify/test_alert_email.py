"""Clinicians get their alerts by push and e-mail, and both outbox rows are written in the entry's
own transaction (issue 4 items 3 and 8), not invented later by the sender."""

from __future__ import annotations

from companion.alerts.models import Alert, AlertEvent
from companion.notify.delivery_models import Delivery
from companion.notify.models import OutboxMessage
from companion.notify.sender import undelivered_alerts
from companion.notify.service import set_preferences
from tests.notify.helpers import FORBIDDEN, Clock, add_subscription, all_rows, as_user, close, make_sender, wired

RISKY = {"mood": "1", "anxiety": "9", "energy": "1", "safety": "active", "note": "secret-note about my mood"}


async def risky_checkin(client, personas) -> None:
    await client.login(personas.alice)
    key = await client.form_key("/checkin")
    response = await client.post_form("/checkin", RISKY | {"idempotency_key": key})
    assert response.status_code == 200 and 'id="crisis-card"' in response.text


async def test_both_channels_are_queued_with_the_entry_and_delivered_without_health_data(
    client, db, settings, personas, push, sink
):
    browser = push.subscription("carol-phone")
    await add_subscription(db, personas.carol, browser)
    await risky_checkin(client, personas)

    # Committed with the check-in, before any sender ran: one row per recipient and channel.
    [alert] = await all_rows(db, Alert)
    carol = personas.carol.user_id
    queued = await all_rows(db, OutboxMessage)
    assert sorted((m.channel, m.status, m.recipient_id, m.dedupe_key) for m in queued) == [
        ("email", "pending", carol, f"alert:{alert.id}:email:{carol}"),
        ("push", "pending", carol, f"alert:{alert.id}:push:{carol}"),
    ]
    assert await all_rows(db, Delivery) == []

    sender = make_sender(db, wired(settings, sink), Clock())
    try:
        await sender.drain()
        await sender.drain()  # nothing more: the sender adds no rows of its own
    finally:
        await close(sender)

    [mail] = sink.wait_for(1)
    assert mail.rcpt_tos == ("carol@north.example",) and mail.subject == "Patient alert"
    assert f"/clinic/alerts/{alert.code}" in mail.text
    [message] = push.messages("carol-phone")
    for text in (mail.subject, mail.text, mail.html, message.data.decode()):
        assert not FORBIDDEN.search(text), text
        assert "Alice" not in text and "secret-note" not in text
    outbox = await all_rows(db, OutboxMessage)
    assert sorted((m.channel, m.status, m.attempts) for m in outbox) == [("email", "sent", 1), ("push", "sent", 1)]
    assert sorted((d.channel, d.outcome) for d in await all_rows(db, Delivery)) == [
        ("email", "sent"),
        ("push", "sent"),
    ]


async def test_without_smtp_the_email_row_is_set_aside_and_a_failed_push_still_flags_the_alert(
    client, db, settings, personas
):
    await risky_checkin(client, personas)  # carol has no device
    [alert] = await all_rows(db, Alert)
    sender = make_sender(db, wired(settings), Clock())  # no SMTP host: e-mail is off on this install
    try:
        await sender.drain()
    finally:
        await close(sender)
    statuses = {m.channel: m.status for m in await all_rows(db, OutboxMessage)}
    assert statuses == {"push": "failed", "email": "skipped"}
    assert [d.channel for d in await all_rows(db, Delivery)] == []  # nothing was attempted
    async with db.reading() as session:
        assert await undelivered_alerts(session, [alert.id]) == {alert.id}
    assert [e.kind for e in await all_rows(db, AlertEvent)].count("delivery_failed") == 1


async def test_a_clinician_who_switched_email_off_gets_push_only(client, db, personas):
    await set_preferences(db, as_user(personas.carol), push=True, email=False)
    await risky_checkin(client, personas)
    assert [m.channel for m in await all_rows(db, OutboxMessage)] == ["push"]
