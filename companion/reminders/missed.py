"""Rule D2 (clinical.md section 9): no check-in and no PHQ-9 for 14 days while in active treatment.

Low alert; Medium when the last PHQ-9's item 9 was above 0. Raised through ``alerts.service``, so
a patient has at most one unresolved D2 alert (a later run attaches to it rather than paging again).
"Active treatment": a session that is not cancelled within the last 30 days or the next 30 days.
The job is safe with several workers: each patient is handled in its own transaction, and the
alert service attaches to the unresolved D2 alert instead of raising a second one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from companion.accounts.models import Clinic, Patient
from companion.alerts.models import Alert
from companion.alerts.service import UNRESOLVED, Source, raise_alerts
from companion.checkins.models import CheckIn
from companion.db import Database, utcnow
from companion.questionnaires.models import QuestionnaireResponse
from companion.risk.evaluation import rule_settings_for
from companion.risk.findings import Finding, Severity
from companion.treatments.models import SessionStatus, TreatmentSession

RULE = "D2"
SILENCE = timedelta(days=14)
ACTIVE_WINDOW = timedelta(days=30)


async def raise_missed_checkins(db: Database, now: datetime | None = None) -> int:
    """Raise (or attach) a D2 alert for each silent patient in active treatment; returns how many."""
    now = now or utcnow()
    async with db.reading() as session:
        candidates = list((await session.execute(_silent_patients(now))).scalars())
    raised = 0
    for patient_id in candidates:
        async with db.writing() as session:
            raised += await _raise_for(session, patient_id, now)
    return raised


def _silent_patients(now: datetime):  # type: ignore[no-untyped-def]
    recent_checkin = select(CheckIn.id).where(CheckIn.patient_id == Patient.id, CheckIn.created_at > now - SILENCE)
    recent_phq9 = select(QuestionnaireResponse.id).where(
        QuestionnaireResponse.patient_id == Patient.id,
        QuestionnaireResponse.instrument == "phq9",
        QuestionnaireResponse.created_at > now - SILENCE,
    )
    in_treatment = select(TreatmentSession.id).where(
        TreatmentSession.patient_id == Patient.id,
        TreatmentSession.status != SessionStatus.CANCELLED,
        TreatmentSession.scheduled_at.between(now - ACTIVE_WINDOW, now + ACTIVE_WINDOW),
    )
    return select(Patient.id).where(
        Patient.activated_at.is_not(None),
        Patient.activated_at <= now - SILENCE,
        ~recent_checkin.exists(),
        ~recent_phq9.exists(),
        in_treatment.exists(),
    )


async def _raise_for(session, patient_id: int, now: datetime) -> int:  # type: ignore[no-untyped-def]
    # Lock the patient so two workers cannot both find "no D2 alert yet" (SQLite writes are serial).
    patient = (await session.execute(select(Patient).where(Patient.id == patient_id).with_for_update())).scalar_one()
    open_d2 = await session.scalar(
        select(Alert.id)
        .where(Alert.patient_id == patient_id, Alert.rule_id == RULE, Alert.status.in_(UNRESOLVED))
        .limit(1)
    )
    if open_d2 is not None:
        return 0  # already flagged; attaching every run would only add noise to its history
    clinic = await session.get_one(Clinic, patient.clinic_id)
    settings = rule_settings_for(clinic)
    if not settings.enabled(RULE):
        return 0
    last_item9 = (
        await session.execute(
            select(QuestionnaireResponse.answers)
            .where(QuestionnaireResponse.patient_id == patient_id, QuestionnaireResponse.instrument == "phq9")
            .order_by(QuestionnaireResponse.created_at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    item9 = (last_item9 or {}).get("q9")
    worse = isinstance(item9, int) and item9 > 0
    finding = Finding(
        RULE,
        Severity.MEDIUM if worse else Severity.LOW,
        "No check-in or PHQ-9 for 14 days during active treatment"
        + ("; the last PHQ-9 reported thoughts of death or self-harm." if worse else "."),
    )
    await raise_alerts(session, clinic, patient_id, [finding], Source("missed_checkins", patient.code[:32]), settings)
    return 1
