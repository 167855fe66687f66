"""The alert lifecycle: raise (inside an entry's transaction), acknowledge, resolve, reopen.

``raise_alerts`` is called by ``risk.evaluation.evaluate_entry`` in the entry's own transaction, so
the entry, its alerts, their events and their outbox rows commit together or not at all. The
clinician actions each run in one transaction of their own and write an ``AlertEvent``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from companion.accounts.auth import CurrentUser
from companion.accounts.models import CareTeamMember, Clinic, Patient, Role
from companion.alerts.models import Alert, AlertEvent, AlertEventKind, AlertOutcome, AlertStatus
from companion.db import Database, one_of, utcnow
from companion.notify.sender import undelivered_alerts
from companion.notify.service import queue_alert_messages
from companion.risk.crisis import response_target
from companion.risk.findings import Finding, Severity
from companion.risk.rule_settings import ClinicRuleSettings

NOTE_MAX = 2000
UNRESOLVED = (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED)


class AlertActionError(ValueError):
    """The action does not fit the alert's state (e.g. resolving a resolved alert)."""


@dataclass(frozen=True)
class Source:
    kind: str  # "checkin", "journal", "reflection", "questionnaire", "help"
    code: str


def _due(clinic: Clinic, severity: Severity, at: datetime, settings: ClinicRuleSettings) -> datetime | None:
    try:
        return response_target(severity, at, clinic.hours, clinic.timezone, settings)
    except ValueError:
        # Malformed clinic hours must not lose the alert: fall back to the wall clock.
        return response_target(severity, at, None, "UTC", settings)


def _event(
    alert: Alert,
    kind: AlertEventKind,
    *,
    actor_id: int | None = None,
    at: datetime,
    finding: Finding | None = None,
    source: Source | None = None,
) -> AlertEvent:
    return AlertEvent(
        clinic_id=alert.clinic_id,
        alert=alert,
        kind=kind,
        severity=str(finding.severity) if finding else alert.severity,
        reason=finding.reason if finding else "",
        source_kind=source.kind if source else None,
        source_code=source.code if source else None,
        actor_id=actor_id,
        created_at=at,
    )


async def raise_alerts(
    session: AsyncSession,
    clinic: Clinic,
    patient_id: int,
    findings: Iterable[Finding],
    source: Source,
    settings: ClinicRuleSettings,
) -> list[Alert]:
    """Write an alert per alerting finding, or attach it to the patient's unresolved alert of that rule.

    A worse finding raises the attached alert's severity (and brings an acknowledged alert back
    to open, with an earlier due time). New alerts of Medium and above get one outbox row per
    care-team clinician; Low alerts are dashboard flags (clinical.md section 9, "Who is notified").
    """
    findings = [finding for finding in findings if finding.creates_alert]
    if not findings:
        return []
    now = utcnow()
    existing = await _unresolved_by_rule(session, patient_id, {finding.rule_id for finding in findings})
    touched: list[Alert] = []
    created: list[Alert] = []
    for finding in findings:
        alert = existing.get(finding.rule_id)
        if alert is None:
            alert = _new_alert(clinic, patient_id, finding, source, settings, now)
            session.add(alert)
            session.add(_event(alert, AlertEventKind.CREATED, at=now, finding=finding, source=source))
            existing[finding.rule_id] = alert
            created.append(alert)
        else:
            _attach(session, clinic, alert, finding, source, settings, now)
        if alert not in touched:
            touched.append(alert)
    await session.flush()
    await _queue_outbox(session, clinic, patient_id, created)
    return touched


def _new_alert(
    clinic: Clinic, patient_id: int, finding: Finding, source: Source, settings: ClinicRuleSettings, now: datetime
) -> Alert:
    return Alert(
        clinic_id=clinic.id,
        patient_id=patient_id,
        rule_id=finding.rule_id,
        severity=str(finding.severity),
        reason=finding.reason,
        source_kind=source.kind,
        source_code=source.code,
        created_at=now,
        response_due_at=_due(clinic, finding.severity, now, settings),
        status=AlertStatus.OPEN,
        note="",
    )


def _attach(
    session: AsyncSession,
    clinic: Clinic,
    alert: Alert,
    finding: Finding,
    source: Source,
    settings: ClinicRuleSettings,
    now: datetime,
) -> None:
    session.add(_event(alert, AlertEventKind.FINDING_ATTACHED, at=now, finding=finding, source=source))
    if not finding.severity.rank > Severity(alert.severity).rank:
        return
    alert.severity = str(finding.severity)
    alert.reason = finding.reason
    due = _due(clinic, finding.severity, now, settings)
    if due is not None and (alert.response_due_at is None or due < alert.response_due_at):
        alert.response_due_at = due
    session.add(_event(alert, AlertEventKind.SEVERITY_RAISED, at=now, finding=finding, source=source))
    if alert.status == AlertStatus.ACKNOWLEDGED:
        alert.status = AlertStatus.OPEN
        session.add(_event(alert, AlertEventKind.REOPENED, at=now))


