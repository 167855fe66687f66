"""Recording questionnaire responses: validate, store, evaluate the risk rules, one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from companion import idempotency
from companion.accounts.auth import CurrentUser
from companion.accounts.models import Clinic, Patient
from companion.accounts.service import entry_author
from companion.db import Database, insert_detached, one_of, utcnow
from companion.idempotency import IdempotencyKey
from companion.questionnaires.instruments import Instrument
from companion.questionnaires.models import QuestionnaireResponse
from companion.questionnaires.scoring import Answers, score_asq, score_cssrs, score_gad7, score_phq9
from companion.risk.evaluation import EntryEvent, RiskOutcome, evaluate_entry, reassess, rule_settings_for

# Default intervals (clinical.md section 1: PHQ-9 weekly; GAD-7 every two weeks is ours);
# a clinic overrides them with settings["questionnaire_intervals_days"] = {"phq9": 7, "gad7": 14}.
DEFAULT_INTERVALS = {"phq9": 7, "gad7": 14}


@dataclass(frozen=True)
class ResponseResult:
    response: QuestionnaireResponse
    risk: RiskOutcome
    replayed: bool = False


def scored_fields(instrument: Instrument, answers: Answers) -> dict[str, object]:
    """total, band, result and completeness for the row (the result of the instrument's scorer)."""
    if instrument.key == "phq9":
        phq = score_phq9(answers)
        return {"total": phq.total, "band": phq.band, "result": phq.band, "complete": not phq.missing}
    if instrument.key == "gad7":
        gad = score_gad7(answers)
        return {"total": gad.total, "band": gad.band, "result": gad.band, "complete": not gad.missing}
    if instrument.key == "asq":
        asq = score_asq(answers)
        return {"total": None, "band": None, "result": asq.outcome, "complete": not asq.missing}
    cssrs = score_cssrs(answers)
    return {"total": None, "band": None, "result": cssrs.risk, "complete": not cssrs.missing}


def cssrs_enabled(clinic: Clinic) -> bool:
    return rule_settings_for(clinic).cssrs_enabled


async def record_response(
    db: Database,
    user: CurrentUser,
    instrument: Instrument,
    answers: dict[str, int | None],
    trigger: str | None,
    key: IdempotencyKey | None,
) -> ResponseResult:
    """Store the response with its instrument version and score, evaluate risk, remember the key."""

    async def work(session: AsyncSession) -> ResponseResult:
        if key is not None and (seen := await idempotency.find_replay(session, key)):
            row = (
                await session.execute(
                    select(QuestionnaireResponse).where(QuestionnaireResponse.code == seen.resource_code)
                )
            ).scalar_one()
            again = await reassess(session, EntryEvent("questionnaire", row.clinic_id, row.patient_id, row))
            return ResponseResult(row, again, replayed=True)
        patient = await entry_author(session, user.patient_id or 0)
        now = utcnow()
        values = {
            "clinic_id": patient.clinic_id,
            "patient_id": patient.id,
            "instrument": instrument.key,
            "instrument_version": instrument.version,
            "answers": dict(answers),
            "trigger": trigger,
            "local_date": now.astimezone(ZoneInfo(patient.timezone)).date(),
            "timezone": patient.timezone,
            "created_by_id": user.id,
            "created_at": now,
            **scored_fields(instrument, answers),
        }
        row = await insert_detached(session, QuestionnaireResponse, values)
        outcome = await evaluate_entry(session, EntryEvent("questionnaire", patient.clinic_id, patient.id, row))
        if key is not None:
            await idempotency.remember(session, key, row.code)
        return ResponseResult(row, outcome)

    return await idempotency.run_write(db, work)


async def response_for_patient(session: AsyncSession, patient_id: int, code: str) -> QuestionnaireResponse | None:
    return (
        await session.execute(
            select(QuestionnaireResponse).where(
                QuestionnaireResponse.code == code, QuestionnaireResponse.patient_id == patient_id
            )
        )
    ).scalar_one_or_none()


async def recent_responses(session: AsyncSession, patient_id: int, limit: int) -> list[QuestionnaireResponse]:
    """The patient's latest responses, newest first."""
    query = (
        select(QuestionnaireResponse)
        .where(QuestionnaireResponse.patient_id == patient_id)
        .order_by(QuestionnaireResponse.created_at.desc(), QuestionnaireResponse.id.desc())
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


def questionnaire_intervals(settings: dict[str, Any] | None) -> dict[str, int]:
    """Days between due questionnaires: the clinic's valid overrides over the defaults."""
    return DEFAULT_INTERVALS | {
        k: v
        for k, v in ((settings or {}).get("questionnaire_intervals_days") or {}).items()
        if k in DEFAULT_INTERVALS and isinstance(v, int) and not isinstance(v, bool) and v > 0
    }


@cache
def _last_complete_query() -> Select[Any]:
    """The day of each interval instrument's last complete response. Built once (Today runs it on
    every visit); the instruments are fixed parameters, not an IN list rendered at every execution."""
    responses = QuestionnaireResponse.__table__
    return (
        select(responses.c.instrument, func.max(responses.c.local_date))
        .where(
            responses.c.patient_id == bindparam("patient_id"),
            one_of(responses.c.instrument, DEFAULT_INTERVALS),
            responses.c.complete.is_(True),
        )
        .group_by(responses.c.instrument)
    )


async def due_questionnaires(session: AsyncSession, patient: Patient, clinic: Clinic, now: datetime) -> list[str]:
    """Instruments whose interval has passed since the last complete response (or never answered)."""
    intervals = questionnaire_intervals(clinic.settings)
    rows = await session.execute(_last_complete_query(), {"patient_id": patient.id})
    last: dict[str, date] = {instrument: day for instrument, day in rows.all()}
    today = now.astimezone(ZoneInfo(patient.timezone)).date()
    return [key for key, days in intervals.items() if key not in last or today - last[key] >= timedelta(days=days)]
