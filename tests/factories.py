"""Plain make_* helpers and the personas of architecture.md.

alice and bob are patients of North Clinic; carol is alice's primary clinician; dave is a
clinician in the same clinic who is not on alice's team (he treats bob); erin is a clinician of
South Clinic; ada is North Clinic's admin. Everyone's password is ``PASSWORD``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import lru_cache

from companion.accounts.models import CareTeamMember, Clinic, Consent, Patient, Role, User
from companion.accounts.passwords import hash_password_sync
from companion.db import Database, utcnow
from companion.treatments.models import TreatmentSession

PASSWORD = "a calm lake at dawn"
WEEKDAY_HOURS = {day: ["09:00", "17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}


@lru_cache(maxsize=1)
def password_hash() -> str:
    # One argon2 hash for the whole run: hashing is deliberately slow (~0.1 s).
    return hash_password_sync(PASSWORD)


@dataclass(frozen=True)
class Person:
    login: str
    name: str
    role: str
    user_id: int
    clinic_id: int
    patient_id: int | None = None
    patient_code: str | None = None


@dataclass(frozen=True)
class Personas:
    alice: Person
    bob: Person
    carol: Person
    dave: Person
    erin: Person
    ada: Person
    north_id: int
    south_id: int


async def make_clinic(db: Database, name: str, zone: str = "America/New_York") -> Clinic:
    async with db.writing() as session:
        clinic = Clinic(name=name, timezone=zone, region="US", phone="+1 555 0100", hours=WEEKDAY_HOURS)
        session.add(clinic)
    return clinic


async def make_staff(db: Database, clinic: Clinic, login: str, name: str, role: str = Role.CLINICIAN) -> Person:
    async with db.writing() as session:
        user = User(clinic_id=clinic.id, role=role, login=login, email=login, name=name, password_hash=password_hash())
        session.add(user)
    return Person(login, name, role, user.id, clinic.id)


async def make_patient(
    db: Database, clinic: Clinic, login: str, name: str, clinicians: list[Person], zone: str = "America/New_York"
) -> Person:
    async with db.writing() as session:
        user = User(
            clinic_id=clinic.id, role=Role.PATIENT, login=login, email=login, name=name, password_hash=password_hash()
        )
        session.add(user)
        await session.flush()
        patient = Patient(
            clinic_id=clinic.id,
            user_id=user.id,
            name=name,
            email=login,
            timezone=zone,
            reminder_time=time(19, 0),
            activated_at=utcnow(),
        )
        session.add(patient)
        await session.flush()
        for index, clinician in enumerate(clinicians):
            session.add(
                CareTeamMember(
                    clinic_id=clinic.id, patient_id=patient.id, clinician_id=clinician.user_id, is_primary=index == 0
                )
            )
        session.add(Consent(clinic_id=clinic.id, patient_id=patient.id, purpose="monitoring", text_version="test"))
    return Person(login, name, Role.PATIENT, user.id, clinic.id, patient.id, patient.code)


async def make_personas(db: Database) -> Personas:
    north = await make_clinic(db, "North Clinic")
    south = await make_clinic(db, "South Clinic", zone="Europe/London")
    carol = await make_staff(db, north, "carol@north.example", "Carol Clinician")
    dave = await make_staff(db, north, "dave@north.example", "Dave Doctor")
    erin = await make_staff(db, south, "erin@south.example", "Erin Elsewhere")
    ada = await make_staff(db, north, "ada@north.example", "Ada Admin", role=Role.ADMIN)
    alice = await make_patient(db, north, "alice@patient.example", "Alice Patient", [carol])
    bob = await make_patient(db, north, "bob@patient.example", "Bob Patient", [dave])
    return Personas(alice, bob, carol, dave, erin, ada, north.id, south.id)


async def make_session(
    db: Database,
    patient: Person,
    at: datetime | None = None,
    route: str = "esketamine_nasal",
    phase: str = "induction",
    status: str = "scheduled",
) -> TreatmentSession:
    async with db.writing() as session:
        row = TreatmentSession(
            clinic_id=patient.clinic_id,
            patient_id=patient.patient_id,
            scheduled_at=at or utcnow() + timedelta(days=2),
            route=route,
            phase=phase,
            status=status,
        )
        session.add(row)
    return row
