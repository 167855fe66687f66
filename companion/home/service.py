"""What the patient's Today and History pages show: read-only queries over their own data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from companion.accounts.models import Clinic, Patient
from companion.alerts.models import Alert
from companion.alerts.service import latest_for_patient
from companion.checkins.models import CheckIn
from companion.checkins.service import checkin_days, recent_moods
from companion.db import one_of, utcnow
from companion.journal.models import JournalEntry
from companion.journal.service import PROMPTS, prompt_due
from companion.questionnaires.service import due_questionnaires
from companion.treatments.models import SessionPrep, SessionReflection, SessionStatus, TreatmentSession
from companion.treatments.prep import FastingWindow, fasting_window, prep_open
from companion.treatments.service import next_session

STRIP_DAYS = 14
ALERT_STATUS_DAYS = 14
HISTORY_PAGE = 20


@dataclass(frozen=True)
class MoodDay:
    day: date
    mood: int | None


@dataclass
class TodayView:
    patient: Patient
    clinic: Clinic
    today: date
    checkin_done: bool
    next_session: TreatmentSession | None
    session_tomorrow: bool
    journal_prompt: tuple[str, str] | None
    reflections_due: list[TreatmentSession]
    strip: list[MoodDay]
    streak: int
    alert: Alert | None = None
    due_questionnaires: list[str] = field(default_factory=list)
    prep_due: bool = False  # the next session's checklist is open and not answered yet
    prep_done: bool = False
    fasting: FastingWindow | None = None  # the clinic's fasting window for the next session


@dataclass(frozen=True)
class TimelineItem:
    kind: str  # checkin, journal, reflection, session
    at: datetime
    item: Any


@dataclass
class HistoryPage:
    items: list[TimelineItem] = field(default_factory=list)
    next_before: datetime | None = None


def streak_length(days_with_checkin: set[date], today: date) -> int:
    """Consecutive days with a check-in, ending today (or yesterday if today is not done yet)."""
    day = today if today in days_with_checkin else today - timedelta(days=1)
    count = 0
    while day in days_with_checkin:
        count += 1
        day -= timedelta(days=1)
    return count


async def today_view(session: AsyncSession, patient_id: int) -> TodayView:
    patient, clinic = (await session.execute(_patient_and_clinic_query(), {"patient_id": patient_id})).one()
    now = utcnow()
    today = now.astimezone(ZoneInfo(patient.timezone)).date()
    moods = await recent_moods(session, patient.id, today - timedelta(days=STRIP_DAYS))
    upcoming = await next_session(session, patient.id, now)
    recent = await _recent_sessions(session, patient.id, now)
    prep_done = await _prep_done(session, upcoming, patient.timezone, now)
    return TodayView(
        patient=patient,
        clinic=clinic,
        today=today,
        checkin_done=today in moods,
        next_session=upcoming,
        session_tomorrow=bool(upcoming)
        and upcoming.scheduled_at.astimezone(ZoneInfo(patient.timezone)).date() == today + timedelta(days=1),
        journal_prompt=await _journal_prompt(session, patient, recent, today),
        reflections_due=await _reflections_due(session, patient.id, recent),
        strip=[
            MoodDay(today - timedelta(days=n), moods.get(today - timedelta(days=n)))
            for n in range(STRIP_DAYS - 1, -1, -1)
        ],
        streak=await _streak(session, patient.id, today, moods),
        alert=await latest_for_patient(session, patient.id, now - timedelta(days=ALERT_STATUS_DAYS)),
        due_questionnaires=await due_questionnaires(session, patient, clinic, now),
        prep_due=prep_done is False,
        prep_done=prep_done is True,
        fasting=fasting_window(clinic.settings, upcoming.route) if upcoming else None,
    )


async def _streak(session: AsyncSession, patient_id: int, today: date, recent: dict[date, int]) -> int:
    """The streak from the mood strip's days when it ends inside them (no query); otherwise from
    every check-in day."""
    streak = streak_length(set(recent), today)
    if streak < STRIP_DAYS - 1:  # a day inside the strip's window broke it
        return streak
    return streak_length(await checkin_days(session, patient_id, today), today)


async def _prep_done(session: AsyncSession, upcoming: TreatmentSession | None, zone: str, now: datetime) -> bool | None:
    """Whether the next session's checklist is answered; None (and no query) while it is not open."""
    if upcoming is None or not prep_open(upcoming, zone, now):
        return None
    found = await session.execute(select(SessionPrep.id).where(SessionPrep.treatment_session_id == upcoming.id))
    return found.first() is not None


@cache
def _patient_and_clinic_query() -> Select[Any]:
    """Built once, like the others Today runs on every visit: building a statement costs more
    than running it."""
    return (
        select(Patient, Clinic)
        .join(Clinic, Clinic.id == Patient.clinic_id)
        .where(Patient.id == bindparam("patient_id"))
    )


@cache
def _recent_sessions_query() -> Select[Any]:
    return select(TreatmentSession).where(
        TreatmentSession.patient_id == bindparam("patient_id"),
        TreatmentSession.scheduled_at <= bindparam("now"),
        TreatmentSession.scheduled_at >= bindparam("since"),
        one_of(TreatmentSession.status, (SessionStatus.ATTENDED, SessionStatus.SCHEDULED)),
    )


async def _recent_sessions(session: AsyncSession, patient_id: int, now: datetime) -> list[TreatmentSession]:
    params = {"patient_id": patient_id, "now": now, "since": now - timedelta(days=8)}
    return list((await session.execute(_recent_sessions_query(), params)).scalars())


async def _journal_prompt(
    session: AsyncSession, patient: Patient, recent: list[TreatmentSession], today: date
) -> tuple[str, str] | None:
    due = prompt_due([s.scheduled_at for s in recent], patient.timezone, today)
    if due is None:
        return None
    written = (
        await session.execute(
            select(JournalEntry.id).where(JournalEntry.patient_id == patient.id, JournalEntry.local_date == today)
        )
    ).first()
    return None if written else (due[1], PROMPTS[due[1]])


async def _reflections_due(
    session: AsyncSession, patient_id: int, recent: list[TreatmentSession]
) -> list[TreatmentSession]:
    if not recent:
        return []
    done = set(
        (
            await session.execute(
                select(SessionReflection.treatment_session_id).where(
                    SessionReflection.patient_id == patient_id,
                    SessionReflection.treatment_session_id.in_([s.id for s in recent]),
                )
            )
        ).scalars()
    )
    return [s for s in recent if s.id not in done]


async def history_page(session: AsyncSession, patient_id: int, before: datetime | None) -> HistoryPage:
    """One page of everything the patient logged or attended, newest first (keyset paging)."""
    sources = [
        ("checkin", CheckIn, CheckIn.created_at),
        ("journal", JournalEntry, JournalEntry.created_at),
        ("reflection", SessionReflection, SessionReflection.created_at),
        ("session", TreatmentSession, TreatmentSession.scheduled_at),
    ]
    items: list[TimelineItem] = []
    for kind, model, column in sources:
        query = select(model).where(model.patient_id == patient_id)  # type: ignore[attr-defined]
        if kind == "session":
            query = query.where(column <= utcnow())
        if before is not None:
            query = query.where(column < before)
        for row in (await session.execute(query.order_by(column.desc()).limit(HISTORY_PAGE + 1))).scalars():
            items.append(TimelineItem(kind, getattr(row, column.key), row))
    items.sort(key=lambda item: item.at, reverse=True)
    page = items[:HISTORY_PAGE]
    more = len(items) > HISTORY_PAGE
    return HistoryPage(page, page[-1].at if more and page else None)
