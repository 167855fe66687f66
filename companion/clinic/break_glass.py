"""Emergency ("break-glass") access, AC-06.

A clinician may open the record of a patient of their own clinic who is not on their care team
only by stating a reason. That writes a ``BreakGlassGrant`` (who, which patient, the reason, until
when) and an audit row with ``why = "break-glass: <reason>"`` in one transaction. Until the grant
expires (``COMPANION_BREAK_GLASS_MINUTES``, default 60; a clinic may set
``settings["break_glass"]["minutes"]``) the record page opens read-only for that clinician and
every view writes its audit row with the same why. Nothing else opens: the write routes, alerts
and safety-plan pages keep their care-team check.

Never across clinics (the patient is looked up with ``clinic_id = <the clinician's clinic>`` in
SQL), never for admins or patients (route access and a role check), and a clinician already on the
care team needs no grant.

Review: the clinic's admins see every grant not yet reviewed on the audit page
(``/clinic/admin/audit``) and record an outcome; that is audited too. (The notification outbox has
no admin-notice kind to hook into, so the review list is the notice.)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Template
from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from companion import idempotency
from companion.accounts.auth import CurrentUser
from companion.accounts.models import CareTeamMember, Clinic, Patient, Role, User
from companion.clinic import audit
from companion.clinic.models import BREAK_GLASS_WHY, AuditAction, AuditPurpose, BreakGlassGrant
from companion.db import Database, utcnow
from companion.idempotency import IdempotencyConflict, IdempotencyKey
from companion.notify.service import queue_access_review
from companion.web.forms import FormData
from companion.web.guards import Access, access
from companion.web.idempotent import key_from_form, mint_key
from companion.web.render import after_post, db_of, render, settings_of, user_of

log = logging.getLogger("companion.security")
REASON_MIN = 10
REASON_MAX = 300
MINUTES_RANGE = (5, 24 * 60)
IDEMPOTENCY_KIND = "break_glass"
OUTCOMES = {"appropriate": "Appropriate", "follow_up": "Needs follow-up"}
REVIEW_ROWS = 200


def grant_minutes(clinic: Clinic, default: int) -> int:
    """The clinic's own duration when it set a valid one, else the deployment's."""
    value = ((clinic.settings or {}).get("break_glass") or {}).get("minutes")
    low, high = MINUTES_RANGE
    return value if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high else default


def why_of(reason: str) -> str:
    return BREAK_GLASS_WHY + reason


# --- Queries (object-level checks in SQL) --------------------------------------------------------


async def clinic_patient(session: AsyncSession, staff: CurrentUser, code: str) -> tuple[Patient, bool] | None:
    """The patient with ``code`` in the clinician's own clinic, and whether they are on its care team."""
    if staff.role != Role.CLINICIAN:
        return None
    on_team = (
        select(CareTeamMember.id)
        .where(
            CareTeamMember.patient_id == Patient.id,
            CareTeamMember.clinician_id == staff.id,
            CareTeamMember.clinic_id == staff.clinic_id,
        )
        .exists()
    )
    row = (
        await session.execute(
            select(Patient, on_team).where(Patient.code == code, Patient.clinic_id == staff.clinic_id)
        )
    ).first()
    return (row[0], bool(row[1])) if row else None


async def active_grant(
    session: AsyncSession, staff: CurrentUser, code: str, now: datetime | None = None
) -> tuple[Patient, BreakGlassGrant] | None:
    """The patient with ``code`` and this clinician's unexpired grant for them, both in their clinic."""
    if staff.role != Role.CLINICIAN:
        return None
    row = (
        await session.execute(
            select(Patient, BreakGlassGrant)
            .join(
                BreakGlassGrant,
                and_(BreakGlassGrant.patient_id == Patient.id, BreakGlassGrant.clinic_id == Patient.clinic_id),
            )
            .where(
                Patient.code == code,
                Patient.clinic_id == staff.clinic_id,
                BreakGlassGrant.clinician_id == staff.id,
                BreakGlassGrant.expires_at > (now or utcnow()),
            )
            .order_by(BreakGlassGrant.expires_at.desc())
            .limit(1)
        )
    ).first()
    return (row[0], row[1]) if row else None


@dataclass(frozen=True)
class GrantRow:
    grant: BreakGlassGrant
    clinician_name: str
    patient_name: str
    patient_code: str


