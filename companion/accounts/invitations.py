"""Enrolling patients and activating their accounts through single-use invitation links.

The link carries a 256-bit random token; only its SHA-256 is stored. A link works once, for
``invitation_days`` (7 by default), and never becomes a credential: activation sets a password
and the link is spent in the same transaction (AUTH-08).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum

import segno
from markupsafe import Markup
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from companion.accounts.auth import CurrentUser, create_session, hash_token
from companion.accounts.models import CareTeamMember, Clinic, Consent, Invitation, Patient, Role, User
from companion.accounts.passwords import hash_password
from companion.accounts.service import normalise_login
from companion.db import Database, utcnow
from companion.settings import Settings

CONSENT_PURPOSE = "monitoring"
CONSENT_TEXT_VERSION = "monitoring-notice-2026-11"


class LinkState(StrEnum):
    VALID = "valid"
    USED = "used"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Enrolment:
    patient: Patient
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class OpenInvitation:
    state: LinkState
    patient: Patient | None = None
    clinic: Clinic | None = None


@dataclass(frozen=True)
class Activation:
    login: str
    password: str
    timezone: str
    reminder_time: time


def invitation_url(settings: Settings, token: str) -> str:
    return f"{settings.web.base_url}/invite/{token}"


def invitation_qr_svg(url: str) -> Markup:
    """The link as an inline SVG QR code.

    Marked safe here, at its source, because segno draws the URL as modules, never as text; the
    only text is our constant title. No user input reaches this markup (XSS-01).
    """
    return Markup(segno.make(url, error="m").svg_inline(scale=4, dark="#111", light="#fff", title="Invitation QR code"))  # noqa: S704 - see docstring


async def enrol_patient(
    db: Database, clinician: CurrentUser, *, name: str, email: str | None, timezone: str, days: int
) -> Enrolment:
    """Create the patient with ``clinician`` as primary care-team member, and their first invitation."""
    async with db.writing() as session:
        patient = Patient(
            clinic_id=clinician.clinic_id, name=name, email=email or None, timezone=timezone, created_by_id=clinician.id
        )
        session.add(patient)
        await session.flush()
        session.add(
            CareTeamMember(
                clinic_id=clinician.clinic_id, patient_id=patient.id, clinician_id=clinician.id, is_primary=True
            )
        )
        token, expires_at = await _new_invitation(session, patient, clinician.id, days)
    return Enrolment(patient, token, expires_at)


async def reissue_invitation(db: Database, clinician_id: int, patient: Patient, days: int) -> Enrolment:
    """Revoke any unused link for ``patient`` and make a new one."""
    async with db.writing() as session:
        await session.execute(
            update(Invitation)
            .where(Invitation.patient_id == patient.id, Invitation.used_at.is_(None), Invitation.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        token, expires_at = await _new_invitation(session, patient, clinician_id, days)
    return Enrolment(patient, token, expires_at)


async def _new_invitation(session: AsyncSession, patient: Patient, created_by: int, days: int) -> tuple[str, datetime]:
    token = secrets.token_urlsafe(32)
    expires_at = utcnow() + timedelta(days=days)
    session.add(
        Invitation(
            clinic_id=patient.clinic_id,
            patient_id=patient.id,
            token_hash=hash_token(token),
            created_by_id=created_by,
            expires_at=expires_at,
        )
    )
    await session.flush()
    return token, expires_at


def link_state(invitation: Invitation | None, patient: Patient | None, now: datetime) -> LinkState:
    if invitation is None or patient is None:
        return LinkState.UNKNOWN
    if invitation.used_at is not None or patient.user_id is not None:
        return LinkState.USED
    if invitation.revoked_at is not None or now >= invitation.expires_at:
        return LinkState.EXPIRED
    return LinkState.VALID


async def open_invitation(session: AsyncSession, token: str) -> OpenInvitation:
    found = (
        await session.execute(
            select(Invitation, Patient, Clinic)
            .join(Patient, Patient.id == Invitation.patient_id)
            .join(Clinic, Clinic.id == Invitation.clinic_id)
            .where(Invitation.token_hash == hash_token(token))
        )
    ).first()
    if found is None:
        return OpenInvitation(LinkState.UNKNOWN)
    invitation, patient, clinic = found
    return OpenInvitation(link_state(invitation, patient, utcnow()), patient, clinic)


async def login_taken(session: AsyncSession, login: str) -> bool:
    return (await session.execute(select(User.id).where(User.login == normalise_login(login)))).first() is not None


async def activate(db: Database, token: str, data: Activation, settings: Settings) -> str | None:
    """Spend the link: create the patient's login, record consent, open a session.

    Returns the new session token, or None when the link is no longer valid (used in a race,
    expired meanwhile) or the login name was taken meanwhile; nothing is written then.
    """
    password_hash = await hash_password(data.password)
    try:
        return await _activate(db, token, data, settings, password_hash)
    except LinkSpent:
        return None


class LinkSpent(Exception):
    """Another request activated the same link first; this transaction is rolled back."""


async def _activate(db: Database, token: str, data: Activation, settings: Settings, password_hash: str) -> str | None:
    async with db.writing() as session:
        opened = await open_invitation(session, token)
        if opened.state != LinkState.VALID or opened.patient is None or await login_taken(session, data.login):
            return None
        patient = opened.patient
        user = User(
            clinic_id=patient.clinic_id,
            role=Role.PATIENT,
            login=normalise_login(data.login),
            email=patient.email,
            name=patient.name,
            password_hash=password_hash,
        )
        session.add(user)
        await session.flush()
        await _complete_activation(session, patient, user, data, token)
        return await create_session(session, user, remember=False, policy=settings.sessions, replacing_token=None)


async def _complete_activation(
    session: AsyncSession, patient: Patient, user: User, data: Activation, token: str
) -> None:
    now = utcnow()
    patient.user_id = user.id
    patient.timezone = data.timezone
    patient.reminder_time = data.reminder_time
    patient.activated_at = now
    session.add(
        Consent(
            clinic_id=patient.clinic_id,
            patient_id=patient.id,
            purpose=CONSENT_PURPOSE,
            text_version=CONSENT_TEXT_VERSION,
            given_at=now,
        )
    )
    # The conditional UPDATE makes a second, concurrent activation of the same link a no-op.
    result = await session.execute(
        update(Invitation)
        .where(Invitation.token_hash == hash_token(token), Invitation.used_at.is_(None))
        .values(used_at=now)
    )
    if result.rowcount != 1:
        raise LinkSpent()
