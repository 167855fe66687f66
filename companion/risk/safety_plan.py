"""The Stanley–Brown Safety Planning Intervention (clinical.md section 7): six steps, the
patient's own words, editable by the patient and their care team, every version kept."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from companion.accounts.auth import CurrentUser
from companion.accounts.models import Patient
from companion.db import Database, utcnow
from companion.risk.models import SafetyPlanVersion

SECTION_MAX = 2000
# The six steps, in the order they are tried until the person is safe.
SECTIONS: tuple[tuple[str, str, str], ...] = (
    (
        "warning_signs",
        "1. My warning signs",
        "Thoughts, moods, images, situations or behaviours that tell me a crisis may be coming.",
    ),
    (
        "coping",
        "2. Things I can do on my own",
        "What helps me get through without acting on urges: activities, places, things to hold on to.",
    ),
    ("distraction", "3. People and places that take my mind off things", "I don't have to tell them how I feel."),
    ("people_to_ask", "4. People I can ask for help", "Family or friends I can tell, with their numbers."),
    (
        "professionals",
        "5. Professionals and services",
        "My clinician, the clinic's number, the crisis line, the nearest emergency department.",
    ),
    (
        "safe_environment",
        "6. Making my surroundings safer",
        "How I keep medicines, weapons or other means out of reach.",
    ),
)
SECTION_KEYS = tuple(key for key, _title, _hint in SECTIONS)


async def current_plan(session: AsyncSession, patient_id: int) -> SafetyPlanVersion | None:
    return (
        await session.execute(
            select(SafetyPlanVersion)
            .where(SafetyPlanVersion.patient_id == patient_id)
            .order_by(SafetyPlanVersion.version.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def version_count(session: AsyncSession, patient_id: int) -> int:
    return (
        await session.scalar(
            select(func.count()).select_from(SafetyPlanVersion).where(SafetyPlanVersion.patient_id == patient_id)
        )
        or 0
    )


async def save_plan(db: Database, author: CurrentUser, patient: Patient, sections: dict[str, str]) -> SafetyPlanVersion:
    """Store a new version (the next number for this patient); earlier versions stay untouched.

    The caller has already checked that ``author`` is the patient or on their care team.
    """
    async with db.writing() as session:
        latest = await current_plan(session, patient.id)
        row = SafetyPlanVersion(
            clinic_id=patient.clinic_id,
            patient_id=patient.id,
            version=(latest.version + 1) if latest else 1,
            sections={key: sections.get(key, "") for key in SECTION_KEYS},
            created_by_id=author.id,
            created_at=utcnow(),
        )
        session.add(row)
        await session.flush()
    return row