async def grants_to_review(session: AsyncSession, clinic_id: int) -> list[GrantRow]:
    clinician = aliased(User)
    rows = await session.execute(
        select(BreakGlassGrant, clinician.name, Patient.name, Patient.code)
        .join(clinician, clinician.id == BreakGlassGrant.clinician_id)
        .join(Patient, Patient.id == BreakGlassGrant.patient_id)
        .where(BreakGlassGrant.clinic_id == clinic_id, BreakGlassGrant.reviewed_at.is_(None))
        .order_by(BreakGlassGrant.created_at.desc())
        .limit(REVIEW_ROWS)
    )
    return [GrantRow(*row) for row in rows.all()]


async def count_to_review(session: AsyncSession, clinic_id: int) -> int:
    query = select(func.count()).where(BreakGlassGrant.clinic_id == clinic_id, BreakGlassGrant.reviewed_at.is_(None))
    return int((await session.execute(query)).scalar_one())


async def my_grants(session: AsyncSession, staff: CurrentUser, limit: int = 20) -> list[tuple[BreakGlassGrant, str]]:
    rows = await session.execute(
        select(BreakGlassGrant, Patient.code)
        .join(Patient, Patient.id == BreakGlassGrant.patient_id)
        .where(BreakGlassGrant.clinician_id == staff.id, BreakGlassGrant.clinic_id == staff.clinic_id)
        .order_by(BreakGlassGrant.created_at.desc())
        .limit(limit)
    )
    return [(grant, code) for grant, code in rows.all()]


# --- Writes --------------------------------------------------------------------------------------


async def _admin_ids(session: AsyncSession, clinic_id: int) -> list[int]:
    """The clinic's active admins: who reviews emergency access."""
    query = select(User.id).where(User.clinic_id == clinic_id, User.role == Role.ADMIN, User.active.is_(True))
    return list((await session.execute(query)).scalars())


async def open_grant(
    db: Database, staff: CurrentUser, patient: Patient, reason: str, minutes: int, key: IdempotencyKey | None
) -> BreakGlassGrant:
    """The grant and its audit row, in one transaction; a replayed key returns the first grant."""

    async def work(session: AsyncSession) -> BreakGlassGrant:
        if key is not None and (seen := await idempotency.find_replay(session, key)):
            return (
                await session.execute(select(BreakGlassGrant).where(BreakGlassGrant.code == seen.resource_code))
            ).scalar_one()
        now = utcnow()
        grant = BreakGlassGrant(
            clinic_id=staff.clinic_id,
            clinician_id=staff.id,
            patient_id=patient.id,
            reason=reason,
            created_at=now,
            expires_at=now + timedelta(minutes=minutes),
        )
        session.add(grant)
        await session.flush()
        await audit.append_for(
            session,
            staff,
            AuditAction.BREAK_GLASS,
            f"emergency access {grant.code}: read-only record for {minutes} minutes; admins notified for review",
            why=why_of(reason),
            patient_id=patient.id,
        )
        await queue_access_review(
            session,
            clinic_id=staff.clinic_id,
            grant_code=grant.code,
            admin_ids=await _admin_ids(session, staff.clinic_id),
        )
        if key is not None:
            await idempotency.remember(session, key, grant.code)
        return grant

    return await idempotency.run_write(db, work)


# --- Routes --------------------------------------------------------------------------------------


def _reason_context(code: str, values: dict[str, str], errors: dict[str, str], minutes: int) -> dict[str, Any]:
    return {
        "code": code,
        "values": values,
        "errors": errors,
        "minutes": minutes,
        "reason_min": REASON_MIN,
        "reason_max": REASON_MAX,
        "idempotency_key": mint_key(),
    }


async def _minutes(request: Request[Any, Any, Any], session: AsyncSession, clinic_id: int) -> int:
    clinic = await session.get_one(Clinic, clinic_id)
    return grant_minutes(clinic, settings_of(request).audit.break_glass_minutes)


@get("/clinic/break-glass", opt=access(Access.CLINICIAN), include_in_schema=False)
async def break_glass_page(request: Request[Any, Any, Any], code: str = "") -> Response[Any] | Template:
    """Find a patient of the clinic by code; the reason is asked on the next page."""
    staff = user_of(request)
    code = code.strip()
    if code:
        if not code.replace("-", "").replace("_", "").isalnum() or len(code) > 32:
            raise NotFoundException()
        return after_post(request, f"/clinic/patients/{code}/break-glass")
    async with db_of(request).reading() as session:
        grants = await my_grants(session, staff)
        clinic = await session.get_one(Clinic, staff.clinic_id)
    minutes = grant_minutes(clinic, settings_of(request).audit.break_glass_minutes)
    context = {"grants": grants, "now": utcnow(), "minutes": minutes, "zone": clinic.timezone}
    return render(request, "pages/staff/break_glass.html", context)


