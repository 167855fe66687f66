"""Accounts: logging in, staff accounts, and which patients a staff member may see."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Row, Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from companion.accounts import throttle
from companion.accounts.auth import CurrentUser, create_session
from companion.accounts.models import CareTeamMember, Clinic, Patient, Role, User
from companion.accounts.passwords import hash_password, needs_rehash, spend_verify_time, verify_password
from companion.db import Database
from companion.settings import SessionSettings


@dataclass(frozen=True)
class LoginOutcome:
    token: str | None = None
    role: str | None = None
    wait_seconds: int = 0

    @property
    def ok(self) -> bool:
        return self.token is not None


def normalise_login(value: str) -> str:
    return value.strip().lower()


async def log_in(
    db: Database,
    login: str,
    password: str,
    *,
    address: str,
    remember: bool,
    policy: SessionSettings,
    replacing_token: str | None,
    user_agent: str = "",
) -> LoginOutcome:
    """Check the password under throttling; on success open a fresh session and return its token."""
    login = normalise_login(login)
    keys = {"account": login, "address": address}
    async with db.reading() as session:
        wait = await throttle.seconds_to_wait(session, keys)
        user = (await session.execute(select(User).where(User.login == login))).scalar_one_or_none()
    if wait:
        return LoginOutcome(wait_seconds=wait)
    if user is None or not user.active:
        await spend_verify_time()
        return await _failed(db, keys)
    if not await verify_password(user.password_hash, password):
        return await _failed(db, keys)
    new_hash = await hash_password(password) if needs_rehash(user.password_hash) else None
    async with db.writing() as session:
        await throttle.clear_account(session, login)
        if new_hash:
            (await session.get_one(User, user.id)).password_hash = new_hash
        token = await create_session(
            session, user, remember=remember, policy=policy, replacing_token=replacing_token, user_agent=user_agent
        )
    return LoginOutcome(token=token, role=user.role)


async def _failed(db: Database, keys: dict[str, str]) -> LoginOutcome:
    async with db.writing() as session:
        await throttle.record_failure(session, keys)
    return LoginOutcome()


async def create_staff_user(db: Database, *, clinic_name: str, role: str, email: str, name: str, password: str) -> User:
    """Create a clinician or admin in the named clinic (created if it does not exist yet)."""
    if role not in (Role.CLINICIAN, Role.ADMIN):
        raise ValueError("role must be clinician or admin")
    password_hash = await hash_password(password)
    async with db.writing() as session:
        clinic = (await session.execute(select(Clinic).where(Clinic.name == clinic_name))).scalar_one_or_none()
        if clinic is None:
            clinic = Clinic(name=clinic_name)
            session.add(clinic)
            await session.flush()
        user = User(
            clinic_id=clinic.id,
            role=role,
            login=normalise_login(email),
            email=email.strip(),
            name=name.strip(),
            password_hash=password_hash,
        )
        session.add(user)
        await session.flush()
    return user


def care_team_scope(staff: CurrentUser):  # type: ignore[no-untyped-def]
    """SQL condition: patients in the staff member's clinic on whose care team they are (AC-02)."""
    on_team = select(CareTeamMember.patient_id).where(
        CareTeamMember.clinician_id == staff.id, CareTeamMember.clinic_id == staff.clinic_id
    )
    return (Patient.clinic_id == staff.clinic_id) & Patient.id.in_(on_team)


async def patient_for_staff(session: AsyncSession, staff: CurrentUser, code: str) -> Patient | None:
    """The patient with ``code`` if this clinician may see them; None otherwise (answered as 404).

    Admins manage accounts without automatic access to clinical content (AC-02, MIN-01).
    """
    if staff.role != Role.CLINICIAN:
        return None
    return (
        await session.execute(select(Patient).where(Patient.code == code, care_team_scope(staff)))
    ).scalar_one_or_none()


async def patients_for_clinician(session: AsyncSession, staff: CurrentUser) -> list[Patient]:
    return list((await session.execute(select(Patient).where(care_team_scope(staff)).order_by(Patient.name))).scalars())


async def clinic_of(session: AsyncSession, clinic_id: int) -> Clinic:
    return await session.get_one(Clinic, clinic_id)


@cache
def _entry_author_query() -> Select[Any]:
    """Built once: statement construction costs more than running it, on every entry."""
    return (
        select(Patient.id, Patient.clinic_id, Patient.timezone, Clinic)
        .join(Clinic, Clinic.id == Patient.clinic_id)
        .where(Patient.id == bindparam("patient_id"))
    )


async def entry_author(session: AsyncSession, patient_id: int) -> Row[Any]:
    """The patient writing an entry: (id, clinic_id, timezone, Clinic), in one statement. Plain
    columns (no care-team load per entry); the clinic lands in the session's identity map, where
    risk evaluation then finds it without another query."""
    return (await session.execute(_entry_author_query(), {"patient_id": patient_id})).one()