async def _unresolved_by_rule(session: AsyncSession, patient_id: int, rule_ids: set[str]) -> dict[str, Alert]:
    rows = (
        await session.execute(
            select(Alert)
            .where(Alert.patient_id == patient_id, Alert.rule_id.in_(rule_ids), Alert.status.in_(UNRESOLVED))
            .order_by(Alert.created_at)
        )
    ).scalars()
    return {alert.rule_id: alert for alert in rows}


async def _queue_outbox(session: AsyncSession, clinic: Clinic, patient_id: int, alerts: list[Alert]) -> None:
    """One outbox row per care-team clinician and channel (push, and e-mail unless they switched it
    off), in the entry's transaction: the sender never has to invent rows later (issue 4, REL-01)."""
    alerts = [alert for alert in alerts if Severity(alert.severity).at_least(Severity.MEDIUM)]
    if not alerts:
        return
    clinicians = list(
        (
            await session.execute(
                select(CareTeamMember.clinician_id)
                .where(CareTeamMember.patient_id == patient_id, CareTeamMember.clinic_id == clinic.id)
                .order_by(CareTeamMember.clinician_id)
            )
        ).scalars()
    )
    for alert in alerts:
        await queue_alert_messages(session, clinic_id=clinic.id, alert_id=alert.id, recipient_ids=clinicians)
    await session.flush()


# --- Reading -------------------------------------------------------------------------------------

SEVERITY_ORDER = case({"critical": 4, "high": 3, "medium": 2, "low": 1}, value=Alert.severity, else_=0)
STATUS_ORDER = case({"open": 0, "acknowledged": 1, "resolved": 2}, value=Alert.status, else_=3)


@dataclass(frozen=True)
class AlertRow:
    alert: Alert
    patient: Patient
    # Every notification about the alert failed (``notify.sender.undelivered_alerts``): the inbox
    # says so, because nobody was told and somebody must call the care team (issue 4).
    undelivered: bool = False

    def overdue(self, now: datetime) -> bool:
        due = self.alert.response_due_at
        return self.alert.status == AlertStatus.OPEN and due is not None and due < now


def _visible(staff: CurrentUser):  # type: ignore[no-untyped-def]
    """Alerts of patients on this clinician's care team, in their clinic (AC-02). Others see none."""
    if staff.role != Role.CLINICIAN:
        return Alert.id.is_(None)  # never true: admins have no clinical access
    # Written on Alert's own columns (not care_team_scope's Patient ones), so a query that does
    # not join Patient cannot turn into a cross join that matches every alert.
    on_team = select(CareTeamMember.patient_id).where(
        CareTeamMember.clinician_id == staff.id, CareTeamMember.clinic_id == staff.clinic_id
    )
    return (Alert.clinic_id == staff.clinic_id) & Alert.patient_id.in_(on_team)


async def inbox_stamp(session: AsyncSession, staff: CurrentUser, now: datetime) -> str:
    """What the inbox's poll compares: the newest event of a visible alert (raised, attached,
    acknowledged, escalated, delivery failed …) and how many open alerts are past their target, so
    an alert turning overdue also refreshes the list. One statement; the poll answers 204 while it
    is unchanged."""
    newest = (
        select(func.max(AlertEvent.created_at))
        .join(Alert, Alert.id == AlertEvent.alert_id)
        .where(_visible(staff))
        .scalar_subquery()
    )
    overdue = (
        select(func.count())
        .select_from(Alert)
        .where(_visible(staff), Alert.status == AlertStatus.OPEN, Alert.response_due_at < now)
        .scalar_subquery()
    )
    latest, late = (await session.execute(select(newest, overdue))).one()
    return f"{latest.isoformat() if latest else '-'}~{late}"


async def inbox(
    session: AsyncSession,
    staff: CurrentUser,
    *,
    status: str | None = None,
    severity: str | None = None,
    limit: int = 200,
) -> list[AlertRow]:
    """Open first, then acknowledged, then resolved; within each, most severe then soonest due."""
    query = select(Alert, Patient).join(Patient, Patient.id == Alert.patient_id).where(_visible(staff))
    if status:
        query = query.where(Alert.status == status)
    else:
        query = query.where(Alert.status.in_(UNRESOLVED) | (Alert.resolved_at >= utcnow() - timedelta(days=7)))
    if severity:
        query = query.where(Alert.severity == severity)
    query = query.order_by(
        STATUS_ORDER, SEVERITY_ORDER.desc(), Alert.response_due_at.is_(None), Alert.response_due_at, Alert.created_at
    ).limit(limit)
    found = (await session.execute(query)).all()
    undelivered = await undelivered_alerts(session, [alert.id for alert, _ in found])  # one query for the page
    return [AlertRow(alert, patient, alert.id in undelivered) for alert, patient in found]