async def _patient_off_team(
    request: Request[Any, Any, Any], staff: CurrentUser, code: str
) -> tuple[Patient | None, int, Response[Any] | None]:
    """(patient, grant minutes, None) for a same-clinic patient not on the clinician's team; a
    redirect to the ordinary record for their own patient (nothing to record); 404 otherwise."""
    async with db_of(request).reading() as session:
        found = await clinic_patient(session, staff, code)
        minutes = await _minutes(request, session, staff.clinic_id)
    if found is None:
        raise NotFoundException()
    patient, on_team = found
    if on_team:
        return None, minutes, after_post(request, f"/clinic/patients/{patient.code}")
    return patient, minutes, None


@get("/clinic/patients/{code:str}/break-glass", opt=access(Access.CLINICIAN), include_in_schema=False)
async def reason_form(request: Request[Any, Any, Any], code: str) -> Response[Any] | Template:
    patient, minutes, own = await _patient_off_team(request, user_of(request), code)
    if patient is None:
        return own  # type: ignore[return-value]
    return render(request, "pages/staff/break_glass_reason.html", _reason_context(patient.code, {}, {}, minutes))


@post("/clinic/patients/{code:str}/break-glass", opt=access(Access.CLINICIAN), include_in_schema=False)
async def open_break_glass(request: Request[Any, Any, Any], code: str) -> Response[Any] | Template:
    staff = user_of(request)
    patient, minutes, own = await _patient_off_team(request, staff, code)
    if patient is None:
        return own  # type: ignore[return-value]
    form = FormData.from_multidict(await request.form())
    form.reject_unknown(("reason",))
    reason = " ".join(form.text("reason", REASON_MAX, required=True, label="the reason for emergency access").split())
    if form.ok and len(reason) < REASON_MIN:
        form.fail("reason", f"Say why you need this record now, in at least {REASON_MIN} characters.")
    key = key_from_form(form, staff, IDEMPOTENCY_KIND, {"patient": patient.code, "reason": reason})
    if not form.ok:
        values = {"reason": (form.raw("reason") or "")[:REASON_MAX]}
        context = _reason_context(patient.code, values, form.errors, minutes)
        return render(request, "pages/staff/break_glass_reason.html", context, status=422)
    try:
        grant = await open_grant(db_of(request), staff, patient, reason, minutes, key)
    except IdempotencyConflict:
        form.fail("reason", "This form was already sent with a different reason. Reload the page and try again.")
        context = _reason_context(patient.code, {"reason": reason}, form.errors, minutes)
        return render(request, "pages/staff/break_glass_reason.html", context, status=409)
    # Security event (LOG-01): ids only; the reason stays in the audit trail (LOG-02).
    log.warning(
        "break-glass access %s: user %s, patient %s, clinic %s, %s minutes",
        grant.code,
        staff.id,
        patient.id,
        staff.clinic_id,
        minutes,
    )
    return after_post(request, f"/clinic/patients/{patient.code}")


@post("/clinic/admin/break-glass/{code:str}/review", opt=access(Access.ADMIN), include_in_schema=False)
async def review_grant(request: Request[Any, Any, Any], code: str) -> Response[Any]:
    admin = user_of(request)
    form = FormData.from_multidict(await request.form())
    form.reject_unknown(("outcome",))
    outcome = form.choice("outcome", tuple(OUTCOMES), label="the outcome of the review")
    mine = and_(BreakGlassGrant.code == code, BreakGlassGrant.clinic_id == admin.clinic_id)
    async with db_of(request).reading() as session:
        if (await session.execute(select(BreakGlassGrant.id).where(mine))).first() is None:
            raise NotFoundException()
    if not form.ok or outcome is None:
        message = next(iter(form.errors.values()), "Choose an outcome.")
        return Response(f"{message} Go back to the audit page and try again.", status_code=422, media_type="text/plain")
    async with db_of(request).writing() as session:
        grant = (
            await session.execute(select(BreakGlassGrant).where(mine, BreakGlassGrant.reviewed_at.is_(None)))
        ).scalar_one_or_none()
        if grant is not None:  # already reviewed (a double submit, or another admin): nothing to do
            grant.reviewed_at, grant.reviewed_by_id, grant.review_outcome = utcnow(), admin.id, outcome
            await audit.append_for(
                session,
                admin,
                AuditAction.BREAK_GLASS_REVIEW,
                f"reviewed emergency access {grant.code}: {OUTCOMES[outcome].lower()}",
                why=AuditPurpose.ADMIN_TASK,
                patient_id=grant.patient_id,
            )
    return after_post(request, "/clinic/admin/audit?reviewed=1#break-glass")


handlers = [break_glass_page, reason_form, open_break_glass, review_grant]
