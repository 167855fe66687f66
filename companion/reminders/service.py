"""The reminder sweep and the patient's reminder settings.

Contract of ``sweep_reminders(db, settings, now)``: one write transaction per batch that

- creates the missing schedules of activated patients (one per kind, from the patient's reminder time);
- re-derives the next due instant of schedules whose patient changed zone (future occurrences move,
  no local date is served twice: ``schedule.next_occurrence`` with the last served date);
- claims due daily schedules (PostgreSQL ``FOR UPDATE SKIP LOCKED``; SQLite writes are serial),
  lists what fell due since their last run and applies the downtime policy (``catch_up_plan``:
  on time or late within grace → sent once; older → recorded missed, never a burst);
- derives the session reminders (day before, two hours before, journal prompts, next-day check)
  from treatment sessions around now, with the same policy.

Every occurrence is recorded once under the unique (schedule, local date) key with
``INSERT … ON CONFLICT DO NOTHING``; only the transaction that inserted it queues its outbox
message (``reminder:<occurrence id>:<channel>``). So each occurrence is sent at most once, whatever
the number of workers, restarts or DST transitions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from companion.accounts.models import Clinic, Patient, User
from companion.checkins.models import CheckIn
from companion.db import Database, utcnow
from companion.notify.delivery_models import NotificationPreference, PushSubscription
from companion.notify.kick import mark_queued
from companion.notify.models import OutboxMessage, OutboxStatus
from companion.questionnaires.service import due_questionnaires
from companion.reminders import schedule as maths
from companion.reminders.models import DAILY_KINDS, OccurrenceStatus, ReminderKind, ReminderOccurrence, ReminderSchedule
from companion.treatments.models import SessionStatus, TreatmentSession

SIDE_EFFECT_TIME = time(10, 0)
SOON_HOURS = 2
SESSION_KINDS = (ReminderKind.SESSION_PREP, ReminderKind.SESSION_SOON, ReminderKind.JOURNAL, ReminderKind.SIDE_EFFECTS)
LOOKBACK = timedelta(days=9)  # the last journal prompt comes 7 days after a session
LOOKAHEAD = timedelta(days=2)  # the day-before prep of a session the day after tomorrow


@dataclass(frozen=True)
class SweepResult:
    sent: int = 0
    late: int = 0
    missed: int = 0
    skipped: int = 0

    def __add__(self, other: SweepResult) -> SweepResult:
        return SweepResult(
            self.sent + other.sent, self.late + other.late, self.missed + other.missed, self.skipped + other.skipped
        )


SCHEDULE_BATCH = 50  # patients given their schedules per write transaction
SCHEDULE_ROUNDS = 100  # per sweep; the next sweep goes on from there


def default_time(kind: str, patient: Patient) -> time:
    return SIDE_EFFECT_TIME if kind == ReminderKind.SIDE_EFFECTS else patient.reminder_time


def first_due(row: ReminderSchedule, after: datetime) -> None:
    """Set a daily schedule's next occurrence to the first one after ``after`` (quiet hours applied)."""
    occurrence = maths.next_occurrence(row.local_time, row.zone, after, after_local_date=row.last_local_date)
    row.next_local_date, row.next_due_at = occurrence.local_date, _quiet(row, occurrence.due_utc)


def _quiet(row: ReminderSchedule, due: datetime) -> datetime:
    if row.quiet_start is None or row.quiet_end is None:
        return due
    return maths.apply_quiet_hours(due, row.zone, row.quiet_start, row.quiet_end)


async def sweep_reminders(
    db: Database, now: datetime | None = None, *, grace: timedelta = maths.DAILY_GRACE, batch: int = 500
) -> SweepResult:
    """Run one sweep at ``now``; returns what it recorded."""
    now = now or utcnow()
    for _round in range(SCHEDULE_ROUNDS):  # small transactions: SQLite's one write lock is never held long
        async with db.writing() as session:
            created = await _create_missing(session, now, SCHEDULE_BATCH)
        if created < SCHEDULE_BATCH:
            break
    async with db.writing() as session:
        await _follow_zone_changes(session, now)
    total = SweepResult()
    while True:
        async with db.writing() as session:
            result, claimed = await _daily(session, now, grace, batch)
        total += result
        if claimed < batch:
            break
    async with db.writing() as session:
        total += await _session_reminders(session, now, grace)
    return total


