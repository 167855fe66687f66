"""Seeding a benchmark database directly through the app's models (no HTTP, no argon2 per account).

One clinic, one clinician, and ``patients`` patient accounts who all share one password hash (argon2
is deliberately slow, so it is computed once). With ``year_of_data`` each patient also gets a year
of history, like a patient a year into maintenance treatment:

* 365 daily check-ins ending today (local), about one day in ten amended once (a second revision),
  about one in five with side effects, some with a note;
* weekly treatment sessions (the latest yesterday, two upcoming), nearly all attended, with a
  reflection after each except the latest;
* integration-journal entries on the session day and one and three days after (~150 a year).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

PASSWORD = "a calm lake at dawn"
ZONE = "America/New_York"
WEEKDAY_HOURS = {day: ["09:00", "17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
NOTES = (
    "Slept badly, better by the afternoon.",
    "Walked by the river with my sister. Felt lighter than last week.",
    "Hard morning at work, but I used the breathing exercise and it helped.",
    "Quiet day. Read for an hour, cooked dinner.",
    "Felt a bit foggy after the session, fine by evening.",
)
JOURNAL_TEXT = (
    "During the session I noticed the colours first, then a sense of distance from the worry I "
    "carry most days. Afterwards I wrote down three things I want to keep: that the worry is not "
    "the whole of me, that I can ask for help earlier, and that mornings are easier when I go "
    "outside before looking at my phone. "
)
PROMPT_AFTER = {0: "stands_out", 1: "emotions", 3: "matters"}


@dataclass(frozen=True)
class Seeded:
    clinic_id: int
    logins: list[str]
    patient_ids: list[int]
    password: str = PASSWORD


@lru_cache(maxsize=1)
def password_hash() -> str:
    from companion.accounts.passwords import hash_password_sync

    return hash_password_sync(PASSWORD)


async def seed_clinic(db: Any, *, patients: int, year_of_data: bool, login_prefix: str = "patient") -> Seeded:
    import companion.models  # noqa: F401 - every mapper configured before the first flush
    from companion.accounts.models import CareTeamMember, Clinic, Consent, Patient, Role, User

    now = datetime.now(UTC)
    rng = random.Random(20260214)
    hashed = password_hash()
    logins: list[str] = []
    patient_ids: list[int] = []
    async with db.writing() as session:
        clinic = Clinic(name="Bench Clinic", timezone=ZONE, region="US", phone="+1 555 0100", hours=WEEKDAY_HOURS)
        session.add(clinic)
        await session.flush()
        clinician = User(
            clinic_id=clinic.id,
            role=Role.CLINICIAN,
            login="clinician@bench.example",
            email="clinician@bench.example",
            name="Casey Clinician",
            password_hash=hashed,
        )
        session.add(clinician)
        await session.flush()
        joined = now - timedelta(days=370) if year_of_data else now - timedelta(days=1)
        for index in range(patients):
            login = f"{login_prefix}{index:03d}@bench.example"
            user = User(
                clinic_id=clinic.id,
                role=Role.PATIENT,
                login=login,
                email=login,
                name=f"Bench Patient {index}",
                password_hash=hashed,
                created_at=joined,
                password_changed_at=joined,
            )
            session.add(user)
            await session.flush()
            patient = Patient(
                clinic_id=clinic.id,
                user_id=user.id,
                name=user.name,
                email=login,
                timezone=ZONE,
                reminder_time=time(19, 0),
                created_by_id=clinician.id,
                created_at=joined,
                activated_at=joined,
            )
            session.add(patient)
            await session.flush()
            session.add(
                CareTeamMember(clinic_id=clinic.id, patient_id=patient.id, clinician_id=clinician.id, is_primary=True)
            )
            session.add(
                Consent(
                    clinic_id=clinic.id,
                    patient_id=patient.id,
                    purpose="monitoring",
                    text_version="bench",
                    given_at=joined,
                )
            )
            if year_of_data:
                await _year_of_data(session, clinic.id, patient.id, user.id, now, rng)
            logins.append(login)
            patient_ids.append(patient.id)
    return Seeded(clinic.id, logins, patient_ids)


def _at_local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), ZoneInfo(ZONE)).astimezone(UTC)


async def _year_of_data(
    session: Any, clinic_id: int, patient_id: int, user_id: int, now: datetime, rng: random.Random
) -> None:
    from companion.journal.models import JournalEntry
    from companion.treatments.models import SessionReflection, SessionStatus, TreatmentSession

    today = now.astimezone(ZoneInfo(ZONE)).date()
    rows: list[Any] = []

    amended: list[Any] = []
    for back in range(364, -1, -1):
        day = today - timedelta(days=back)
        row = _checkin(rng, clinic_id, patient_id, user_id, day, now, back)
        rows.append(row)
        if rng.random() < 0.1:
            amended.append(row)

    sessions: list[tuple[TreatmentSession, date]] = []
    for week in range(-2, 53):  # weeks ahead (negative) and back; the latest past one was yesterday
        day = today - timedelta(days=1 + 7 * week)
        past = week >= 0
        status = (
            SessionStatus.SCHEDULED
            if not past
            else (SessionStatus.MISSED if rng.random() < 0.04 else SessionStatus.ATTENDED)
        )
        treatment = TreatmentSession(
            clinic_id=clinic_id,
            patient_id=patient_id,
            scheduled_at=_at_local(day, 10),
            route="esketamine_nasal",
            phase="maintenance" if week < 40 else "induction",
            status=status,
            created_at=_at_local(day, 10) - timedelta(days=14),
        )
        rows.append(treatment)
        sessions.append((treatment, day))

    session.add_all(rows)
    await session.flush()

    extra: list[object] = []
    for first in amended:  # the same day's second revision, superseding the first
        back = (today - first.local_date).days
        second = _checkin(rng, clinic_id, patient_id, user_id, first.local_date, now, back)
        second.revision, second.supersedes_id = 2, first.id
        second.created_at = first.created_at + timedelta(minutes=3)
        extra.append(second)
    for treatment, day in sessions:
        if treatment.status != SessionStatus.ATTENDED:
            continue
        if day < today - timedelta(days=1):
            extra.append(
                SessionReflection(
                    clinic_id=clinic_id,
                    patient_id=patient_id,
                    treatment_session_id=treatment.id,
                    feeling=rng.randint(4, 9),
                    body=JOURNAL_TEXT[: rng.randint(80, len(JOURNAL_TEXT))],
                    shared=rng.random() < 0.5,
                    created_by_id=user_id,
                    created_at=_at_local(day, 18),
                )
            )
        for offset, prompt in PROMPT_AFTER.items():
            written = day + timedelta(days=offset)
            if written >= today:
                continue
            extra.append(
                JournalEntry(
                    clinic_id=clinic_id,
                    patient_id=patient_id,
                    treatment_session_id=treatment.id,
                    prompt_key=prompt,
                    body=JOURNAL_TEXT * rng.randint(1, 3),
                    shared=rng.random() < 0.3,
                    local_date=written,
                    created_by_id=user_id,
                    created_at=_at_local(written, 21),
                )
            )
    session.add_all(extra)
    await session.flush()


def _checkin(
    rng: random.Random, clinic_id: int, patient_id: int, user_id: int, day: date, now: datetime, back: int
) -> Any:
    """One check-in for ``day`` (revision 1); mood drifts up over the year as treatment helps."""
    from companion.checkins.models import CheckIn, CheckInSideEffect
    from companion.checkins.side_effects import SIDE_EFFECTS

    effect_codes = [e.code for e in SIDE_EFFECTS if not e.yes_no]
    return CheckIn(
        clinic_id=clinic_id,
        patient_id=patient_id,
        local_date=day,
        timezone=ZONE,
        revision=1,
        mood=max(0, min(10, 4 + rng.randint(-3, 3) + (364 - back) // 120)),
        anxiety=rng.randint(0, 8),
        energy=rng.randint(2, 9),
        sleep_hours=rng.choice([5.5, 6.0, 6.5, 7.0, 7.5, 8.0, 8.5]),
        sleep_quality=rng.randint(1, 4),
        safety="none",
        note=rng.choice(NOTES) if rng.random() < 0.3 else "",
        created_by_id=user_id,
        created_at=min(_at_local(day, 20, rng.randint(0, 50)), now - timedelta(minutes=10)),
        side_effects=[
            CheckInSideEffect(effect=code, severity=rng.randint(1, 2))
            for code in rng.sample(effect_codes, rng.randint(1, 2))
        ]
        if rng.random() < 0.2
        else [],
    )
