"""Run as ``python -m tests.browser.workspace_seed COMMAND LOGIN`` in the live server's environment:
a separate process writing to the server's database, as another web process or the worker would.

``history LOGIN``: six weeks of check-ins (with BP), weekly PHQ-9 and GAD-7, attended sessions.
``critical LOGIN``: a Critical "I need help now" alert (rule A7) for the patient.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta

from sqlalchemy import select

import companion.models  # noqa: F401 - every mapper configured before the first flush
from companion.accounts.models import Clinic, Patient, User
from companion.alerts.models import HelpPress
from companion.alerts.service import Source, raise_alerts
from companion.checkins.models import CheckIn
from companion.db import Database, utcnow
from companion.questionnaires.models import QuestionnaireResponse
from companion.risk.evaluation import rule_settings_for
from companion.risk.findings import finding_for
from companion.settings import load_settings
from companion.treatments.models import TreatmentSession


async def _patient(session, login):  # type: ignore[no-untyped-def]
    return (
        await session.execute(select(Patient, User).join(User, User.id == Patient.user_id).where(User.login == login))
    ).one()


async def history(db: Database, login: str) -> None:
    async with db.writing() as session:
        patient, user = await _patient(session, login)
        today = utcnow().date()
        for n in range(42, 0, -1):
            day = today - timedelta(days=n)
            session.add(
                CheckIn(
                    clinic_id=patient.clinic_id,
                    patient_id=patient.id,
                    local_date=day,
                    timezone=patient.timezone,
                    mood=3 + min(6, (42 - n) // 5),
                    anxiety=5,
                    energy=5,
                    safety="none",
                    created_by_id=user.id,
                    bp_systolic=120 + n % 9,
                    bp_diastolic=80 + n % 5,
                )
            )
        for week in range(7):
            at = utcnow() - timedelta(days=42 - week * 7)
            for instrument, total, band in (
                ("phq9", max(3, 21 - week * 3), "moderate"),
                ("gad7", max(2, 14 - week * 2), "mild"),
            ):
                session.add(
                    QuestionnaireResponse(
                        clinic_id=patient.clinic_id,
                        patient_id=patient.id,
                        instrument=instrument,
                        instrument_version="seed",
                        answers={},
                        total=total,
                        band=band,
                        result=band,
                        complete=True,
                        local_date=at.date(),
                        timezone=patient.timezone,
                        created_by_id=user.id,
                        created_at=at,
                    )
                )
        for n in range(1, 6):
            session.add(
                TreatmentSession(
                    clinic_id=patient.clinic_id,
                    patient_id=patient.id,
                    route="esketamine_nasal",
                    phase="induction",
                    status="attended",
                    scheduled_at=utcnow() - timedelta(days=40 - n * 7),
                )
            )


async def critical(db: Database, login: str) -> None:
    async with db.writing() as session:
        patient, user = await _patient(session, login)
        clinic = await session.get_one(Clinic, patient.clinic_id)
        press = HelpPress(clinic_id=patient.clinic_id, patient_id=patient.id, created_by_id=user.id)
        session.add(press)
        await session.flush()
        finding = finding_for("A7", "Pressed \u201cI need help now\u201d.")
        await raise_alerts(
            session, clinic, patient.id, [finding], Source("help", press.code), rule_settings_for(clinic)
        )


async def main(command: str, login: str) -> None:
    db = Database(load_settings().db, null_pool=True)
    try:
        await {"history": history, "critical": critical}[command](db, login)
    finally:
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
