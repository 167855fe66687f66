"""Rule D2 as a job: 14 silent days during active treatment -> Low alert (Medium after PHQ-9 item 9 > 0),
once per patient however often or by how many workers the job runs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from companion.accounts.models import Patient
from companion.alerts.models import Alert
from companion.db import utcnow
from companion.questionnaires.models import QuestionnaireResponse
from companion.reminders.missed import raise_missed_checkins
from tests.factories import make_session
from tests.notify.helpers import all_rows


async def activated_long_ago(db, *people) -> None:
    async with db.writing() as session:
        for person in people:
            await session.execute(
                update(Patient)
                .where(Patient.id == person.patient_id)
                .values(activated_at=utcnow() - timedelta(days=40))
            )


async def test_silent_patient_in_treatment_gets_one_low_alert(db, personas):
    await activated_long_ago(db, personas.alice, personas.bob)
    await make_session(db, personas.alice, at=utcnow() - timedelta(days=5), status="attended")
    # bob has no session in the window: not in active treatment, no alert.
    await asyncio.gather(*(raise_missed_checkins(db) for _ in range(3)))
    assert await raise_missed_checkins(db) == 0
    [alert] = await all_rows(db, Alert)
    assert (alert.rule_id, alert.severity, alert.patient_id) == ("D2", "low", personas.alice.patient_id)


async def test_last_phq9_item9_above_zero_makes_it_medium(db, personas):
    await activated_long_ago(db, personas.alice)
    await make_session(db, personas.alice, at=utcnow() + timedelta(days=3))
    long_ago = datetime.now(UTC) - timedelta(days=20)
    async with db.writing() as session:
        session.add(
            QuestionnaireResponse(
                clinic_id=personas.alice.clinic_id,
                patient_id=personas.alice.patient_id,
                instrument="phq9",
                instrument_version="phq9-en-2024.1",
                answers={f"q{i}": 1 for i in range(1, 10)},
                total=9,
                band="mild",
                local_date=long_ago.date(),
                timezone="America/New_York",
                created_by_id=personas.alice.user_id,
                created_at=long_ago,
            )
        )
    await raise_missed_checkins(db)
    [alert] = await all_rows(db, Alert)
    assert alert.severity == "medium" and "thoughts of death" in alert.reason


async def test_recent_checkin_or_new_patient_is_not_flagged(db, personas):
    await make_session(db, personas.alice, at=utcnow() - timedelta(days=2), status="attended")
    assert await raise_missed_checkins(db) == 0  # activated today: not 14 days silent yet
