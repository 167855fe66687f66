"""Server-side login sessions: creation, lookup with idle/absolute expiry, revocation.

The cookie carries a 256-bit random token; the database stores only its SHA-256, so a leaked
database row cannot be replayed as a cookie. A new token is minted at every login (no fixation,
SESS-02) and the row is deleted at logout, expiry or deactivation (SESS-04).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Row, Select, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from companion.accounts.models import Patient, Role, User, WebSession
from companion.db import Database, utcnow
from companion.settings import SessionSettings

# Refresh last_seen_at at most this often, so reading pages does not mean a write per request.
TOUCH_INTERVAL = timedelta(seconds=60)


@dataclass(frozen=True)
class CurrentUser:
    """Who is making the request, as the guards and handlers see them."""

    id: int
    code: str
    clinic_id: int
    role: str
    name: str
    patient_id: int | None
    patient_code: str | None
    session_id: int

    @property
    def is_patient(self) -> bool:
        return self.role == Role.PATIENT

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.CLINICIAN, Role.ADMIN)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def session_lifetime(role: str, remember: bool, policy: SessionSettings) -> tuple[timedelta, int]:
    """(absolute lifetime, idle limit in seconds; 0 = none) for a new session."""
    if role != Role.PATIENT:
        return timedelta(hours=policy.staff_absolute_hours), policy.staff_idle_minutes * 60
    if remember:
        return timedelta(days=policy.patient_remember_days), 0
    return timedelta(hours=policy.patient_hours), policy.patient_idle_minutes * 60


async def create_session(
    session: AsyncSession,
    user: User,
    *,
    remember: bool,
    policy: SessionSettings,
    replacing_token: str | None,
    user_agent: str = "",
) -> str:
    """Insert a new session row for ``user`` and return its token. Any presented token is destroyed."""
    if replacing_token:
        await session.execute(delete(WebSession).where(WebSession.token_hash == hash_token(replacing_token)))
    token = secrets.token_urlsafe(32)
    lifetime, idle_seconds = session_lifetime(user.role, remember and user.role == Role.PATIENT, policy)
    now = utcnow()
    session.add(
        WebSession(
            token_hash=hash_token(token),
            user_id=user.id,
            clinic_id=user.clinic_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + lifetime,
            idle_seconds=idle_seconds,
            remembered=remember and user.role == Role.PATIENT,
            user_agent=user_agent[:200],
        )
    )
    return token


async def destroy_session(db: Database, token: str) -> None:
    async with db.writing() as session:
        await session.execute(delete(WebSession).where(WebSession.token_hash == hash_token(token)))


async def end_all_sessions(session: AsyncSession, user_id: int) -> None:
    await session.execute(delete(WebSession).where(WebSession.user_id == user_id))


def is_expired(row: Row[Any], now: datetime) -> bool:
    """``row`` has the session's expires_at, idle_seconds and last_seen_at."""
    if now >= row.expires_at:
        return True
    return bool(row.idle_seconds) and now - row.last_seen_at >= timedelta(seconds=row.idle_seconds)


@cache
def _session_query() -> Select[Any]:
    """The session, its user and (for patients) the patient, in plain columns of one statement
    built once: this runs on every authenticated request."""
    sessions, users, patients = WebSession.__table__, User.__table__, Patient.__table__
    return (
        select(
            sessions.c.id,
            sessions.c.expires_at,
            sessions.c.last_seen_at,
            sessions.c.idle_seconds,
            users.c.id.label("user_id"),
            users.c.code,
            users.c.clinic_id,
            users.c.role,
            users.c.name,
            users.c.active,
            patients.c.id.label("patient_id"),
            patients.c.code.label("patient_code"),
        )
        .join(users, users.c.id == sessions.c.user_id)
        .outerjoin(patients, patients.c.user_id == users.c.id)
        .where(sessions.c.token_hash == bindparam("token_hash"))
    )


async def resolve_session(db: Database, token: str) -> tuple[CurrentUser | None, bool]:
    """Look up the user behind a cookie token.

    Returns (user, ended): ``ended`` is True when the token named a session that has just been
    found expired or belonging to a deactivated account, so the caller can clear the browser.
    """
    async with db.engine.connect() as connection:  # a bare connection: no ORM session to set up
        found = (await connection.execute(_session_query(), {"token_hash": hash_token(token)})).first()
    if found is None:
        return None, False
    now = utcnow()
    if is_expired(found, now) or not found.active:
        await destroy_session(db, token)
        return None, True
    if now - found.last_seen_at >= TOUCH_INTERVAL:
        async with db.writing() as session:
            await session.execute(update(WebSession).where(WebSession.id == found.id).values(last_seen_at=now))
    current = CurrentUser(
        id=found.user_id,
        code=found.code,
        clinic_id=found.clinic_id,
        role=found.role,
        name=found.name,
        patient_id=found.patient_id,
        patient_code=found.patient_code,
        session_id=found.id,
    )
    return current, False


async def purge_expired_sessions(db: Database) -> int:
    """Housekeeping: delete sessions past their absolute expiry. Returns how many went."""
    async with db.writing() as session:
        result = await session.execute(delete(WebSession).where(WebSession.expires_at <= utcnow()))
    return result.rowcount or 0
