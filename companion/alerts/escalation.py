"""Escalation: an alert not acknowledged by its response target notifies the next level, repeatedly.

The chain of a clinic (``clinic.settings["escalation"]``, edited on ``/clinic/admin``; ``Chain``):

1. the patient's care team (notified when the alert was raised);
2. backup / on-call clinicians: ``backup_clinicians`` and ``on_call_clinicians``, lists of user codes
   (an older single ``backup`` code is read too);
3. the clinic's admins;

then every level again, at each interval, until someone acknowledges. The first step is due at
``response_due_at`` (clinical.md section 9: Critical 15 minutes, High 4 business hours; the clinic's
response targets); later steps one interval after the previous one (``repeat_minutes``, default by
severity). ``backup_after_minutes`` and ``admin_after_minutes`` hold a level back until that long
past the response target. After downtime the job takes one step per alert per run, never a burst.
A level with nobody in it is skipped.

Each step writes an ``escalated`` AlertEvent (visible in the alert's history) and outbox messages
per recipient and channel (push, and e-mail unless switched off); the job locks the alerts it
works on (PostgreSQL ``SKIP LOCKED``; SQLite writes are serial), so several workers never take the
same step twice, and the outbox de-duplication key (alert, channel, recipient, step) catches any
that would.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from companion.accounts.models import CareTeamMember, Clinic, Role, User
from companion.alerts.models import Alert, AlertEvent, AlertStatus
from companion.db import Database, utcnow
from companion.notify.service import queue_alert_messages
from companion.web.forms import FormData

ESCALATED = "escalated"
ESCALATING = ("critical", "high", "medium")
DEFAULT_REPEAT = {"critical": timedelta(minutes=15), "high": timedelta(hours=1), "medium": timedelta(hours=4)}
LEVEL_NAMES = {2: "backup and on-call clinicians", 3: "clinic admins"}


MAX_MEMBERS = 20  # per list: a chain is a handful of people, not the whole staff
LIMITS = {"backup_after_minutes": (0, 24 * 60), "admin_after_minutes": (0, 48 * 60), "repeat_minutes": (5, 24 * 60)}
FORM_FIELDS = (
    "escalation_backup",
    "escalation_on_call",
    "escalation_backup_after_minutes",
    "escalation_admin_after_minutes",
    "escalation_repeat_minutes",
)


def _minutes(value: Any, name: str) -> int | None:
    low, high = LIMITS[name]
    return value if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high else None


def _codes(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return ()
    return tuple(dict.fromkeys(code for code in value if isinstance(code, str) and code))[:MAX_MEMBERS]


@dataclass(frozen=True)
class Chain:
    """A clinic's escalation settings, read leniently (bad stored values fall back to defaults)."""

    backup: tuple[str, ...] = ()
    on_call: tuple[str, ...] = ()
    backup_after_minutes: int | None = None
    admin_after_minutes: int | None = None
    repeat_minutes: int | None = None

    @classmethod
    def of(cls, clinic_settings: dict[str, Any] | None) -> Chain:
        data = (clinic_settings or {}).get("escalation")
        if not isinstance(data, dict):
            return cls()
        return cls(
            backup=_codes(data.get("backup_clinicians") or data.get("backup")),
            on_call=_codes(data.get("on_call_clinicians")),
            backup_after_minutes=_minutes(data.get("backup_after_minutes"), "backup_after_minutes"),
            admin_after_minutes=_minutes(data.get("admin_after_minutes"), "admin_after_minutes"),
            repeat_minutes=_minutes(data.get("repeat_minutes"), "repeat_minutes"),
        )

    def as_settings(self) -> dict[str, Any]:
        return {
            "backup_clinicians": list(self.backup),
            "on_call_clinicians": list(self.on_call),
            "backup_after_minutes": self.backup_after_minutes,
            "admin_after_minutes": self.admin_after_minutes,
            "repeat_minutes": self.repeat_minutes,
        }

    def repeat(self, severity: str) -> timedelta:
        if self.repeat_minutes is not None:
            return timedelta(minutes=self.repeat_minutes)
        return DEFAULT_REPEAT.get(severity, timedelta(hours=1))

    def hold(self, level: int) -> timedelta:
        """How long past the response target ``level`` waits at least."""
        minutes = {2: self.backup_after_minutes, 3: self.admin_after_minutes}.get(level)
        return timedelta(minutes=minutes or 0)


def chain_from_form(form: FormData, clinician_codes: set[str]) -> Chain:
    """The admin form's escalation fields (``FORM_FIELDS``); problems go to ``form.errors``.

    ``escalation_backup`` and ``escalation_on_call`` are checkbox lists of active clinicians of the
    clinic; the minute fields may be left empty (no hold; the repeat interval by severity).
    """
    lists: dict[str, tuple[str, ...]] = {}
    for name, label in (("escalation_backup", "backup"), ("escalation_on_call", "on-call")):
        codes = tuple(dict.fromkeys(v.strip() for v in form.values.get(name, []) if v.strip()))
        if any(code not in clinician_codes for code in codes):
            form.fail(name, f"Choose {label} clinicians among this clinic's active clinicians.")
        elif len(codes) > MAX_MEMBERS:
            form.fail(name, f"Choose at most {MAX_MEMBERS} {label} clinicians.")
        lists[name] = codes
    minutes = {
        name: form.integer(f"escalation_{name}", *LIMITS[name], required=False, label="minutes") for name in LIMITS
    }
    backup_after, admin_after = minutes["backup_after_minutes"], minutes["admin_after_minutes"]
    if backup_after is not None and admin_after is not None and admin_after < backup_after:
        form.fail(
            "escalation_admin_after_minutes",
            "Admins come after the backup and on-call clinicians: give them at least as many minutes.",
        )
    return Chain(
        backup=lists["escalation_backup"],
        on_call=lists["escalation_on_call"],
        backup_after_minutes=backup_after,
        admin_after_minutes=admin_after,
        repeat_minutes=minutes["repeat_minutes"],
    )


def repeat_interval(clinic: Clinic, severity: str) -> timedelta:
    return Chain.of(clinic.settings).repeat(severity)


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
    chain = Chain.of(clinic.settings)
    due = alert.response_due_at if not done else last_at + chain.repeat(alert.severity)
    if due > now:
        return 0
    step = done + 1
    level, recipients = await _next_level(session, clinic, alert, step, chain)
    if alert.response_due_at + chain.hold(level) > now:
        return 0  # this level waits longer past the target (the clinic's setting)
    await queue_alert_messages(
        session,
        clinic_id=alert.clinic_id,
        alert_id=alert.id,
        recipient_ids=recipients,
        kind="alert_escalation",
        key_suffix=f":step{step}",
        available_at=now,
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


async def _next_level(
    session: AsyncSession, clinic: Clinic, alert: Alert, step: int, chain: Chain
) -> tuple[int, list[int]]:
    """(level number, recipients) for escalation step ``step`` (1 = the first escalation)."""
    levels = [
        await _care_team(session, alert),
        await _backup(session, clinic, chain),
        await _admins(session, clinic),
    ]
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


async def _backup(session: AsyncSession, clinic: Clinic, chain: Chain) -> list[int]:
    codes = [*chain.backup, *chain.on_call]
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