# --- Schedules ---------------------------------------------------------------------------------------


async def _create_missing(session: AsyncSession, now: datetime, limit: int) -> int:
    """Schedules for up to ``limit`` activated patients who lack some; how many patients it served."""
    missing = (
        select(Patient)
        .where(
            Patient.activated_at.is_not(None),
            select(func.count()).where(ReminderSchedule.patient_id == Patient.id).scalar_subquery() < len(ReminderKind),
        )
        .limit(limit)
    )
    patients = list((await session.execute(missing)).scalars())
    for patient in patients:
        await _insert_schedules(session, patient, now)
    return len(patients)


async def _insert_schedules(session: AsyncSession, patient: Patient, now: datetime) -> None:
    for kind in ReminderKind:
        values = dict(
            clinic_id=patient.clinic_id,
            patient_id=patient.id,
            kind=kind,
            local_time=default_time(kind, patient),
            zone=patient.timezone,
            enabled=True,
            created_at=now,
            updated_at=now,
        )
        if kind in DAILY_KINDS:
            occurrence = maths.next_occurrence(values["local_time"], patient.timezone, now)
            values.update(next_local_date=occurrence.local_date, next_due_at=occurrence.due_utc)
        await _insert_ignore(session, ReminderSchedule, values, ("patient_id", "kind"))


async def ensure_schedules(db: Database, patient_id: int) -> list[ReminderSchedule]:
    """The patient's schedules, created if missing. One transaction."""
    async with db.writing() as session:
        patient = await session.get_one(Patient, patient_id)
        await _insert_schedules(session, patient, utcnow())
        rows = (
            await session.execute(select(ReminderSchedule).where(ReminderSchedule.patient_id == patient_id))
        ).scalars()
        return sorted(rows, key=lambda r: list(ReminderKind).index(ReminderKind(r.kind)))


async def _follow_zone_changes(session: AsyncSession, now: datetime) -> None:
    """A patient who moved: future occurrences follow the new zone; no local date is served twice."""
    moved = (
        select(ReminderSchedule, Patient.timezone)
        .join(Patient, Patient.id == ReminderSchedule.patient_id)
        .where(ReminderSchedule.zone != Patient.timezone)
        .with_for_update(of=ReminderSchedule, skip_locked=True)
    )
    for row, zone in (await session.execute(moved)).all():
        row.zone, row.updated_at = zone, now
        if row.kind in DAILY_KINDS and row.enabled:
            # From the last served occurrence, not from now: an occurrence of the new zone that is
            # already due is then handled by the catch-up policy like any other.
            last_due = await session.scalar(
                select(ReminderOccurrence.due_at)
                .where(ReminderOccurrence.schedule_id == row.id)
                .order_by(ReminderOccurrence.local_date.desc())
                .limit(1)
            )
            first_due(row, min(last_due or now, now))


# --- Daily check-in -----------------------------------------------------------------------------------


