"""Treatment sessions (scheduled by the clinic) and the patient's post-session reflections."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from companion import idempotency
from companion.accounts.auth import CurrentUser
from companion.accounts.models import Patient
from companion.db import Database, utcnow
from companion.idempotency import IdempotencyKey
from companion.risk.evaluation import EntryEvent, RiskOutcome, evaluate_entry, reassess
from companion.treatments.models import SessionReflection, SessionStatus, TreatmentSession

REFLECTION_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class NewSession:
    scheduled_at: datetime
    route: str
    phase: str


@dataclass(frozen=True)
class ReflectionInput:
    feeling: int
    body: str
    shared: bool

    def fingerprint_payload(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class ReflectionResult:
    reflection: SessionReflection
    risk: RiskOutcome
    replayed: bool = False


def add_session(session: AsyncSession, clinician_id: int, patient: Patient, data: NewSession) -> TreatmentSession:
    """Add a scheduled session to ``patient``'s schedule in the caller's transaction."""
    row = TreatmentSession(
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        scheduled_at=data.scheduled_at,
        route=data.route,
        phase=data.phase,
        created_by_id=clinician_id,
    )
    session.add(row)
    return row


async def sessions_for_patient(session: AsyncSession, patient_id: int) -> list[TreatmentSession]:
    return list(
        (
            await session.execute(
                select(TreatmentSession)
                .where(TreatmentSession.patient_id == patient_id)
                .order_by(TreatmentSession.scheduled_at.desc())
            )
        ).scalars()
    )


async def next_session(session: AsyncSession, patient_id: int, now: datetime | None = None) -> TreatmentSession | None:
    params = {"patient_id": patient_id, "now": now or utcnow()}
    return (await session.execute(_next_session_query(), params)).scalar_one_or_none()


@cache
def _next_session_query() -> Select[Any]:
    """Built once (Today asks on every visit; building the statement costs more than running it)."""
    return (
        select(TreatmentSession)
        .where(
            TreatmentSession.patient_id == bindparam("patient_id"),
            TreatmentSession.status == bindparam("scheduled", SessionStatus.SCHEDULED.value),
            TreatmentSession.scheduled_at >= bindparam("now"),
        )
        .order_by(TreatmentSession.scheduled_at)
        .limit(1)
    )


async def session_for_patient(session: AsyncSession, patient_id: int, code: str) -> TreatmentSession | None:
    return (
        await session.execute(
            select(TreatmentSession).where(TreatmentSession.code == code, TreatmentSession.patient_id == patient_id)
        )
    ).scalar_one_or_none()


def can_reflect(treatment: TreatmentSession, now: datetime) -> bool:
    """Reflections are for sessions that have happened, within the following week."""
    started = treatment.scheduled_at <= now
    return (
        started
        and treatment.status in (SessionStatus.ATTENDED, SessionStatus.SCHEDULED)
        and (now - treatment.scheduled_at <= REFLECTION_WINDOW)
    )


async def reflections_for_patient(session: AsyncSession, patient_id: int) -> dict[int, SessionReflection]:
    rows = (
        await session.execute(
            select(SessionReflection)
            .where(SessionReflection.patient_id == patient_id)
            .order_by(SessionReflection.created_at)
        )
    ).scalars()
    return {row.treatment_session_id: row for row in rows}


async def record_reflection(
    db: Database, user: CurrentUser, treatment_code: str, data: ReflectionInput, key: IdempotencyKey | None
) -> ReflectionResult | None:
    """Store a reflection on one of the patient's own sessions; None when the session is not theirs."""

    async def work(session: AsyncSession) -> ReflectionResult | None:
        if key is not None and (seen := await idempotency.find_replay(session, key)):
            row = (
                await session.execute(select(SessionReflection).where(SessionReflection.code == seen.resource_code))
            ).scalar_one()
            again = await reassess(session, EntryEvent("reflection", row.clinic_id, row.patient_id, row))
            return ReflectionResult(row, again, replayed=True)
        treatment = await session_for_patient(session, user.patient_id or 0, treatment_code)
        if treatment is None:
            return None
        row = SessionReflection(
            clinic_id=treatment.clinic_id,
            patient_id=treatment.patient_id,
            treatment_session_id=treatment.id,
            feeling=data.feeling,
            body=data.body,
            shared=data.shared,
            created_by_id=user.id,
        )
        session.add(row)
        await session.flush()
        outcome = await evaluate_entry(session, EntryEvent("reflection", row.clinic_id, row.patient_id, row))
        if key is not None:
            await idempotency.remember(session, key, row.code)
        return ReflectionResult(row, outcome)

    return await idempotency.run_write(db, work)
