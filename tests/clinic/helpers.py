"""Helpers for the workspace tests: audit rows, raw SQL as a 'superuser', data makers."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select, text

from companion.checkins.models import CheckIn
from companion.clinic.models import AuditEvent
from companion.db import Database, utcnow
from companion.journal.models import JournalEntry
from companion.questionnaires.models import QuestionnaireResponse
from tests.factories import Person


async def audit_rows(db: Database, clinic_id: int | None = None) -> list[AuditEvent]:
    async with db.reading() as session:
        query = select(AuditEvent).order_by(AuditEvent.clinic_id, AuditEvent.seq)
        if clinic_id is not None:
            query = query.where(AuditEvent.clinic_id == clinic_id)
        return list((await session.execute(query)).scalars())


async def as_superuser(db: Database, statement: str, params: dict[str, Any] | None = None) -> None:
    """Run SQL with the append-only triggers lifted, as a database owner could."""
    async with db.writing() as session:
        if db.dialect == "postgresql":
            await session.execute(text("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only"))
            await session.execute(text(statement), params or {})
            await session.execute(text("ALTER TABLE audit_event ENABLE TRIGGER audit_event_append_only"))
        else:
            triggers = (
                await session.execute(
                    text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_event'")
                )
            ).all()
            for name, _sql in triggers:
                await session.execute(text(f"DROP TRIGGER {name}"))
            await session.execute(text(statement), params or {})
            for _name, sql in triggers:
                await session.execute(text(sql))


async def add_checkins(
    db: Database, patient: Person, moods: dict[date, int], bp: tuple[int, int] | None = None
) -> None:
    async with db.writing() as session:
        for day, mood in moods.items():
            session.add(
                CheckIn(
                    clinic_id=patient.clinic_id,
                    patient_id=patient.patient_id,
                    local_date=day,
                    timezone="America/New_York",
                    mood=mood,
                    anxiety=4,
                    energy=5,
                    safety="none",
                    created_by_id=patient.user_id,
                    bp_systolic=bp[0] if bp else None,
                    bp_diastolic=bp[1] if bp else None,
                    created_at=datetime.combine(day, datetime.min.time()).replace(tzinfo=utcnow().tzinfo)
                    + timedelta(hours=20),
                )
            )


async def add_phq9(db: Database, patient: Person, total: int, at: datetime, band: str = "moderate") -> None:
    async with db.writing() as session:
        session.add(
            QuestionnaireResponse(
                clinic_id=patient.clinic_id,
                patient_id=patient.patient_id,
                instrument="phq9",
                instrument_version="test",
                answers={},
                total=total,
                band=band,
                result=band,
                complete=True,
                local_date=at.date(),
                timezone="America/New_York",
                created_by_id=patient.user_id,
                created_at=at,
            )
        )


async def add_journal(db: Database, patient: Person, body: str, shared: bool) -> None:
    async with db.writing() as session:
        session.add(
            JournalEntry(
                clinic_id=patient.clinic_id,
                patient_id=patient.patient_id,
                body=body,
                shared=shared,
                local_date=utcnow().date(),
                created_by_id=patient.user_id,
            )
        )
