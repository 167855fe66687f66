"""Treatment plans and the session schedule, as the care team changes them.

Every change runs in one write transaction together with its audit row. Plans are append-only
(a new row per change; the newest is current). Sessions are moved, cancelled or marked attended /
missed in place — ``TreatmentSession`` is the schedule, and the audit trail keeps who changed it.
A missed session is checked against rule D1 in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from companion.accounts.auth import CurrentUser
from companion.accounts.models import Clinic, Patient
from companion.alerts.models import Alert
from companion.alerts.service import UNRESOLVED, Source, raise_alerts
from companion.clinic import audit
from companion.clinic.models import AuditAction, TreatmentPlan
from companion.db import Database, utcnow
from companion.risk.evaluation import rule_settings_for
from companion.risk.findings import Finding, Severity
from companion.treatments import service as treatments
from companion.treatments.models import SessionStatus, TreatmentSession

ATTENDANCE = (SessionStatus.ATTENDED, SessionStatus.MISSED, SessionStatus.CANCELLED)
WORSENING_RULES = ("B1", "B2", "B6")
D1_LOOKBACK = timedelta(days=14)


@dataclass(frozen=True)
class PlanInput:
    phase: str
    route: str
    frequency: str
    sessions_per_week: float | None
    start_date: date
    notes: str


async def current_plan(session: AsyncSession, patient_id: int) -> TreatmentPlan | None:
    return (
        await session.execute(
            select(TreatmentPlan)
            .where(TreatmentPlan.patient_id == patient_id)
            .order_by(TreatmentPlan.created_at.desc(), TreatmentPlan.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def save_plan(db: Database, staff: CurrentUser, patient: Patient, data: PlanInput) -> TreatmentPlan:
    async with db.writing() as session:
        plan = TreatmentPlan(
            clinic_id=patient.clinic_id,
            patient_id=patient.id,
            phase=data.phase,
            route=data.route,
            frequency=data.frequency,
            sessions_per_week=data.sessions_per_week,
            start_date=data.start_date,
            notes=data.notes,
            created_by_id=staff.id,
        )
        session.add(plan)
        await session.flush()
        await audit.append_for(
            session,
            staff,
            AuditAction.PLAN_CHANGE,
            "treatment plan: phase, route, frequency, start date, notes",
            patient_id=patient.id,
        )
    return plan


async def schedule_session(
    db: Database, staff: CurrentUser, patient: Patient, at: datetime, route: str, phase: str
) -> TreatmentSession:
    async with db.writing() as session:
        row = treatments.add_session(session, staff.id, patient, treatments.NewSession(at, route, phase))
        await session.flush()
        await audit.append_for(
            session, staff, AuditAction.SESSION_CHANGE, f"session {row.code}: scheduled", patient_id=patient.id
        )
    return row


async def _session_of(session: AsyncSession, patient: Patient, code: str) -> TreatmentSession | None:
    return (
        await session.execute(
            select(TreatmentSession).where(
                TreatmentSession.code == code,
                TreatmentSession.patient_id == patient.id,
                TreatmentSession.clinic_id == patient.clinic_id,
            )
        )
    ).scalar_one_or_none()


async def move_session(
    db: Database, staff: CurrentUser, patient: Patient, code: str, at: datetime
) -> TreatmentSession | None:
    """Reschedule a session that is still scheduled; None if it is not this patient's (404)."""
    async with db.writing() as session:
        row = await _session_of(session, patient, code)
        if row is None:
            return None
        if row.status != SessionStatus.SCHEDULED:
            raise SessionStateError("Only a scheduled session can be moved.")
        row.scheduled_at = at
        await audit.append_for(
            session, staff, AuditAction.SESSION_CHANGE, f"session {row.code}: moved", patient_id=patient.id
        )
    return row


class SessionStateError(ValueError):
    """The change does not fit the session's state (e.g. moving an attended session)."""


async def set_status(
    db: Database, staff: CurrentUser, patient: Patient, code: str, status: str
) -> TreatmentSession | None:
    """Record attendance (attended / missed) or cancel; None if not this patient's session."""
    if status not in ATTENDANCE:
        raise SessionStateError("Choose attended, missed or cancelled.")
    async with db.writing() as session:
        row = await _session_of(session, patient, code)
        if row is None:
            return None
        if status in (SessionStatus.ATTENDED, SessionStatus.MISSED) and row.scheduled_at > utcnow() + timedelta(
            hours=1
        ):
            raise SessionStateError("Attendance can be recorded once the session has started.")
        row.status = status
        await audit.append_for(
            session, staff, AuditAction.SESSION_CHANGE, f"session {row.code}: {status}", patient_id=patient.id
        )
        if status == SessionStatus.MISSED:
            await _check_d1(session, patient, row)
    return row


async def _check_d1(session: AsyncSession, patient: Patient, missed: TreatmentSession) -> None:
    """D1 (clinical.md section 9): a missed session while mood is worsening (B1/B2/B6) -> Medium."""
    since = utcnow() - D1_LOOKBACK
    worsening = (
        await session.execute(
            select(Alert.id)
            .where(
                Alert.patient_id == patient.id,
                Alert.rule_id.in_(WORSENING_RULES),
                (Alert.status.in_(UNRESOLVED)) | (Alert.created_at >= since),
            )
            .limit(1)
        )
    ).first()
    clinic = await session.get_one(Clinic, patient.clinic_id)
    settings = rule_settings_for(clinic)
    if worsening is None or not settings.enabled("D1"):
        return
    finding = Finding("D1", Severity.MEDIUM, "Missed a scheduled session while mood is worsening (B1/B2/B6).")
    await raise_alerts(session, clinic, patient.id, [finding], Source("session", missed.code), settings)
