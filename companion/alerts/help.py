""" "I need help now" (rule A7): record the press and raise its Critical alert in one transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from companion.accounts.auth import CurrentUser
from companion.accounts.service import entry_author
from companion.alerts.models import HelpPress
from companion.db import Database, utcnow
from companion.risk.evaluation import EntryEvent, RiskOutcome, evaluate_entry


async def press_help(db: Database, user: CurrentUser) -> tuple[HelpPress, RiskOutcome]:
    async with db.writing() as session:
        return await _press(session, user)


async def _press(session: AsyncSession, user: CurrentUser) -> tuple[HelpPress, RiskOutcome]:
    patient = await entry_author(session, user.patient_id or 0)
    row = HelpPress(clinic_id=patient.clinic_id, patient_id=patient.id, created_by_id=user.id, created_at=utcnow())
    session.add(row)
    await session.flush()
    outcome = await evaluate_entry(session, EntryEvent("help", patient.clinic_id, patient.id, row))
    return row, outcome
