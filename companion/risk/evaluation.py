"""The one place where an entry's risk findings are evaluated, inside the entry's transaction.

Every entry service (check-in, journal entry, session reflection, and later questionnaire
responses and "I need help now") calls ``evaluate_entry`` after inserting its row and before its
transaction commits, so an alert can never be missing for a committed entry (REL-01).

The rules themselves (clinical.md section 9) arrive with the safety-loop work; until then no
finding is produced and nothing is written here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class EntryEvent:
    """What was just written: its kind ("checkin", "journal", "reflection"), patient and row."""

    kind: str
    clinic_id: int
    patient_id: int
    entry: Any


@dataclass(frozen=True)
class RiskOutcome:
    findings: tuple[Any, ...] = ()
    show_crisis: bool = False
    followup: str | None = None
    alerts: tuple[Any, ...] = field(default_factory=tuple)


async def evaluate_entry(session: AsyncSession, event: EntryEvent) -> RiskOutcome:
    """Evaluate the risk rules for ``event`` in the caller's transaction and write any alerts."""
    del session, event
    return RiskOutcome()