async def alert_for_staff(session: AsyncSession, staff: CurrentUser, code: str) -> AlertRow | None:
    found = (
        await session.execute(
            select(Alert, Patient)
            .join(Patient, Patient.id == Alert.patient_id)
            .where(Alert.code == code, _visible(staff))
        )
    ).first()
    if not found:
        return None
    return AlertRow(found[0], found[1], bool(await undelivered_alerts(session, [found[0].id])))


async def events_of(session: AsyncSession, alert: Alert) -> list[AlertEvent]:
    return list(
        (
            await session.execute(
                select(AlertEvent).where(AlertEvent.alert_id == alert.id).order_by(AlertEvent.created_at, AlertEvent.id)
            )
        ).scalars()
    )


async def latest_for_patient(session: AsyncSession, patient_id: int, since: datetime) -> Alert | None:
    """The patient's most recent Medium-or-worse alert since ``since`` (Today's honest status line).

    Low alerts are dashboard flags nobody is asked to act on, so they are not reported as "seen".
    """
    params = {"patient_id": patient_id, "since": since}
    return (await session.execute(_latest_for_patient_query(), params)).scalar_one_or_none()


@cache
def _latest_for_patient_query() -> Select[Any]:
    """Built once for Today (statement construction costs more than running it); the severities
    are fixed parameters, not an IN list SQLAlchemy would render again at every execution."""
    return (
        select(Alert)
        .where(
            Alert.patient_id == bindparam("patient_id"),
            Alert.created_at >= bindparam("since"),
            one_of(Alert.severity, ("critical", "high", "medium")),
        )
        .order_by(Alert.created_at.desc(), Alert.id.desc())
        .limit(1)
    )


# --- Clinician actions ---------------------------------------------------------------------------


async def _locked(session: AsyncSession, staff: CurrentUser, code: str) -> Alert | None:
    query = select(Alert).where(Alert.code == code, _visible(staff))
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        query = query.with_for_update(of=Alert)
    return (await session.execute(query)).scalar_one_or_none()


async def _audit(session: AsyncSession, staff: CurrentUser, alert: Alert, action: str) -> None:
    """The change's audit row, in the change's own transaction (LOG-03); no clinical content."""
    from companion.clinic import audit
    from companion.clinic.models import AuditAction

    await audit.append_for(
        session, staff, AuditAction.ALERT_ACTION, f"alert {alert.code} {action}", patient_id=alert.patient_id
    )


async def acknowledge(db: Database, staff: CurrentUser, code: str) -> Alert | None:
    """Open -> acknowledged (who, when). Acknowledging twice is harmless. None: not visible."""
    async with db.writing() as session:
        alert = await _locked(session, staff, code)
        if alert is None:
            return None
        if alert.status == AlertStatus.OPEN:
            now = utcnow()
            alert.status, alert.acknowledged_by_id, alert.acknowledged_at = AlertStatus.ACKNOWLEDGED, staff.id, now
            session.add(_event(alert, AlertEventKind.ACKNOWLEDGED, actor_id=staff.id, at=now))
            await _audit(session, staff, alert, "acknowledged")
        elif alert.status == AlertStatus.RESOLVED:
            raise AlertActionError("This alert is already resolved.")
    return alert


async def resolve(db: Database, staff: CurrentUser, code: str, outcome: AlertOutcome, note: str) -> Alert | None:
    """Open/acknowledged -> resolved with an outcome and note (an unacknowledged alert is acknowledged too)."""
    async with db.writing() as session:
        alert = await _locked(session, staff, code)
        if alert is None:
            return None
        if alert.status == AlertStatus.RESOLVED:
            raise AlertActionError("This alert is already resolved.")
        now = utcnow()
        if alert.status == AlertStatus.OPEN:
            alert.acknowledged_by_id, alert.acknowledged_at = staff.id, now
            session.add(_event(alert, AlertEventKind.ACKNOWLEDGED, actor_id=staff.id, at=now))
        alert.status, alert.resolved_by_id, alert.resolved_at = AlertStatus.RESOLVED, staff.id, now
        alert.outcome, alert.note = str(outcome), note
        session.add(_event(alert, AlertEventKind.RESOLVED, actor_id=staff.id, at=now))
        await _audit(session, staff, alert, f"resolved ({outcome})")
    return alert


async def reopen(db: Database, staff: CurrentUser, code: str) -> Alert | None:
    """Resolved -> open again; the earlier acknowledgement and resolution stay in the events."""
    async with db.writing() as session:
        alert = await _locked(session, staff, code)
        if alert is None:
            return None
        if alert.status != AlertStatus.RESOLVED:
            raise AlertActionError("Only a resolved alert can be reopened.")
        now = utcnow()
        alert.status = AlertStatus.OPEN
        alert.acknowledged_by_id = alert.acknowledged_at = None
        alert.resolved_by_id = alert.resolved_at = alert.outcome = None
        session.add(_event(alert, AlertEventKind.REOPENED, actor_id=staff.id, at=now))
        await _audit(session, staff, alert, "reopened")
    return alert
