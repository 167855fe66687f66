"""The reminder sweep with a controlled clock: DST in five zones, a patient moving zone, downtime,
pause, quiet hours, check-in already done, session reminders, several workers at once.

Figures: 0 missed, 0 doubled, 0 an hour off."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from companion.accounts.models import Patient
from companion.checkins.forms import CheckInInput
from companion.checkins.service import record_checkin
from companion.notify.delivery_models import PushSubscription
from companion.notify.models import OutboxMessage
from companion.reminders.models import ReminderOccurrence, ReminderSchedule
from companion.reminders.service import sweep_reminders
from tests.factories import make_session
from tests.notify.helpers import as_user

Z = UTC


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def setup_patient(db, person, zone: str, at: time) -> None:
    async with db.writing() as session:
        await session.execute(
            update(Patient).where(Patient.id == person.patient_id).values(timezone=zone, reminder_time=at)
        )
        session.add(
            PushSubscription(
                clinic_id=person.clinic_id,
                user_id=person.user_id,
                endpoint=f"https://push.example.org/{person.user_id}",
                p256dh="x" * 87,
                auth="y" * 22,
            )
        )


async def checkin_schedule(db, person) -> ReminderSchedule:
    async with db.reading() as session:
        return (
            await session.execute(
                select(ReminderSchedule).where(
                    ReminderSchedule.patient_id == person.patient_id, ReminderSchedule.kind == "checkin"
                )
            )
        ).scalar_one()


async def occurrences(db, kind: str = "checkin", patient_id: int | None = None) -> list[ReminderOccurrence]:
    """Occurrences of one kind (alice's by default; bob, without a device, is skipped every day)."""
    async with db.reading() as session:
        owner = patient_id or (await session.scalar(select(Patient.id).where(Patient.name == "Alice Patient")))
        return list(
            (
                await session.execute(
                    select(ReminderOccurrence)
                    .join(ReminderSchedule, ReminderSchedule.id == ReminderOccurrence.schedule_id)
                    .where(ReminderSchedule.kind == kind, ReminderSchedule.patient_id == owner)
                    .order_by(ReminderOccurrence.local_date)
                )
            ).scalars()
        )


async def messages_for(db, kind: str = "checkin") -> list[OutboxMessage]:
    async with db.reading() as session:
        return list(
            (
                await session.execute(
                    select(OutboxMessage)
                    .join(ReminderOccurrence, ReminderOccurrence.id == OutboxMessage.reminder_occurrence_id)
                    .join(ReminderSchedule, ReminderSchedule.id == ReminderOccurrence.schedule_id)
                    .where(ReminderSchedule.kind == kind)
                )
            ).scalars()
        )


async def run_clock(db, start: datetime, end: datetime, person, *, every: timedelta = timedelta(hours=6)) -> None:
    """Sweep every ``every`` and one minute after each next due instant, from ``start`` to ``end``."""
    now = start
    await sweep_reminders(db, now)
    while now < end:
        schedule = await checkin_schedule(db, person)
        regular = now + every
        due_tick = schedule.next_due_at + timedelta(minutes=1) if schedule.next_due_at else regular
        now = min(regular, due_tick) if due_tick > now else regular
        await sweep_reminders(db, now)


DST_CASES = [
    # zone, wall time, start, end, {local date: expected UTC instant on the transition day}
    (
        "America/New_York",
        time(2, 30),
        utc(2026, 3, 6, 12),
        utc(2026, 3, 10, 12),
        {date(2026, 3, 8): utc(2026, 3, 8, 7, 0)},
    ),
    (
        "America/New_York",
        time(1, 30),
        utc(2026, 10, 30, 12),
        utc(2026, 11, 3, 12),
        {date(2026, 11, 1): utc(2026, 11, 1, 5, 30)},
    ),
    (
        "Europe/London",
        time(1, 30),
        utc(2026, 3, 27, 12),
        utc(2026, 3, 31, 12),
        {date(2026, 3, 29): utc(2026, 3, 29, 1, 0)},
    ),
    (
        "Europe/London",
        time(1, 30),
        utc(2026, 10, 23, 12),
        utc(2026, 10, 27, 12),
        {date(2026, 10, 25): utc(2026, 10, 25, 0, 30)},
    ),
    # Lord Howe: +10:30 standard, +11 summer; 30-minute gap 02:00->02:30 on 2026-10-04.
    (
        "Australia/Lord_Howe",
        time(2, 15),
        utc(2026, 10, 1, 0),
        utc(2026, 10, 6, 0),
        {date(2026, 10, 4): utc(2026, 10, 3, 15, 30)},
    ),
    # ... and a repeated half hour 01:30-02:00 on 2026-04-05 (first reading at +11).
    (
        "Australia/Lord_Howe",
        time(1, 45),
        utc(2026, 4, 2, 0),
        utc(2026, 4, 7, 0),
        {date(2026, 4, 5): utc(2026, 4, 4, 14, 45)},
    ),
    ("Asia/Kathmandu", time(9, 0), utc(2026, 6, 1, 0), utc(2026, 6, 5, 0), {date(2026, 6, 3): utc(2026, 6, 3, 3, 15)}),
]


@pytest.mark.parametrize(
    "zone, wall, start, end, expected", DST_CASES, ids=[f"{c[0]}-{c[1]:%H%M}-{c[2]:%m}" for c in DST_CASES]
)
async def test_daily_reminder_across_dst(db, personas, zone, wall, start, end, expected):
    await setup_patient(db, personas.alice, zone, wall)
    await run_clock(db, start, end, personas.alice)
    found = await occurrences(db)
    tz = ZoneInfo(zone)
    local_start = start.astimezone(tz)
    first = local_start.date() + timedelta(days=0 if local_start.time() < wall else 1)
    dates = [o.local_date for o in found]
    assert dates == sorted(set(dates)), "a local date served twice"
    days = (end.astimezone(tz).date() - first).days
    assert dates[:days] == [first + timedelta(days=n) for n in range(days)], "a local date missed"
    assert {o.status for o in found} == {"sent"}
    for occurrence in found:
        if occurrence.local_date in expected:
            assert occurrence.due_at == expected[occurrence.local_date]
        else:  # an ordinary day: exactly the wall time, not an hour off
            local = occurrence.due_at.astimezone(tz)
            assert (local.date(), local.time()) == (occurrence.local_date, wall)
    messages = await messages_for(db)
    assert len(messages) == len(found) and len({m.dedupe_key for m in messages}) == len(found)


async def test_a_patient_moving_zone_gets_each_day_once_at_local_time(db, personas):
    await setup_patient(db, personas.alice, "America/New_York", time(9, 0))
    await run_clock(db, utc(2026, 5, 4, 20), utc(2026, 5, 6, 20), personas.alice)  # NY: 5th, 6th
    async with db.writing() as session:  # flies to London in the evening
        await session.execute(
            update(Patient).where(Patient.id == personas.alice.patient_id).values(timezone="Europe/London")
        )
    await run_clock(db, utc(2026, 5, 6, 20), utc(2026, 5, 9, 20), personas.alice)  # London: 7th, 8th, 9th
    async with db.writing() as session:  # and back west, after London's 09:00 on the 9th
        await session.execute(
            update(Patient).where(Patient.id == personas.alice.patient_id).values(timezone="America/New_York")
        )
    await run_clock(db, utc(2026, 5, 9, 20), utc(2026, 5, 11, 20), personas.alice)  # NY: 10th, 11th
    found = await occurrences(db)
    assert [o.local_date.day for o in found] == [5, 6, 7, 8, 9, 10, 11]
    zones = ["America/New_York"] * 2 + ["Europe/London"] * 3 + ["America/New_York"] * 2
    for occurrence, zone in zip(found, zones, strict=True):
        assert occurrence.due_at.astimezone(ZoneInfo(zone)).time() == time(9, 0)
    assert {o.status for o in found} == {"sent"}


@pytest.mark.parametrize(
    "restart_late, expected",
    [
        (timedelta(hours=1), ["sent", "missed", "missed", "sent_late"]),
        (timedelta(hours=3), ["sent", "missed", "missed", "missed"]),
    ],
)
async def test_downtime_across_three_due_times(db, personas, restart_late, expected):
    await setup_patient(db, personas.alice, "America/New_York", time(9, 0))
    await sweep_reminders(db, utc(2026, 6, 1, 12))  # 08:00 EDT: created, next due 13:00Z
    await sweep_reminders(db, utc(2026, 6, 1, 13, 1))  # on time
    # Stopped across the 2nd, 3rd and 4th; restarted on the 4th.
    result = await sweep_reminders(db, utc(2026, 6, 4, 13) + restart_late)
    found = await occurrences(db)
    assert [o.status for o in found] == expected
    assert [o.local_date.day for o in found] == [1, 2, 3, 4]
    assert result.sent == 0  # nothing counts as on time after downtime
    assert len(await messages_for(db)) == len([s for s in expected if s.startswith("sent")])
    await sweep_reminders(db, utc(2026, 6, 4, 13) + restart_late + timedelta(minutes=5))  # nothing more
    assert len(await occurrences(db)) == 4


async def test_pause_and_quiet_hours(db, personas):
    await setup_patient(db, personas.alice, "America/New_York", time(22, 30))
    await sweep_reminders(db, utc(2026, 6, 1, 12))
    async with db.writing() as session:
        row = (
            await session.execute(
                select(ReminderSchedule).where(
                    ReminderSchedule.kind == "checkin", ReminderSchedule.patient_id == personas.alice.patient_id
                )
            )
        ).scalar_one()
        row.quiet_start, row.quiet_end, row.paused_until = time(22, 0), time(7, 0), date(2026, 6, 2)
        from companion.reminders.service import first_due

        first_due(row, utc(2026, 6, 1, 12))
    schedule = await checkin_schedule(db, personas.alice)
    assert schedule.next_due_at == utc(2026, 6, 2, 11)  # 07:00 EDT on the 2nd, still the 1st's reminder
    await run_clock(db, utc(2026, 6, 1, 12), utc(2026, 6, 4, 12), personas.alice)
    found = await occurrences(db)
    assert [(o.local_date.day, o.status, o.reason) for o in found] == [
        (1, "skipped", "paused"),
        (2, "skipped", "paused"),
        (3, "sent", ""),
    ]
    assert found[2].due_at == utc(2026, 6, 4, 11)


async def test_todays_checkin_done_skips_the_reminder(db, personas):
    await setup_patient(db, personas.alice, "America/New_York", time(9, 0))
    await record_checkin(db, as_user(personas.alice), CheckInInput(mood=6, anxiety=3, energy=5, safety="none"), None)
    now = datetime.now(UTC)
    today = now.astimezone(ZoneInfo("America/New_York")).date()
    await sweep_reminders(db, now)
    async with db.writing() as session:
        row = (
            await session.execute(
                select(ReminderSchedule).where(
                    ReminderSchedule.kind == "checkin", ReminderSchedule.patient_id == personas.alice.patient_id
                )
            )
        ).scalar_one()
        row.next_local_date, row.next_due_at = today, now
    await sweep_reminders(db, now + timedelta(minutes=1))
    [occurrence] = await occurrences(db)
    assert (occurrence.local_date, occurrence.status, occurrence.reason) == (today, "skipped", "already done")
    assert await messages_for(db) == []  # bob has no device: nothing queued for him either


async def test_session_reminders(db, personas):
    await setup_patient(db, personas.alice, "America/New_York", time(19, 0))
    await sweep_reminders(db, utc(2026, 6, 1, 12))  # schedules exist from here
    await make_session(db, personas.alice, at=utc(2026, 6, 3, 19))  # 15:00 EDT on the 3rd
    # Every six hours, and a minute after each instant a reminder is expected (where a scheduler
    # tick would be): nothing fires early, late, twice, or not at all.
    expected_at = [utc(2026, 6, 2, 23), utc(2026, 6, 3, 17), utc(2026, 6, 4, 14)] + [
        utc(2026, 6, d, 23) for d in (3, 4, 6, 10)
    ]
    ticks = sorted(
        {utc(2026, 6, 1, 12) + timedelta(hours=6 * n) for n in range(44)}
        | {at + timedelta(minutes=1) for at in expected_at}
        | {at - timedelta(minutes=1) for at in expected_at}
    )
    for now in ticks:
        await sweep_reminders(db, now)
    got = {
        kind: [(o.local_date.day, o.due_at, o.status) for o in await occurrences(db, kind)]
        for kind in ("session_prep", "session_soon", "journal", "side_effects")
    }
    assert got == {
        "session_prep": [(2, utc(2026, 6, 2, 23), "sent")],
        "session_soon": [(3, utc(2026, 6, 3, 17), "sent")],
        "journal": [(d, utc(2026, 6, d, 23), "sent") for d in (3, 4, 6, 10)],
        "side_effects": [(4, utc(2026, 6, 4, 14), "sent")],
    }


async def test_several_workers_record_each_occurrence_once(db, personas):
    await setup_patient(db, personas.alice, "America/New_York", time(9, 0))
    await setup_patient(db, personas.bob, "Europe/London", time(9, 0))
    await sweep_reminders(db, utc(2026, 6, 1, 0))
    for day in (1, 2, 3):
        for at in (utc(2026, 6, day, 8, 1), utc(2026, 6, day, 13, 1)):  # London's 09:00, New York's 09:00
            await asyncio.gather(*(sweep_reminders(db, at) for _ in range(3)))
    found = await occurrences(db) + await occurrences(db, patient_id=personas.bob.patient_id)
    assert len(found) == 6 and len({(o.schedule_id, o.local_date) for o in found}) == 6
    statuses = [(o.local_date.day, o.status, o.reason) for o in found]
    assert {status for _, status, _ in statuses} == {"sent"}
    assert len(await messages_for(db)) == 6


async def test_questionnaire_reminder_only_when_one_is_due(db, personas):
    from companion.questionnaires.models import QuestionnaireResponse

    await setup_patient(db, personas.alice, "America/New_York", time(9, 0))
    await run_clock(db, utc(2026, 6, 1, 12), utc(2026, 6, 2, 14), personas.alice)  # never answered: due
    async with db.writing() as session:
        for instrument in ("phq9", "gad7"):
            session.add(
                QuestionnaireResponse(
                    clinic_id=personas.alice.clinic_id,
                    patient_id=personas.alice.patient_id,
                    instrument=instrument,
                    instrument_version="v",
                    answers={},
                    total=0,
                    band="minimal",
                    local_date=date(2026, 6, 2),
                    timezone="America/New_York",
                    created_by_id=personas.alice.user_id,
                    created_at=utc(2026, 6, 2, 15),
                )
            )
    await run_clock(db, utc(2026, 6, 2, 14), utc(2026, 6, 9, 14), personas.alice)  # PHQ-9 due again after 7 days
    found = [(o.local_date.day, o.status, o.reason) for o in await occurrences(db, "questionnaire")]
    assert found == [(1, "sent", ""), (2, "sent", "")] + [(d, "skipped", "not due") for d in range(3, 9)] + [
        (9, "sent", "")
    ]
    assert len(await messages_for(db, "questionnaire")) == 3


async def test_schedules_for_many_patients_come_in_small_transactions(db, personas):
    """A clinic imported at once: every activated patient gets every schedule in one sweep, in
    transactions of at most SCHEDULE_BATCH patients (SQLite's single write lock stays short)."""
    from sqlalchemy import event, func

    from companion.accounts.models import Clinic
    from companion.reminders.models import ReminderKind
    from companion.reminders.service import SCHEDULE_BATCH
    from tests.factories import make_patient

    async with db.reading() as session:
        north = await session.get_one(Clinic, personas.north_id)
    for index in range(SCHEDULE_BATCH + 7):
        await make_patient(db, north, f"many{index}@x.example", f"Many {index}", [personas.carol])
    per_transaction: list[int] = [0]  # schedule inserts in each committed transaction

    def count_insert(_conn, _cursor, statement, *_args) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO REMINDER_SCHEDULE"):
            per_transaction[-1] += 1

    def next_transaction(_connection) -> None:
        per_transaction.append(0)

    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count_insert)
    event.listen(engine, "commit", next_transaction)
    try:
        await sweep_reminders(db, datetime.now(UTC))
    finally:
        event.remove(engine, "before_cursor_execute", count_insert)
        event.remove(engine, "commit", next_transaction)
    async with db.reading() as session:
        patients = (await session.execute(select(func.count()).select_from(Patient))).scalar_one()
        schedules = (await session.execute(select(func.count()).select_from(ReminderSchedule))).scalar_one()
    assert schedules == patients * len(ReminderKind)
    filled = [n for n in per_transaction if n]
    assert len(filled) >= 2 and max(filled) <= SCHEDULE_BATCH * len(ReminderKind)
