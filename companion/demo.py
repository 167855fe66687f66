"""A throw-away demo clinic with about 90 days of plausible history (`companion demo`).

The history is planned first, as plain data, by pure functions driven by ``random.Random`` - so a
seed always gives the same moods, sessions and notes - and only then written as rows. Each
patient draws from their own generator (seeded with the run seed and their login), so adding or
reordering patients does not change anyone else's history.

The history does not go through the services (no idempotency keys, no alert rules): the rows are
what those services would have stored, written in a few batched transactions to stay fast. Weekly
PHQ-9s (from the enrolment baseline on) and fortnightly GAD-7s follow each patient's planned moods.
Then, as the last step, two entries are made "now" through the real entry services, so the
triage dashboard and the alert inbox open with live alerts raised by the rules themselves.
"""

from __future__ import annotations

import math
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from statistics import fmean
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from companion.accounts.auth import CurrentUser
from companion.accounts.invitations import CONSENT_PURPOSE, CONSENT_TEXT_VERSION
from companion.accounts.models import CareTeamMember, Clinic, Consent, Patient, Role, User
from companion.accounts.passwords import hash_password
from companion.checkins.forms import CheckInInput
from companion.checkins.models import CheckIn, CheckInSideEffect, SafetyAnswer
from companion.checkins.service import record_checkin
from companion.clinic.models import TreatmentPlan
from companion.db import Database, utcnow
from companion.journal.models import JournalEntry
from companion.questionnaires.instruments import GAD7, PHQ9, Instrument
from companion.questionnaires.models import QuestionnaireResponse
from companion.questionnaires.scoring import score_phq9
from companion.questionnaires.service import record_response, scored_fields
from companion.treatments.models import (
    NasalSpray,
    Phase,
    Route,
    SessionPrep,
    SessionReflection,
    SessionStatus,
    TreatmentSession,
)
from companion.treatments.prep import prep_opens_at

_T = TypeVar("_T", int, float, datetime)

