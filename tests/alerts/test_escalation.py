"""Escalation with a controlled clock: Critical reaches the backup level at +15 minutes, then the
admins, then everyone again; acknowledging stops the chain; each step is an event on the alert."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from companion.accounts.models import Clinic, User
from companion.alerts.escalation import escalate_overdue
from companion.alerts.help import press_help
from companion.alerts.models import Alert, AlertEvent
from companion.alerts.service import acknowledge
from companion.notify.models import OutboxMessage
from companion.notify.service import set_preferences
from tests.notify.helpers import FORBIDDEN, Clock, add_subscription, all_rows, as_user, close, make_sender, wired


async def backup(db, clinic_id: int, *people) -> None:
    async with db.writing() as session:
        codes = [(await session.get_one(User, p.user_id)).code for p in people]
        (await session.get_one(Clinic, clinic_id)).settings = {"escalation": {"backup_clinicians": codes}}


async def escalations(db) -> list[AlertEvent]:
    return [e for e in await all_rows(db, AlertEvent) if e.kind == "escalated"]


async def test_critical_alert_escalates_at_15_minutes_until_acknowledged(db, settings, personas, push):
    phones = {name: push.subscription(name) for name in ("carol", "dave", "ada")}
    for name, browser in phones.items():
        person = getattr(personas, name)
        await add_subscription(db, person, browser)
        await set_preferences(db, as_user(person), push=True, email=False)
    await backup(db, personas.north_id, personas.dave)
    clock = Clock()
    sender = make_sender(db, wired(settings), clock)
    await press_help(db, as_user(personas.alice))
    [alert] = await all_rows(db, Alert)
    assert alert.severity == "critical"
    created = alert.created_at
    try:
        await sender.drain()
        assert len(push.messages("carol")) == 1

        assert await escalate_overdue(db, created + timedelta(minutes=14, seconds=50)) == 0
        assert await escalate_overdue(db, created + timedelta(minutes=15, seconds=1)) == 1
        assert await escalate_overdue(db, created + timedelta(minutes=15, seconds=30)) == 0  # once per step
        clock.advance(minutes=16)
        await sender.drain()
        [to_dave] = push.messages("dave")
        assert to_dave.payload["title"] == "Alert not yet acknowledged" and not FORBIDDEN.search(to_dave.data.decode())
        assert push.messages("ada") == []

        assert await escalate_overdue(db, created + timedelta(minutes=30, seconds=2)) == 1
        clock.advance(minutes=15)
        await sender.drain()
        assert len(push.messages("ada")) == 1

        # The chain is used up: everyone again, one interval later.
        assert await escalate_overdue(db, created + timedelta(minutes=45, seconds=3)) == 1
        # Carol acknowledges before that step is sent: it is cancelled, and no further step comes.
        await acknowledge(db, as_user(personas.carol), alert.code)
        clock.advance(minutes=15)
        await sender.drain()
        assert await escalate_overdue(db, created + timedelta(hours=3)) == 0
    finally:
        await close(sender)

    assert [len(push.messages(n)) for n in ("carol", "dave", "ada")] == [1, 1, 1]
    steps = await escalations(db)
    assert [e.reason for e in steps] == [
        "Not acknowledged in time: notified the backup and on-call clinicians.",
        "Not acknowledged in time: notified the clinic admins.",
        "Still not acknowledged: notified everyone in the escalation chain again.",
    ]
    async with db.reading() as session:
        statuses = (
            (
                await session.execute(
                    select(OutboxMessage.status).where(
                        OutboxMessage.kind == "alert_escalation", OutboxMessage.dedupe_key.like("%step3")
                    )
                )
            )
            .scalars()
            .all()
        )
    assert set(statuses) == {"cancelled"}


async def test_without_backup_the_admins_come_next_and_low_alerts_never_escalate(db, personas):
    await press_help(db, as_user(personas.alice))
    [alert] = await all_rows(db, Alert)
    assert await escalate_overdue(db, alert.created_at + timedelta(minutes=16)) == 1
    messages = [m for m in await all_rows(db, OutboxMessage) if m.kind == "alert_escalation"]
    # One row per channel: push, and e-mail because an admin's e-mail is on unless switched off.
    assert sorted((m.channel, m.recipient_id, m.dedupe_key) for m in messages) == [
        ("email", personas.ada.user_id, f"alert:{alert.id}:email:{personas.ada.user_id}:step1"),
        ("push", personas.ada.user_id, f"alert:{alert.id}:push:{personas.ada.user_id}:step1"),
    ]


async def test_two_workers_take_each_step_once(db, personas):
    import asyncio

    await press_help(db, as_user(personas.alice))
    [alert] = await all_rows(db, Alert)
    at = alert.created_at + timedelta(minutes=16)
    results = await asyncio.gather(*(escalate_overdue(db, at) for _ in range(4)))
    assert sum(results) == 1 and len(await escalations(db)) == 1
