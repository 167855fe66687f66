"""The integration journal: prompts after sessions, free writing, private or shared entries."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from companion import idempotency
from companion.accounts.auth import CurrentUser
from companion.accounts.service import entry_author
from companion.db import Database, utcnow
from companion.idempotency import IdempotencyKey
from companion.journal.models import JournalEntry
from companion.risk.evaluation import EntryEvent, RiskOutcome, evaluate_entry, reassess

# Integration prompts (clinical.md section 8), in the order they are offered.
PROMPTS: dict[str, str] = {
    "stands_out": "What stands out from the session?",
    "emotions": "What emotions or body sensations came up?",
    "images": "Any images or metaphors worth keeping?",
    "difficult": "What felt difficult?",
    "matters": "What does this suggest about what matters to you?",
    "small_step": "One small step you will take this week.",
    "talk_to": "Who can you talk to about this?",
}
# Days after a session on which a prompt is offered, and which prompt (same evening, +1, +3, +7 days).
PROMPT_SCHEDULE: dict[int, str] = {0: "stands_out", 1: "emotions", 3: "matters", 7: "small_step"}
BODY_MAX = 5000


@dataclass(frozen=True)
class JournalInput:
    body: str
    shared: bool
    prompt_key: str | None = None
    session_code: str | None = None

    def fingerprint_payload(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class JournalResult:
    entry: JournalEntry
    risk: RiskOutcome
    replayed: bool = False


def prompt_due(session_starts: list[datetime], zone: str, today: date) -> tuple[int, str] | None:
    """(days since the session, prompt key) when today is a prompt day after a recent session."""
    tz = ZoneInfo(zone)
    for start in sorted(session_starts, reverse=True):
        offset = (today - start.astimezone(tz).date()).days
        if offset in PROMPT_SCHEDULE:
            return offset, PROMPT_SCHEDULE[offset]
    return None


async def record_entry(
    db: Database, user: CurrentUser, data: JournalInput, key: IdempotencyKey | None, session_id: int | None = None
) -> JournalResult:
    async def work(session: AsyncSession) -> JournalResult:
        if key is not None and (seen := await idempotency.find_replay(session, key)):
            row = (
                await session.execute(select(JournalEntry).where(JournalEntry.code == seen.resource_code))
            ).scalar_one()
            again = await reassess(session, EntryEvent("journal", row.clinic_id, row.patient_id, row))
            return JournalResult(row, again, replayed=True)
        patient = await entry_author(session, user.patient_id or 0)
        now = utcnow()
        row = JournalEntry(
            clinic_id=patient.clinic_id,
            patient_id=patient.id,
            treatment_session_id=session_id,
            prompt_key=data.prompt_key,
            body=data.body,
            shared=data.shared,
            local_date=now.astimezone(ZoneInfo(patient.timezone)).date(),
            created_by_id=user.id,
            created_at=now,
        )
        session.add(row)
        await session.flush()
        outcome = await evaluate_entry(session, EntryEvent("journal", patient.clinic_id, patient.id, row))
        if key is not None:
            await idempotency.remember(session, key, row.code)
        return JournalResult(row, outcome)

    return await idempotency.run_write(db, work)


async def entries_for_patient(
    session: AsyncSession, patient_id: int, *, before: datetime | None = None, limit: int = 20
) -> list[JournalEntry]:
    query = select(JournalEntry).where(JournalEntry.patient_id == patient_id)
    if before is not None:
        query = query.where(JournalEntry.created_at < before)
    return list((await session.execute(query.order_by(JournalEntry.created_at.desc()).limit(limit))).scalars())


def recent_window(days: int = 8) -> datetime:
    return utcnow() - timedelta(days=days)
