"""Recording and reading daily check-ins."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row, Select, bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from companion import idempotency
from companion.accounts.auth import CurrentUser
from companion.accounts.service import entry_author
from companion.checkins.forms import CheckInInput
from companion.checkins.models import CheckIn, CheckInSideEffect
from companion.db import Database, insert_detached, utcnow
from companion.idempotency import IdempotencyKey
from companion.risk.evaluation import EntryEvent, RiskOutcome, evaluate_entry, reassess


@dataclass(frozen=True)
class CheckInResult:
    checkin: CheckIn
    risk: RiskOutcome
    replayed: bool = False


def local_date_for(zone: str, instant: datetime) -> date:
    return instant.astimezone(ZoneInfo(zone)).date()


async def record_checkin(
    db: Database, user: CurrentUser, data: CheckInInput, key: IdempotencyKey | None
) -> CheckInResult:
    """Store the check-in as the day's next revision, evaluate risk, remember the key: one transaction."""

    async def work(session: AsyncSession) -> CheckInResult:
        if key is not None and (seen := await idempotency.find_replay(session, key)):
            row = await checkin_by_code(session, user, seen.resource_code or "")
            again = await reassess(session, EntryEvent("checkin", row.clinic_id, row.patient_id, row))
            return CheckInResult(row, again, True)
        patient = await entry_author(session, user.patient_id or 0)
        row = await _insert_revision(session, patient, user, data)
        outcome = await evaluate_entry(session, EntryEvent("checkin", patient.clinic_id, patient.id, row))
        if key is not None:
            await idempotency.remember(session, key, row.code)
        return CheckInResult(row, outcome)

    return await idempotency.run_write(db, work)


@cache
def _latest_revision_query() -> Select[Any]:
    """Built once, on the table's columns (statement construction costs more than running it)."""
    checkins = CheckIn.__table__
    return (
        select(checkins.c.id, checkins.c.revision)
        .where(checkins.c.patient_id == bindparam("patient_id"), checkins.c.local_date == bindparam("local_date"))
        .order_by(checkins.c.revision.desc())
        .limit(1)
    )


async def _latest_revision(session: AsyncSession, patient_id: int, local_day: date) -> Row[Any] | None:
    """(id, revision) of the day's latest revision, if any."""
    params = {"patient_id": patient_id, "local_date": local_day}
    return (await session.execute(_latest_revision_query(), params)).first()


async def _insert_revision(session: AsyncSession, patient: Row[Any], user: CurrentUser, data: CheckInInput) -> CheckIn:
    """Insert the day's next revision (Core statements, ``insert_detached``) and return it."""
    now = utcnow()
    today = local_date_for(patient.timezone, now)
    previous = await _latest_revision(session, patient.id, today)
    values: dict[str, Any] = {
        "clinic_id": patient.clinic_id,
        "patient_id": patient.id,
        "local_date": today,
        "timezone": patient.timezone,
        "revision": previous.revision + 1 if previous else 1,
        "supersedes_id": previous.id if previous else None,
        "mood": data.mood,
        "anxiety": data.anxiety,
        "energy": data.energy,
        "sleep_hours": data.sleep_hours,
        "sleep_quality": data.sleep_quality,
        "safety": data.safety,
        "bp_systolic": data.bp_systolic,
        "bp_diastolic": data.bp_diastolic,
        "note": data.note,
        "symptoms": list(data.symptoms),
        "created_by_id": user.id,
        "created_at": now,
    }
    row = await insert_detached(session, CheckIn, values)
    effects = [{"checkin_id": row.id, "effect": code, "severity": sev} for code, sev in data.side_effects]
    if effects:
        await session.execute(insert(CheckInSideEffect.__table__), effects)
    row.side_effects = [CheckInSideEffect(**effect) for effect in effects]
    return row


async def current_checkin(session: AsyncSession, patient_id: int, local_day: date) -> CheckIn | None:
    """The latest revision of the patient's check-in for ``local_day``."""
    return (
        await session.execute(
            select(CheckIn)
            .where(CheckIn.patient_id == patient_id, CheckIn.local_date == local_day)
            .order_by(CheckIn.revision.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def checkin_by_code(session: AsyncSession, user: CurrentUser, code: str) -> CheckIn:
    return (
        await session.execute(select(CheckIn).where(CheckIn.code == code, CheckIn.patient_id == user.patient_id))
    ).scalar_one()


async def list_checkins(session: AsyncSession, patient_id: int, limit: int = 50) -> list[CheckIn]:
    """Every day's latest revision, newest first."""
    rows = (
        await session.execute(
            select(CheckIn)
            .where(CheckIn.patient_id == patient_id)
            .order_by(CheckIn.local_date.desc(), CheckIn.revision.desc())
            .limit(limit * 3)
        )
    ).scalars()
    latest: dict[date, CheckIn] = {}
    for row in rows:
        latest.setdefault(row.local_date, row)
    return list(latest.values())[:limit]


@cache
def _recent_moods_query() -> Select[Any]:
    """Built once on the table's columns (Today runs it on every visit)."""
    checkins = CheckIn.__table__
    return (
        select(checkins.c.local_date, checkins.c.mood, checkins.c.revision)
        .where(checkins.c.patient_id == bindparam("patient_id"), checkins.c.local_date >= bindparam("since"))
        .order_by(checkins.c.local_date, checkins.c.revision)
    )


async def recent_moods(session: AsyncSession, patient_id: int, since: date) -> dict[date, int]:
    rows = (await session.execute(_recent_moods_query(), {"patient_id": patient_id, "since": since})).all()
    return {day: mood for day, mood, _revision in rows}


async def checkin_days(session: AsyncSession, patient_id: int, until: date, limit: int = 3660) -> set[date]:
    """Local dates with a check-in, newest first, up to ``limit`` days back (for streaks)."""
    rows = await session.execute(
        select(CheckIn.local_date)
        .where(CheckIn.patient_id == patient_id, CheckIn.local_date <= until)
        .distinct()
        .order_by(CheckIn.local_date.desc())
        .limit(limit)
    )
    return set(rows.scalars())