async def _daily(session: AsyncSession, now: datetime, grace: timedelta, batch: int) -> tuple[SweepResult, int]:
    due = (
        select(ReminderSchedule)
        .where(
            ReminderSchedule.enabled.is_(True),
            ReminderSchedule.next_due_at <= now,
            ReminderSchedule.kind.in_(DAILY_KINDS),
        )
        .order_by(ReminderSchedule.next_due_at)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    rows = list((await session.execute(due)).scalars())
    plans = [plan for row in rows for plan in _run_daily(row, now, grace)]
    return await _record_all(session, plans, now), len(rows)


Plan = tuple[ReminderSchedule, maths.Occurrence, str]


def _run_daily(row: ReminderSchedule, now: datetime, grace: timedelta) -> list[Plan]:
    """What fell due for this schedule up to ``now``, with the catch-up verdicts; advances the schedule."""
    assert row.next_due_at is not None and row.next_local_date is not None
    occurrences = [maths.Occurrence(row.next_local_date, row.next_due_at)]
    while True:
        last = occurrences[-1]
        following = maths.next_occurrence(
            row.local_time, row.zone, last.due_utc - timedelta(hours=36), after_local_date=last.local_date
        )
        following = maths.Occurrence(following.local_date, _quiet(row, following.due_utc))
        if following.due_utc > now:
            break
        occurrences.append(following)
    plans = [(row, occurrence, verdict) for occurrence, verdict in maths.catch_up_plan(occurrences, now, grace)]
    row.last_local_date = occurrences[-1].local_date
    row.next_local_date, row.next_due_at = following.local_date, following.due_utc
    return plans


# --- Session reminders ------------------------------------------------------------------------------


async def _session_reminders(session: AsyncSession, now: datetime, grace: timedelta) -> SweepResult:
    sessions = (
        select(TreatmentSession, Patient)
        .join(Patient, Patient.id == TreatmentSession.patient_id)
        .where(
            TreatmentSession.scheduled_at.between(now - LOOKBACK, now + LOOKAHEAD),
            TreatmentSession.status != SessionStatus.CANCELLED,
            Patient.activated_at.is_not(None),
        )
    )
    found = (await session.execute(sessions)).all()
    if not found:
        return SweepResult()
    schedules = {
        (row.patient_id, row.kind): row
        for row in (
            await session.execute(
                select(ReminderSchedule).where(
                    ReminderSchedule.patient_id.in_({p.id for _, p in found}), ReminderSchedule.kind.in_(SESSION_KINDS)
                )
            )
        ).scalars()
    }
    plans: dict[tuple[int, date], Plan] = {}
    for treatment, patient in found:
        for kind in SESSION_KINDS:
            row = schedules.get((patient.id, kind))
            if row is None or not row.enabled:
                continue
            for occurrence in _session_occurrences(kind, treatment, row):
                # Only what fell due since the schedule existed: enrolling is not a downtime.
                if row.created_at < occurrence.due_utc <= now:
                    verdict = maths.catch_up(occurrence.due_utc, now, grace)
                    plans.setdefault((row.id, occurrence.local_date), (row, occurrence, verdict))
    return await _record_all(session, list(plans.values()), now)


def _session_occurrences(kind: str, treatment: TreatmentSession, row: ReminderSchedule) -> list[maths.Occurrence]:
    start, zone = treatment.scheduled_at, row.zone
    if kind == ReminderKind.SESSION_PREP:
        return [maths.day_before_at(start, zone, row.local_time)] if treatment.status == SessionStatus.SCHEDULED else []
    if kind == ReminderKind.SESSION_SOON:
        if treatment.status != SessionStatus.SCHEDULED:
            return []
        due = maths.hours_before(start, SOON_HOURS)
        return [maths.Occurrence(maths.local_date_of(due, zone), due)]
    if treatment.status == SessionStatus.MISSED:
        return []
    if kind == ReminderKind.JOURNAL:
        return [
            maths.Occurrence(o.local_date, _quiet(row, o.due_utc))
            for o in maths.journal_prompt_times(start, zone, row.local_time)
        ]
    occurrence = maths.next_day_at(start, zone, row.local_time)
    return [maths.Occurrence(occurrence.local_date, _quiet(row, occurrence.due_utc))]


# --- Recording an occurrence -------------------------------------------------------------------------


@dataclass
class _Facts:
    """What deciding a batch of occurrences needs, in four queries instead of several per occurrence."""

    users: dict[int, tuple[int, bool, str | None]]  # patient id -> (user id, active, e-mail)
    prefs: dict[int, tuple[bool, bool]]  # user id -> (push on, e-mail on)
    devices: set[int]  # user ids with a working push subscription
    checkins: set[tuple[int, date]]  # (patient id, local date) with a check-in
    questionnaire_due: set[int]  # patients with a PHQ-9 or GAD-7 due (questionnaires.service)

    @classmethod
    async def load(cls, session: AsyncSession, plans: list[Plan], now: datetime) -> _Facts:
        patient_ids = {row.patient_id for row, _, _ in plans}
        dates = {occurrence.local_date for _, occurrence, _ in plans}
        users = {
            pid: (uid, active, email)
            for pid, uid, active, email in (
                await session.execute(
                    select(Patient.id, User.id, User.active, User.email)
                    .join(User, User.id == Patient.user_id)
                    .where(Patient.id.in_(patient_ids))
                )
            ).all()
        }
        user_ids = {uid for uid, _, _ in users.values()}
        prefs = {
            uid: (push, email)
            for uid, push, email in (
                await session.execute(
                    select(
                        NotificationPreference.user_id,
                        NotificationPreference.push_enabled,
                        NotificationPreference.email_enabled,
                    ).where(NotificationPreference.user_id.in_(user_ids))
                )
            ).all()
        }
        devices = set(
            (
                await session.execute(
                    select(PushSubscription.user_id).where(
                        PushSubscription.user_id.in_(user_ids), PushSubscription.disabled_at.is_(None)
                    )
                )
            ).scalars()
        )
        checkins = {
            (pid, day)
            for pid, day in (
                await session.execute(
                    select(CheckIn.patient_id, CheckIn.local_date).where(
                        CheckIn.patient_id.in_(patient_ids), CheckIn.local_date.in_(dates)
                    )
                )
            ).all()
        }
        asking = {row.patient_id for row, _, _ in plans if row.kind == ReminderKind.QUESTIONNAIRE}
        return cls(users, prefs, devices, checkins, await _questionnaires_due(session, asking, now))

    def channel(self, patient_id: int) -> str | None:
        """Push when the patient has a working device and push on; else e-mail when the fallback is on."""
        user_id, active, email = self.users.get(patient_id, (0, False, None))
        if not active:
            return None
        push_on, email_on = self.prefs.get(user_id, (True, False))
        if push_on and user_id in self.devices:
            return "push"
        return "email" if email_on and email else None


async def _record_all(session: AsyncSession, plans: list[Plan], now: datetime) -> SweepResult:
    """Record every planned occurrence once (INSERT … ON CONFLICT DO NOTHING) and queue the new ones to send."""
    plans = [plan for plan in plans if plan[2] != "not_due"]
    if not plans:
        return SweepResult()
    facts = await _Facts.load(session, plans, now)
    decided = {
        (row.id, occurrence.local_date): (row, _decide(facts, row, occurrence, verdict))
        for row, occurrence, verdict in plans
    }
    values = []
    for row, occurrence, _ in plans:
        status, reason, _channel = decided[(row.id, occurrence.local_date)][1]
        values.append(
            dict(
                clinic_id=row.clinic_id,
                schedule_id=row.id,
                local_date=occurrence.local_date,
                due_at=occurrence.due_utc,
                status=status,
                reason=reason,
                created_at=now,
            )
        )
    inserted = await _insert_new_occurrences(session, values)
    counts = dict.fromkeys(OccurrenceStatus, 0)
    messages = []
    for occurrence_id, schedule_id, local_date in inserted:
        row, (status, _, channel) = decided[(schedule_id, local_date)]
        counts[OccurrenceStatus(status)] += 1
        if channel is not None:
            messages.append(
                {
                    "clinic_id": row.clinic_id,
                    "kind": "reminder",
                    "reminder_occurrence_id": occurrence_id,
                    "channel": channel,
                    "recipient_id": facts.users[row.patient_id][0],
                    "status": OutboxStatus.PENDING,
                    "attempts": 0,
                    "available_at": now,
                    "created_at": now,
                    "dedupe_key": f"reminder:{occurrence_id}:{channel}",
                }
            )
    if messages:
        # Core executemany: thousands of rows per sweep need no ORM objects or primary keys back.
        await session.execute(insert(OutboxMessage.__table__), messages)
        mark_queued(session)
    return SweepResult(
        counts[OccurrenceStatus.SENT],
        counts[OccurrenceStatus.SENT_LATE],
        counts[OccurrenceStatus.MISSED],
        counts[OccurrenceStatus.SKIPPED],
    )


async def _questionnaires_due(session: AsyncSession, patient_ids: set[int], now: datetime) -> set[int]:
    """Patients with a PHQ-9 or GAD-7 due now (the questionnaires' own interval rule)."""
    due = set()
    for patient in (await session.execute(select(Patient).where(Patient.id.in_(patient_ids)))).scalars():
        clinic = await session.get_one(Clinic, patient.clinic_id)
        if await due_questionnaires(session, patient, clinic, now):
            due.add(patient.id)
    return due


def _decide(
    facts: _Facts, row: ReminderSchedule, occurrence: maths.Occurrence, verdict: str
) -> tuple[str, str, str | None]:
    """(status, reason, channel to queue on or None)."""
    if verdict == "missed":
        return OccurrenceStatus.MISSED, "late beyond grace", None
    if maths.is_paused(occurrence.local_date, row.paused_until):
        return OccurrenceStatus.SKIPPED, "paused", None
    if row.kind == ReminderKind.CHECKIN and (row.patient_id, occurrence.local_date) in facts.checkins:
        return OccurrenceStatus.SKIPPED, "already done", None
    if row.kind == ReminderKind.QUESTIONNAIRE and row.patient_id not in facts.questionnaire_due:
        return OccurrenceStatus.SKIPPED, "not due", None
    channel = facts.channel(row.patient_id)
    if channel is None:
        return OccurrenceStatus.SKIPPED, "no channel", None
    status = OccurrenceStatus.SENT if verdict == "send" else OccurrenceStatus.SENT_LATE
    return status, "", channel


async def _insert_new_occurrences(session: AsyncSession, values: list[dict[str, Any]]) -> list[tuple[int, int, date]]:
    """Multi-row INSERT … ON CONFLICT (schedule, local date) DO NOTHING RETURNING: only the rows this call created."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert_ignoring = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = ReminderOccurrence.__table__  # Core: no ORM bookkeeping per row
    created: list[tuple[int, int, date]] = []
    for start in range(0, len(values), 400):  # stay far below SQLite's bound-parameter limit
        statement = (
            insert_ignoring(table)
            .values(values[start : start + 400])
            .on_conflict_do_nothing(index_elements=["schedule_id", "local_date"])
            .returning(table.c.id, table.c.schedule_id, table.c.local_date)
        )
        created.extend((r[0], r[1], r[2]) for r in (await session.execute(statement)).all())
    return created


async def _insert_ignore(
    session: AsyncSession, model: Any, values: dict[str, Any], keys: tuple[str, ...]
) -> int | None:
    """INSERT … ON CONFLICT (keys) DO NOTHING RETURNING id: the new id, or None when the row existed."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert_ignoring = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert_ignoring(model).values(**values).on_conflict_do_nothing(index_elements=list(keys)).returning(model.id)
    )
    return (await session.execute(statement)).scalar_one_or_none()


# --- Patient settings --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReminderSettingsInput:
    local_time: time
    quiet_start: time | None
    quiet_end: time | None
    paused_until: date | None
    enabled_kinds: frozenset[str]


async def update_settings(db: Database, patient_id: int, data: ReminderSettingsInput) -> None:
    """Apply the patient's choices to every schedule and re-derive the next check-in. One transaction."""
    await ensure_schedules(db, patient_id)
    now = utcnow()
    async with db.writing() as session:
        patient = await session.get_one(Patient, patient_id)
        patient.reminder_time = data.local_time
        rows = (
            await session.execute(select(ReminderSchedule).where(ReminderSchedule.patient_id == patient_id))
        ).scalars()
        for row in rows:
            if row.kind != ReminderKind.SIDE_EFFECTS:
                row.local_time = data.local_time
            row.quiet_start, row.quiet_end, row.paused_until = data.quiet_start, data.quiet_end, data.paused_until
            row.enabled, row.updated_at, row.zone = row.kind in data.enabled_kinds, now, patient.timezone
            if row.kind in DAILY_KINDS:
                first_due(row, now)


__all__ = ["SweepResult", "ensure_schedules", "sweep_reminders", "update_settings"]
