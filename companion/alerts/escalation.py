"""Escalation: an alert not acknowledged by its response target notifies the next level, repeatedly.

The chain of a clinic (clinic.settings["escalation"]):

1. the patient's care team (notified when the alert was raised);
2. backup / on-call clinicians: ``backup_clinicians`` and ``on_call_clinicians``, lists of user codes;
3. the clinic's admins;

then every level again, at each interval, until someone acknowledges. The first step is due at
``response_due_at`` (clinical.md section 9: Critical 15 minutes, High 4 business hours); later
steps one interval after the previous one (``repeat_minutes``, default by severity). After downtime
the job takes one step per alert per run, never a burst. A level with nobody in it is skipped.

Each step writes an ``escalated`` AlertEvent (visible in the alert's history) and one outbox message
per recipient; the job locks the alerts it works on (PostgreSQL ``SKIP LOCKED``; SQLite writes are
serial), so several workers never take the same step twice, and the outbox de-duplication key
(alert, channel, recipient, step) catches any that would.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from companion.accounts.models import CareTeamMember, Clinic, Role, User
from companion.alerts.models import Alert, AlertEvent, AlertStatus
from companion.db import Database, utcnow
from companion.notify.models import OutboxMessage

ESCALATED = "escalated"
ESCALATING = ("critical", "high", "medium")
DEFAULT_REPEAT = {"critical": timedelta(minutes=15), "high": timedelta(hours=1), "medium": timedelta(hours=4)}
LEVEL_NAMES = {2: "backup and on-call clinicians", 3: "clinic admins"}


def repeat_interval(clinic: Clinic, severity: str) -> timedelta:
    minutes = ((clinic.settings or {}).get("escalation") or {}).get("repeat_minutes")
    if isinstance(minutes, int) and 5 <= minutes <= 24 * 60:
        return timedelta(minutes=minutes)
    return DEFAULT_REPEAT.get(severity, timedelta(hours=1))


async def escalate_overdue(db: Database, now: datetime | None = None, limit: int = 200) -> int:
    """Take the next escalation step of every overdue, unacknowledged alert; returns steps taken."""
    now = now or utcnow()
    async with db.writing() as session:
        query = (
            select(Alert)
            .where(Alert.status == AlertStatus.OPEN, Alert.severity.in_(ESCALATING), Alert.response_due_at <= now)
            .order_by(Alert.response_due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        taken = 0
        for alert in list((await session.execute(query)).scalars()):
            taken += await _step(session, alert, now)
    return taken


async def _step(session: AsyncSession, alert: Alert, now: datetime) -> int:
    clinic = await session.get_one(Clinic, alert.clinic_id)
    done, last_at = (
        await session.execute(
            select(func.count(), func.max(AlertEvent.created_at)).where(
                AlertEvent.alert_id == alert.id, AlertEvent.kind == ESCALATED
            )
        )
    ).one()
    assert alert.response_due_at is not None
    due = alert.response_due_at if not done else last_at + repeat_interval(clinic, alert.severity)
    if due > now:
        return 0
    step = done + 1
    level, recipients = await _next_level(session, clinic, alert, step)
    for user_id in recipients:
        session.add(
            OutboxMessage(
                clinic_id=alert.clinic_id,
                kind="alert_escalation",
                alert_id=alert.id,
                channel="push",
                recipient_id=user_id,
                dedupe_key=f"alert:{alert.id}:push:{user_id}:step{step}",
                available_at=now,
            )
        )
    reason = (
        f"Not acknowledged in time: notified the {LEVEL_NAMES[level]}."
        if level in LEVEL_NAMES
        else "Still not acknowledged: notified everyone in the escalation chain again."
    )
    session.add(
        AlertEvent(
            clinic_id=alert.clinic_id,
            alert_id=alert.id,
            kind=ESCALATED,
            severity=alert.severity,
            reason=reason,
            created_at=now,
        )
    )
    return 1


async def _next_level(session: AsyncSession, clinic: Clinic, alert: Alert, step: int) -> tuple[int, list[int]]:
    """(level number, recipients) for escalation step ``step`` (1 = the first escalation)."""
    levels = [await _care_team(session, alert), await _backup(session, clinic), await _admins(session, clinic)]
    # Step 1 goes to the first non-empty level after the care team, step 2 to the next, and so on;
    # once the chain is used up every level is notified again.
    upper = [(index + 1, members) for index, members in enumerate(levels) if index > 0 and members]
    if step <= len(upper):
        return upper[step - 1]
    everyone = sorted({user_id for members in levels for user_id in members})
    return len(levels) + 1, everyone


async def _care_team(session: AsyncSession, alert: Alert) -> list[int]:
    return list(
        (
            await session.execute(
                select(CareTeamMember.clinician_id).where(
                    CareTeamMember.patient_id == alert.patient_id, CareTeamMember.clinic_id == alert.clinic_id
                )
            )
        ).scalars()
    )


async def _backup(session: AsyncSession, clinic: Clinic) -> list[int]:
    chain: dict[str, Any] = (clinic.settings or {}).get("escalation") or {}
    codes = [
        c for key in ("backup_clinicians", "on_call_clinicians") for c in chain.get(key) or [] if isinstance(c, str)
    ]
    if not codes:
        return []
    return list(
        (
            await session.execute(
                select(User.id)
                .where(
                    User.code.in_(codes),
                    User.clinic_id == clinic.id,
                    User.role == Role.CLINICIAN,
                    User.active.is_(True),
                )
                .order_by(User.id)
            )
        ).scalars()
    )


async def _admins(session: AsyncSession, clinic: Clinic) -> list[int]:
    return list(
        (
            await session.execute(
                select(User.id)
                .where(User.clinic_id == clinic.id, User.role == Role.ADMIN, User.active.is_(True))
                .order_by(User.id)
            )
        ).scalars()
    )