TIMEZONE = "America/New_York"
HISTORY_DAYS = 90
REMINDER_TIME = time(19, 0)
CLINIC_HOURS = {day: ["09:00", "17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
# No 0/O, 1/l/I: the password is read off a terminal and typed on a phone.
PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # noqa: S105 - letters for demo passwords, not a secret


class Trajectory(StrEnum):
    RESPONDER = "responder"  # mood ~3 rising to ~7
    NON_RESPONDER = "non_responder"  # flat ~3
    PARTIAL_FADING = "partial_fading"  # early lift that wears off
    WORSENING = "worsening"  # steady decline, occasional passive thoughts of death


@dataclass(frozen=True)
class StaffSpec:
    role: Role
    name: str
    login: str


@dataclass(frozen=True)
class PatientSpec:
    name: str
    trajectory: Trajectory
    route: Route = Route.ESKETAMINE_NASAL
    primary: str = "carol@demo.clinic"
    also: str | None = None  # a second, non-primary clinician on the care team
    urinary: bool = False  # reports new urinary symptoms in maintenance
    tracks_bp: bool = False  # takes home blood pressure before sessions
    engagement: float = 0.5  # how often they write reflections and journal entries
    adherence: float = 0.88  # share of days with a check-in

    @property
    def login(self) -> str:
        return f"{self.name.split()[0].lower()}@demo.patient"


STAFF = (
    StaffSpec(Role.ADMIN, "Ada Admin", "ada@demo.clinic"),
    StaffSpec(Role.CLINICIAN, "Carol Clinician", "carol@demo.clinic"),
    StaffSpec(Role.CLINICIAN, "Dave Doctor", "dave@demo.clinic"),
)

DAVE = "dave@demo.clinic"  # Carol is everyone else's primary clinician (the PatientSpec default)
PATIENTS = (
    PatientSpec("Alice Avery", Trajectory.RESPONDER, tracks_bp=True, engagement=0.7),
    PatientSpec("Bob Brooks", Trajectory.RESPONDER, also=DAVE, adherence=0.82),
    PatientSpec("Chloe Chen", Trajectory.NON_RESPONDER, tracks_bp=True, engagement=0.3),
    PatientSpec("Daniel Diaz", Trajectory.NON_RESPONDER, primary=DAVE, adherence=0.8, engagement=0.2),
    PatientSpec("Emma Evans", Trajectory.RESPONDER, engagement=0.8, adherence=0.93),
    PatientSpec("Felix Fischer", Trajectory.PARTIAL_FADING, tracks_bp=True),
    PatientSpec("Grace Green", Trajectory.WORSENING, also=DAVE, adherence=0.8, engagement=0.4),
    PatientSpec("Henry Hughes", Trajectory.RESPONDER, route=Route.IV, primary=DAVE, tracks_bp=True),
    PatientSpec("Isla Ito", Trajectory.RESPONDER, engagement=0.6),
    PatientSpec("Jamal Jones", Trajectory.NON_RESPONDER, primary=DAVE, engagement=0.3),
    PatientSpec("Kara King", Trajectory.RESPONDER, urinary=True, adherence=0.9),
    PatientSpec("Leo Lopez", Trajectory.NON_RESPONDER, route=Route.IV, primary=DAVE, tracks_bp=True),
)
# Patients whose missed / cancelled session makes the schedule look lived-in.
MISSES_A_SESSION = "grace@demo.patient"
CANCELS_A_SESSION = "jamal@demo.patient"


@dataclass
class DemoLogin:
    role: str
    name: str
    login: str


@dataclass
class DemoClinic:
    password: str
    logins: list[DemoLogin]


# --- the plan: plain data, no database -------------------------------------------------------------


@dataclass(frozen=True)
class CheckInPlan:
    local_date: date
    created_at: datetime
    mood: int
    anxiety: int
    energy: int
    sleep_hours: float
    sleep_quality: int
    safety: str
    side_effects: dict[str, int]
    bp: tuple[int, int] | None
    note: str


@dataclass(frozen=True)
class JournalPlan:
    local_date: date
    created_at: datetime
    prompt_key: str | None
    body: str
    shared: bool


@dataclass(frozen=True)
class ReflectionPlan:
    created_at: datetime
    feeling: int
    body: str
    shared: bool


@dataclass(frozen=True)
class SessionPlan:
    scheduled_at: datetime
    phase: Phase
    status: SessionStatus
    reflection: ReflectionPlan | None = None
    journal: list[JournalPlan] = field(default_factory=list)


@dataclass(frozen=True)
class PatientPlan:
    spec: PatientSpec
    invited_at: datetime
    activated_at: datetime
    checkins: list[CheckInPlan]
    sessions: list[SessionPlan]
    free_journal: list[JournalPlan]


def plan_histories(today: date, *, seed: int = 7, as_of: datetime | None = None) -> list[PatientPlan]:
    """Every patient's history up to ``as_of`` (default: the end of ``today``); deterministic."""
    tz = ZoneInfo(TIMEZONE)
    as_of = as_of or _local(today, time(23, 59), tz)
    return [_plan_patient(spec, random.Random(f"{seed}:{spec.login}"), today, as_of, tz) for spec in PATIENTS]


def _plan_patient(spec: PatientSpec, rng: random.Random, today: date, as_of: datetime, tz: ZoneInfo) -> PatientPlan:
    enrolled_on = today - timedelta(days=rng.randint(HISTORY_DAYS - 4, HISTORY_DAYS - 1))
    # A few baseline days before the first session (PHQ-9 baseline). IV series start on a Monday so
    # Mon/Wed/Fri stays on weekdays; nasal spray on a Monday or Tuesday (Mon/Thu or Tue/Fri).
    weekdays = (0,) if spec.route == Route.IV else (0, 1)
    first_session = _next_weekday(enrolled_on + timedelta(days=3), rng.choice(weekdays))
    slots = (time(11, 0),) if spec.route == Route.IV else (time(9, 0), time(10, 30), time(13, 0), time(14, 30))
    slot = rng.choice(slots)
    schedule = _schedule(spec.route, first_session, until=today + timedelta(days=45))
    schedule = _booked(schedule, slot, as_of, tz, future=rng.choice((1, 2)))
    statuses = _statuses(spec, rng, schedule, slot, as_of, tz)
    attended = {day for (day, _), status in zip(schedule, statuses, strict=True) if status == SessionStatus.ATTENDED}

    checkins = _plan_checkins(spec, rng, enrolled_on, today, first_session, attended, schedule, tz)
    checkins = [c for c in checkins if c.created_at <= as_of]
    mood_by_day = {c.local_date: c.mood for c in checkins}
    sessions = [
        _plan_session(spec, rng, _local(day, slot, tz), phase, status, mood_by_day.get(day), as_of, tz)
        for (day, phase), status in zip(schedule, statuses, strict=True)
    ]
    free = [j for j in _plan_free_journal(spec, rng, enrolled_on, today, tz) if j.created_at <= as_of]
    activated_at = _local(enrolled_on, time(9, rng.randint(0, 59)), tz)
    return PatientPlan(spec, activated_at - timedelta(days=2), activated_at, checkins, sessions, free)


def _plan_session(
    spec: PatientSpec,
    rng: random.Random,
    at: datetime,
    phase: Phase,
    status: SessionStatus,
    mood: int | None,
    as_of: datetime,
    tz: ZoneInfo,
) -> SessionPlan:
    """A session, with the reflection and prompted journal entries that followed it (up to ``as_of``)."""
    if status != SessionStatus.ATTENDED:
        return SessionPlan(at, phase, status)
    reflection = _plan_reflection(spec, rng, at, mood)
    journal = _plan_session_journal(spec, rng, at.astimezone(tz).date(), tz)
    return SessionPlan(
        at,
        phase,
        status,
        reflection if reflection and reflection.created_at <= as_of else None,
        [j for j in journal if j.created_at <= as_of],
    )


def _schedule(route: Route, first: date, *, until: date) -> list[tuple[date, Phase]]:
    """Session days by week of treatment (clinical.md section 6; the clinic's plan, not a rule)."""
    days = []
    week = 0
    while (start := first + timedelta(weeks=week)) <= until:
        phase, offsets = _week_plan(route, week)
        days.extend((start + timedelta(days=offset), phase) for offset in offsets)
        week += 1
    return [(day, phase) for day, phase in days if day <= until]


def _week_plan(route: Route, week: int) -> tuple[Phase, tuple[int, ...]]:
    """Phase and day offsets within a treatment week (week 0 is the first)."""
    if route == Route.IV:
        # Six infusions over two weeks, boosters every 2 weeks, then every 4 (clinic practice varies).
        if week < 2:
            return Phase.INDUCTION, (0, 2, 4)
        if week < 8:
            return Phase.OPTIMISATION, (0,) if week % 2 == 0 else ()
        return Phase.MAINTENANCE, (0,) if (week - 8) % 4 == 0 else ()
    # Spravato: twice weekly weeks 1-4, weekly weeks 5-8, then every 2 weeks.
    if week < 4:
        return Phase.INDUCTION, (0, 3)
    if week < 8:
        return Phase.OPTIMISATION, (0,)
    return Phase.MAINTENANCE, (0,) if (week - 8) % 2 == 0 else ()


def _booked(
    schedule: list[tuple[date, Phase]], slot: time, as_of: datetime, tz: ZoneInfo, *, future: int
) -> list[tuple[date, Phase]]:
    """The past sessions and the next ``future`` ones: what the clinic has actually booked."""
    past = sum(1 for day, _ in schedule if _local(day, slot, tz) < as_of)
    return schedule[: past + future]


def _statuses(
    spec: PatientSpec, rng: random.Random, schedule: list[tuple[date, Phase]], slot: time, as_of: datetime, tz: ZoneInfo
) -> list[SessionStatus]:
    """Past sessions attended, future ones scheduled; one missed and one cancelled in the clinic."""
    statuses = [
        SessionStatus.ATTENDED if _local(day, slot, tz) < as_of else SessionStatus.SCHEDULED for day, _ in schedule
    ]
    after_induction = [
        i for i, (_, phase) in enumerate(schedule) if statuses[i] == SessionStatus.ATTENDED and phase != Phase.INDUCTION
    ]
    if after_induction and spec.login in (MISSES_A_SESSION, CANCELS_A_SESSION):
        chosen = rng.choice(after_induction)
        statuses[chosen] = SessionStatus.MISSED if spec.login == MISSES_A_SESSION else SessionStatus.CANCELLED
    return statuses


def _plan_checkins(
    spec: PatientSpec,
    rng: random.Random,
    enrolled_on: date,
    today: date,
    first_session: date,
    attended: set[date],
    schedule: list[tuple[date, Phase]],
    tz: ZoneInfo,
) -> list[CheckInPlan]:
    days = [enrolled_on + timedelta(days=n) for n in range((today - enrolled_on).days + 1)]
    missed = _missed_days(spec, rng, days, attended)
    bp_days = {day - timedelta(days=1) for day, _ in schedule}  # pre-session checklist asks for it
    curve = _mood_curve(spec.trajectory, rng)
    phase_by_day = dict(schedule)
    noise = 0.0
    checkins = []
    for day in days:
        # Day-to-day noise with memory (AR(1)): moods come in runs of good and bad days.
        noise = 0.6 * noise + rng.gauss(0, 0.65)
        if day in missed:
            continue
        treatment_day = (day - first_session).days
        after_session = day - timedelta(days=1) in attended
        lift = 0.4 if after_session and spec.trajectory != Trajectory.WORSENING else 0.0
        mood = _clamp(round(curve(treatment_day) + noise + lift), 0, 10)
        checkins.append(
            CheckInPlan(
                local_date=day,
                # Reminders go out at 19:00; most answer within the next couple of hours.
                created_at=_local(day, time(18, 30), tz) + timedelta(minutes=int(rng.triangular(0, 240, 50))),
                mood=mood,
                anxiety=_clamp(round(8.5 - 0.65 * mood + rng.gauss(0, 1.0)), 0, 10),
                energy=_clamp(round(mood - 0.5 - (1 if day in attended else 0) + rng.gauss(0, 1.0)), 0, 10),
                sleep_hours=_clamp(round(2 * (6.2 + 0.25 * (mood - 4) + rng.gauss(0, 0.7))) / 2, 3.5, 9.5),
                sleep_quality=_clamp(round(0.5 + 0.4 * mood + rng.gauss(0, 0.6)), 0, 4),
                safety=_safety(spec, rng, treatment_day, mood),
                side_effects=_side_effects(spec, rng, day, attended, phase_by_day, treatment_day),
                bp=_blood_pressure(rng) if spec.tracks_bp and (day in bp_days and rng.random() < 0.6) else None,
                note=_note(rng, mood, day in attended),
            )
        )
    return checkins


def _missed_days(spec: PatientSpec, rng: random.Random, days: list[date], attended: set[date]) -> set[date]:
    """A fixed share of days without a check-in, more often at weekends; never a treatment day.

    A fixed count (not a coin per day) keeps every seed well above 60 check-ins in 90 days.
    """
    candidates = [d for d in days if d not in attended]
    count = round((1 - spec.adherence) * len(days))

    def weight(index: int, day: date) -> float:
        w = 1.5 if day.weekday() >= 5 else 1.0
        if spec.trajectory == Trajectory.WORSENING:
            w *= 1 + 2 * index / len(candidates)  # disengaging as things get worse
        return rng.random() * w

    ranked = sorted(((weight(i, d), d) for i, d in enumerate(candidates)), reverse=True)
    return {day for _, day in ranked[:count]}


def _mood_curve(trajectory: Trajectory, rng: random.Random) -> Callable[[int], float]:
    """Expected mood by day of treatment (negative before the first session)."""
    baseline = rng.uniform(2.6, 3.4)
    if trajectory == Trajectory.RESPONDER:
        gain, onset = rng.uniform(3.6, 4.4), rng.uniform(6, 22)
        return lambda d: baseline + gain * _sigmoid((d - onset) / 4)
    if trajectory == Trajectory.NON_RESPONDER:
        return lambda d: baseline + 0.3 * _sigmoid((d - 10) / 4)
    if trajectory == Trajectory.PARTIAL_FADING:
        # A lift within days of the first sessions that wears off from week 5 (a "fading response").
        return lambda d: baseline + 2.6 * _sigmoid((d - 6) / 3) - 2.0 * _clamp((d - 28) / 50, 0.0, 1.0)
    start = baseline + 1.0
    return lambda d: start - 2.5 * _clamp((d + 5) / 85, 0.0, 1.0)


def _safety(spec: PatientSpec, rng: random.Random, treatment_day: int, mood: int) -> str:
    # Only the worsening patient ever reports passive thoughts of death, and only when low.
    if spec.trajectory == Trajectory.WORSENING and treatment_day > 35 and mood <= 2 and rng.random() < 0.3:
        return SafetyAnswer.PASSIVE.value
    return SafetyAnswer.NONE.value


def _side_effects(
    spec: PatientSpec,
    rng: random.Random,
    day: date,
    attended: set[date],
    phase_by_day: dict[date, Phase],
    treatment_day: int,
) -> dict[str, int]:
    """Effects mostly on the evening of a session (clinical.md section 5), fewer as tolerance builds."""
    effects: dict[str, int] = {}

    def maybe(code: str, chance: float, moderate: float = 0.0) -> None:
        if rng.random() < chance:
            effects[code] = 2 if rng.random() < moderate else 1

    if day in attended:
        f = 1.0 if phase_by_day.get(day) == Phase.INDUCTION else 0.6
        maybe("dissociation", 0.55 * f, moderate=0.3)
        maybe("nausea", 0.35 * f, moderate=0.25)
        maybe("dizziness", 0.4 * f)
        maybe("drowsiness", 0.35 * f)
        maybe("headache", 0.18)
        maybe("blurred_vision", 0.1 * f)
    elif day - timedelta(days=1) in attended:
        maybe("headache", 0.1)
        maybe("drowsiness", 0.08)
    else:
        maybe("headache", 0.04)
    if spec.urinary and treatment_day > 35:
        maybe("urinary", 0.15, moderate=0.2)
    return effects


def _blood_pressure(rng: random.Random) -> tuple[int, int]:
    systolic = _clamp(round(rng.gauss(127, 8)), 105, 152)
    diastolic = _clamp(round(rng.gauss(80, 6)), 62, min(96, systolic - 30))
    return systolic, diastolic


def _note(rng: random.Random, mood: int, session_day: bool) -> str:
    if session_day:
        return rng.choice(NOTES_SESSION) if rng.random() < 0.35 else ""
    if rng.random() >= 0.12:
        return ""
    return rng.choice(NOTES_LOW if mood <= 3 else NOTES_MID if mood <= 5 else NOTES_HIGH)


def _plan_reflection(
    spec: PatientSpec, rng: random.Random, session_at: datetime, mood: int | None
) -> ReflectionPlan | None:
    if rng.random() >= spec.engagement * 0.8:
        return None
    feeling = _clamp((mood if mood is not None else 4) + rng.randint(-1, 2), 0, 10)
    return ReflectionPlan(
        created_at=session_at + timedelta(hours=rng.uniform(3, 7)),
        feeling=feeling,
        body=rng.choice(REFLECTIONS),
        shared=rng.random() < 0.5,
    )


# Integration prompts are timed after each session: same evening, +1, +3 and +7 days.
PROMPTS_BY_DELAY = {
    0: ("stands_out", "images", "emotions"),
    1: ("emotions", "difficult"),
    3: ("matters", "small_step"),
    7: ("talk_to", "small_step"),
}


def _plan_session_journal(spec: PatientSpec, rng: random.Random, session_day: date, tz: ZoneInfo) -> list[JournalPlan]:
    entries = []
    for delay, keys in PROMPTS_BY_DELAY.items():
        if rng.random() < spec.engagement * 0.3:
            key = rng.choice(keys)
            entries.append(_journal_entry(rng, session_day + timedelta(days=delay), key, rng.choice(JOURNAL[key]), tz))
    return entries


def _plan_free_journal(
    spec: PatientSpec, rng: random.Random, start: date, today: date, tz: ZoneInfo
) -> list[JournalPlan]:
    """A few entries written without a prompt."""
    days = [start + timedelta(days=n) for n in range((today - start).days + 1)]
    count = round(spec.engagement * 4)
    return [_journal_entry(rng, day, None, rng.choice(FREE_WRITING), tz) for day in sorted(rng.sample(days, count))]


def _journal_entry(rng: random.Random, day: date, key: str | None, body: str, tz: ZoneInfo) -> JournalPlan:
    created_at = _local(day, time(20, 0), tz) + timedelta(minutes=rng.randint(0, 150))
    return JournalPlan(day, created_at, key, body, shared=rng.random() < 0.4)


# --- writing ------------------------------------------------------------------------------------------


async def build_demo(db: Database, *, today: date | None = None, seed: int = 7) -> DemoClinic:
    """Write the demo clinic into an empty database and return its logins and shared password."""
    tz = ZoneInfo(TIMEZONE)
    today = today or datetime.now(tz).date()
    # History stops at "now" on the real today (no check-ins from later tonight), at the end of a past day.
    as_of = _clamp(utcnow(), _local(today, time(0, 0), tz), _local(today, time(23, 59), tz))
    plans = plan_histories(today, seed=seed, as_of=as_of)
    password = _new_password()
    # One argon2 hash shared by every demo account: hashing ~15 times would cost seconds.
    password_hash = await hash_password(password)

    async with db.writing() as session:
        await _refuse_if_present(session)
        clinic_id, staff_ids, patients = await _write_accounts(session, plans, password_hash, today, tz)
    async with db.writing() as session:
        session.add_all(_checkin_rows(clinic_id, plans, patients))
    async with db.writing() as session:
        await _write_sessions_and_journal(session, clinic_id, staff_ids, plans, patients)
    async with db.writing() as session:
        await _write_plans_and_preps(session, clinic_id, staff_ids, plans, patients, as_of)
    async with db.writing() as session:
        session.add_all(_questionnaire_rows(clinic_id, plans, patients))
    await _live_entries(db, clinic_id, plans, patients)

    logins = [DemoLogin(s.role.value, s.name, s.login) for s in STAFF]
    logins += [DemoLogin(Role.PATIENT.value, p.spec.name, p.spec.login) for p in plans]
    return DemoClinic(password=password, logins=logins)


@dataclass(frozen=True)
class _PatientIds:
    patient_id: int
    user_id: int


def _new_password() -> str:
    chars = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(12))
    return "-".join(chars[i : i + 4] for i in range(0, 12, 4))


async def _refuse_if_present(session: AsyncSession) -> None:
    if await session.scalar(select(User.id).where(User.login == STAFF[0].login)):
        raise RuntimeError("the demo clinic already exists in this database; use a fresh one")


async def _write_accounts(
    session: AsyncSession, plans: list[PatientPlan], password_hash: str, today: date, tz: ZoneInfo
) -> tuple[int, dict[str, int], dict[str, _PatientIds]]:
    opened = _local(today - timedelta(days=180), time(9, 0), tz)
    clinic = Clinic(
        name="Demo Clinic", timezone=TIMEZONE, region="US", phone="+1 555 0100", hours=CLINIC_HOURS, created_at=opened
    )
    session.add(clinic)
    await session.flush()

    staff = {
        s.login: User(
            clinic_id=clinic.id,
            role=s.role.value,
            login=s.login,
            name=s.name,
            email=s.login,
            password_hash=password_hash,
            created_at=opened,
            password_changed_at=opened,
        )
        for s in STAFF
    }
    users = {
        p.spec.login: User(
            clinic_id=clinic.id,
            role=Role.PATIENT.value,
            login=p.spec.login,
            name=p.spec.name,
            email=p.spec.login,
            password_hash=password_hash,
            created_at=p.activated_at,
            password_changed_at=p.activated_at,
        )
        for p in plans
    }
    session.add_all([*staff.values(), *users.values()])
    await session.flush()

    patients = {
        p.spec.login: Patient(
            clinic_id=clinic.id,
            user_id=users[p.spec.login].id,
            name=p.spec.name,
            email=p.spec.login,
            timezone=TIMEZONE,
            reminder_time=REMINDER_TIME,
            created_by_id=staff[p.spec.primary].id,
            created_at=p.invited_at,
            activated_at=p.activated_at,
        )
        for p in plans
    }
    session.add_all(patients.values())
    await session.flush()

    staff_ids = {login: user.id for login, user in staff.items()}
    for p in plans:
        session.add_all(_care_team_and_consent(clinic.id, patients[p.spec.login].id, staff_ids, p))
    ids = {login: _PatientIds(patient.id, users[login].id) for login, patient in patients.items()}
    return clinic.id, staff_ids, ids


def _care_team_and_consent(
    clinic_id: int, patient_id: int, staff_ids: dict[str, int], plan: PatientPlan
) -> list[CareTeamMember | Consent]:
    """Exactly one primary clinician (the unique index insists), and the consent given at activation."""
    team = [(plan.spec.primary, True)] + ([(plan.spec.also, False)] if plan.spec.also else [])
    rows: list[CareTeamMember | Consent] = [
        CareTeamMember(
            clinic_id=clinic_id,
            patient_id=patient_id,
            clinician_id=staff_ids[login],
            is_primary=primary,
            created_at=plan.invited_at,
        )
        for login, primary in team
    ]
    rows.append(
        Consent(
            clinic_id=clinic_id,
            patient_id=patient_id,
            purpose=CONSENT_PURPOSE,
            text_version=CONSENT_TEXT_VERSION,
            given_at=plan.activated_at,
        )
    )
    return rows


def _checkin_rows(clinic_id: int, plans: list[PatientPlan], patients: dict[str, _PatientIds]) -> list[CheckIn]:
    rows = []
    for p in plans:
        ids = patients[p.spec.login]
        for c in p.checkins:
            rows.append(
                CheckIn(
                    clinic_id=clinic_id,
                    patient_id=ids.patient_id,
                    local_date=c.local_date,
                    timezone=TIMEZONE,
                    revision=1,
                    mood=c.mood,
                    anxiety=c.anxiety,
                    energy=c.energy,
                    sleep_hours=c.sleep_hours,
                    sleep_quality=c.sleep_quality,
                    safety=c.safety,
                    bp_systolic=c.bp[0] if c.bp else None,
                    bp_diastolic=c.bp[1] if c.bp else None,
                    note=c.note,
                    created_by_id=ids.user_id,
                    created_at=c.created_at,
                    side_effects=[CheckInSideEffect(effect=k, severity=v) for k, v in c.side_effects.items()],
                )
            )
    return rows


async def _write_sessions_and_journal(
    session: AsyncSession,
    clinic_id: int,
    staff_ids: dict[str, int],
    plans: list[PatientPlan],
    patients: dict[str, _PatientIds],
) -> None:
    booked: list[tuple[PatientPlan, SessionPlan, TreatmentSession]] = []
    for p in plans:
        for s in p.sessions:
            row = TreatmentSession(
                clinic_id=clinic_id,
                patient_id=patients[p.spec.login].patient_id,
                scheduled_at=s.scheduled_at,
                route=p.spec.route.value,
                phase=s.phase.value,
                status=s.status.value,
                created_by_id=staff_ids[p.spec.primary],
                # Booked a couple of weeks ahead, but never before the patient was enrolled.
                created_at=max(p.invited_at, s.scheduled_at - timedelta(days=14)),
            )
            booked.append((p, s, row))
    session.add_all(row for _, _, row in booked)
    await session.flush()  # the reflections and journal entries point at the sessions' ids

    for p, s, row in booked:
        ids = patients[p.spec.login]
        if s.reflection:
            r = s.reflection
            session.add(
                SessionReflection(
                    clinic_id=clinic_id,
                    patient_id=ids.patient_id,
                    treatment_session_id=row.id,
                    feeling=r.feeling,
                    body=r.body,
                    shared=r.shared,
                    created_by_id=ids.user_id,
                    created_at=r.created_at,
                )
            )
        session.add_all(_journal_row(clinic_id, ids, j, row.id) for j in s.journal)
    for p in plans:
        session.add_all(_journal_row(clinic_id, patients[p.spec.login], j, None) for j in p.free_journal)


# How each route's sessions are spaced in each phase (the wording a clinician would use); see _week_plan.
PLAN_FREQUENCY = {
    Route.ESKETAMINE_NASAL: {
        Phase.INDUCTION: ("twice weekly", 2.0),
        Phase.OPTIMISATION: ("weekly", 1.0),
        Phase.MAINTENANCE: ("every 2 weeks", 0.5),
    },
    Route.IV: {
        Phase.INDUCTION: ("six infusions over two weeks", 3.0),
        Phase.OPTIMISATION: ("every 2 weeks", 0.5),
        Phase.MAINTENANCE: ("every 4 weeks", 0.3),
    },
}
MEDICATION_CHANGES = (
    "Started melatonin 3 mg at night",
    "GP raised sertraline to 100 mg",
    "Took a sleeping pill twice this week",
    "Stopped ibuprofen",
)


async def _write_plans_and_preps(
    session: AsyncSession,
    clinic_id: int,
    staff_ids: dict[str, int],
    plans: list[PatientPlan],
    patients: dict[str, _PatientIds],
    as_of: datetime,
) -> None:
    """A treatment plan row per phase reached, and the pre-session checklists patients answered."""
    for p in plans:
        ids = patients[p.spec.login]
        rng = random.Random(f"prep:{p.spec.login}")
        started: dict[Phase, datetime] = {}
        for s in p.sessions:
            started.setdefault(s.phase, s.scheduled_at)
        for phase, at in started.items():
            if at > as_of + timedelta(days=14):
                continue
            frequency, per_week = PLAN_FREQUENCY[p.spec.route][phase]
            session.add(
                TreatmentPlan(
                    clinic_id=clinic_id,
                    patient_id=ids.patient_id,
                    phase=phase.value,
                    route=p.spec.route.value,
                    frequency=frequency,
                    sessions_per_week=per_week,
                    start_date=at.astimezone(ZoneInfo(TIMEZONE)).date(),
                    notes="" if phase == Phase.INDUCTION else f"Moved to {phase.value} after review.",
                    created_by_id=staff_ids[p.spec.primary],
                    created_at=max(p.invited_at, min(as_of, at - timedelta(days=3))),
                )
            )
        rows = (
            await session.execute(
                select(TreatmentSession)
                .where(TreatmentSession.patient_id == ids.patient_id)
                .order_by(TreatmentSession.scheduled_at)
            )
        ).scalars()
        for row in rows:
            prep = _prep_row(p.spec, rng, row, ids, as_of)
            if prep is not None:
                session.add(prep)


def _questionnaire_rows(clinic_id: int, plans: list[PatientPlan], patients: dict[str, _PatientIds]) -> list[Any]:
    """A PHQ-9 every 7 days from the first check-in (the baseline, before the first session) and a
    GAD-7 every 14, each from the week's planned moods, anxiety and safety answers."""
    rows: list[Any] = []
    for p in plans:
        if not p.checkins:
            continue
        ids, rng = patients[p.spec.login], random.Random(f"questionnaires:{p.spec.login}")
        for week, taken in enumerate(_weekly_times(p)):
            days = [c for c in p.checkins if taken - timedelta(days=7) < c.created_at <= taken] or p.checkins[:1]
            mood, anxiety = fmean(c.mood for c in days), fmean(c.anxiety for c in days)
            thoughts = any(c.safety != SafetyAnswer.NONE for c in days)
            phq9 = _answers(round((10 - mood) * 2.3 + rng.gauss(0, 1.5)), 8, rng) | {"q9": int(thoughts)}
            phq9["difficulty"] = min(3, (score_phq9(phq9).total or 0) // 7)
            rows.append(_response_row(clinic_id, ids, PHQ9, phq9, taken))
            if week % 2 == 0:
                gad7 = _answers(round(anxiety * 1.8 + rng.gauss(0, 1.5)), 7, rng)
                rows.append(_response_row(clinic_id, ids, GAD7, gad7, taken + timedelta(minutes=4)))
    return rows


def _weekly_times(p: PatientPlan) -> list[datetime]:
    first = p.checkins[0].created_at + timedelta(minutes=3)  # at enrolment, before the first session
    last = p.checkins[-1].created_at
    return [first + timedelta(days=7 * n) for n in range(int((last - first).days // 7) + 1)]


def _answers(total: int, items: int, rng: random.Random) -> dict[str, int | None]:
    """Item answers 0-3 for q1..q{items} adding up to ``total`` (clamped to what the items allow)."""
    answers = dict.fromkeys(range(1, items + 1), 0)
    for _ in range(_clamp(total, 0, 3 * items)):
        answers[rng.choice([item for item, value in answers.items() if value < 3])] += 1
    return {f"q{item}": value for item, value in answers.items()}


def _response_row(
    clinic_id: int, ids: _PatientIds, instrument: Instrument, answers: dict[str, int | None], taken: datetime
) -> QuestionnaireResponse:
    return QuestionnaireResponse(
        clinic_id=clinic_id,
        patient_id=ids.patient_id,
        instrument=instrument.key,
        instrument_version=instrument.version,
        answers=answers,
        local_date=taken.astimezone(ZoneInfo(TIMEZONE)).date(),
        timezone=TIMEZONE,
        created_by_id=ids.user_id,
        created_at=taken,
        **scored_fields(instrument, answers),
    )


# Made "now" through the entry services: what the rules raise from them is what staff see first.
LIVE_CHECKIN = ("grace@demo.patient", CheckInInput(mood=2, anxiety=8, energy=2, safety="passive", note=""))
LIVE_PHQ9 = "chloe@demo.patient"


async def _live_entries(
    db: Database, clinic_id: int, plans: list[PatientPlan], patients: dict[str, _PatientIds]
) -> None:
    by_login = {p.spec.login: p for p in plans}
    login, checkin = LIVE_CHECKIN
    if login in by_login:
        await record_checkin(db, _as_patient(clinic_id, by_login[login], patients[login]), checkin, None)
    if LIVE_PHQ9 in by_login:
        answers: dict[str, int | None] = {f"q{i}": 2 for i in range(1, 9)} | {"q9": 1, "difficulty": 2}
        user = _as_patient(clinic_id, by_login[LIVE_PHQ9], patients[LIVE_PHQ9])
        await record_response(db, user, PHQ9, answers, None, None)


def _as_patient(clinic_id: int, plan: PatientPlan, ids: _PatientIds) -> CurrentUser:
    return CurrentUser(
        id=ids.user_id,
        code="demo",
        clinic_id=clinic_id,
        role=Role.PATIENT,
        name=plan.spec.name,
        patient_id=ids.patient_id,
        patient_code=None,
        session_id=0,
    )


def _prep_row(
    spec: PatientSpec, rng: random.Random, row: TreatmentSession, ids: _PatientIds, as_of: datetime
) -> SessionPrep | None:
    """The checklist for one session, answered the evening before (or this morning), if at all."""
    opens = prep_opens_at(row, TIMEZONE)
    if row.status not in (SessionStatus.ATTENDED, SessionStatus.SCHEDULED) or opens >= as_of:
        return None
    recent = row.scheduled_at >= as_of - timedelta(days=42)
    if not recent or rng.random() > 0.55 + spec.engagement / 2:
        return None
    answered_at = min(opens + timedelta(hours=19, minutes=rng.randint(0, 150)), row.scheduled_at - timedelta(hours=1))
    if answered_at > as_of:
        answered_at = max(opens, as_of - timedelta(minutes=rng.randint(5, 90)))
    changes = rng.random() < 0.08
    bp = _blood_pressure(rng) if spec.tracks_bp else None
    nasal = None
    if spec.route == Route.ESKETAMINE_NASAL:
        nasal = NasalSpray.ON_TIME if rng.random() < 0.2 else NasalSpray.NOT_USED
    return SessionPrep(
        clinic_id=row.clinic_id,
        patient_id=ids.patient_id,
        treatment_session_id=row.id,
        fasting_ok=rng.random() < 0.95,
        ride_home=rng.random() < 0.97,
        medication_changes=changes,
        medication_note=rng.choice(MEDICATION_CHANGES) if changes else "",
        bp_systolic=bp[0] if bp else None,
        bp_diastolic=bp[1] if bp else None,
        nasal_spray=nasal,
        answered_by_id=ids.user_id,
        answered_at=answered_at,
        created_at=answered_at,
    )


def _journal_row(clinic_id: int, ids: _PatientIds, j: JournalPlan, session_id: int | None) -> JournalEntry:
    return JournalEntry(
        clinic_id=clinic_id,
        patient_id=ids.patient_id,
        treatment_session_id=session_id,
        prompt_key=j.prompt_key,
        body=j.body,
        shared=j.shared,
        local_date=j.local_date,
        created_by_id=ids.user_id,
        created_at=j.created_at,
    )


# --- small helpers ------------------------------------------------------------------------------------


def _local(day: date, at: time, tz: ZoneInfo) -> datetime:
    """A wall-clock time on a local day, as a UTC instant (DST handled by zoneinfo)."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def _next_weekday(day: date, weekday: int) -> date:
    return day + timedelta(days=(weekday - day.weekday()) % 7)


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _clamp(value: _T, low: _T, high: _T) -> _T:
    return max(low, min(high, value))


# --- words --------------------------------------------------------------------------------------------

NOTES_SESSION = (
    "Session today. Felt floaty for an hour, fine by dinner.",
    "Treatment day, my sister drove me home.",
    "Bit queasy after the session, better now.",
    "Session went smoothly.",
    "Very far away during the session, calmer tonight.",
)
NOTES_LOW = (
    "Hard day. Stayed in bed most of the morning.",
    "Couldn't focus at work.",
    "Skipped my walk again.",
    "Slept badly, awake at 4.",
    "Everything feels heavy this week.",
)
NOTES_MID = (
    "An ordinary day.",
    "A bit better than yesterday.",
    "Had coffee with a friend.",
    "Busy at work, managed it.",
)
NOTES_HIGH = (
    "Good day, went for a long walk.",
    "Cooked dinner for the first time in weeks.",
    "Laughed at something on TV and noticed it.",
    "Called my brother.",
    "Felt like myself for a while.",
)
REFLECTIONS = (
    "Calmer than last time. The music helped.",
    "Felt detached at first, then it eased.",
    "A lot of memories from childhood came up.",
    "Mostly just tired afterwards.",
    "Felt lighter walking out than walking in.",
    "Hard to put into words. Peaceful, mostly.",
)
JOURNAL = {
    "stands_out": ("The feeling of floating above the room.", "How quiet my head got for a while."),
    "images": ("A long corridor with light at the end.", "Waves, over and over. Not scary."),
    "emotions": ("Sadness, then something like relief.", "Mostly calm. A little anxious at the start."),
    "difficult": ("Losing track of time scared me a bit.", "Thinking about my dad again."),
    "matters": ("Being there for my kids.", "Getting back to painting."),
    "small_step": ("Walk round the block after lunch.", "Reply to my friend's message."),
    "talk_to": ("My therapist, about the memories that came up.", "My partner, about how this week went."),
}
FREE_WRITING = (
    "Not sure what to write. Just checking in with myself.",
    "Noticed the trees turning on the way to work.",
    "Long week. Glad it's over.",
)
