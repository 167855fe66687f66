"""Reading the audit trail: the admin's query page and the patient's "who looked at my record"."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Template
from sqlalchemy import select
from sqlalchemy.orm import aliased

from companion.accounts.models import Clinic, Patient, Role, User
from companion.clinic import audit, break_glass
from companion.clinic.models import AuditAction, AuditEvent, AuditPurpose
from companion.web.guards import Access, access
from companion.web.render import db_of, render, user_of

PAGE_ROWS = 200
# What a patient is shown: every read of their data by staff, and every change to their record.
PATIENT_VISIBLE = tuple(
    a.value
    for a in AuditAction
    if a.value.startswith("view_")
    or a
    in (
        AuditAction.EXPORT,
        AuditAction.PLAN_CHANGE,
        AuditAction.SESSION_CHANGE,
        AuditAction.CARE_TEAM_CHANGE,
        AuditAction.INVITATION,
        AuditAction.ALERT_ACTION,
        AuditAction.BREAK_GLASS,
    )
)


@get("/clinic/admin/audit", opt=access(Access.ADMIN), include_in_schema=False)
async def audit_log(request: Request[Any, Any, Any], patient: str = "", staff: str = "") -> Template:
    admin = user_of(request)
    actor_alias, patient_alias = aliased(User), aliased(Patient)
    query = (
        select(AuditEvent, actor_alias.name, actor_alias.code, patient_alias.name, patient_alias.code)
        .outerjoin(actor_alias, actor_alias.id == AuditEvent.actor_id)
        .outerjoin(patient_alias, patient_alias.id == AuditEvent.patient_id)
        .where(AuditEvent.clinic_id == admin.clinic_id)
    )
    if patient:
        query = query.where(patient_alias.code == patient)
    if staff:
        query = query.where(actor_alias.code == staff)
    async with db_of(request).reading() as session:
        rows = (await session.execute(query.order_by(AuditEvent.seq.desc()).limit(PAGE_ROWS))).all()
        chain = await audit.verify_chain(session, admin.clinic_id)
        clinic = await session.get_one(Clinic, admin.clinic_id)
        to_review = await break_glass.grants_to_review(session, admin.clinic_id)
        people = (
            await session.execute(
                select(User.code, User.name, User.role)
                .where(User.clinic_id == admin.clinic_id, User.role != Role.PATIENT)
                .order_by(User.name)
            )
        ).all()
        patients = (
            await session.execute(
                select(Patient.code, Patient.name).where(Patient.clinic_id == admin.clinic_id).order_by(Patient.name)
            )
        ).all()
    query_text = ", ".join(f"{k} {v}" for k, v in (("patient", patient), ("staff", staff)) if v) or "recent events"
    await audit.record(
        db_of(request),
        admin,
        AuditAction.VIEW_AUDIT,
        f"audit log query: {query_text}"[:200],
        why=AuditPurpose.ADMIN_TASK,
    )
    context = {
        "rows": rows,
        "chain": chain,
        "clinic": clinic,
        "people": people,
        "patients": patients,
        "patient": patient,
        "staff": staff,
        "limit": PAGE_ROWS,
        "to_review": to_review,
        "outcomes": break_glass.OUTCOMES,
        "reviewed": request.query_params.get("reviewed"),
    }
    return render(request, "pages/staff/audit.html", context)


@get("/my-record/views", opt=access(Access.PATIENT), include_in_schema=False)
async def my_record_views(request: Request[Any, Any, Any]) -> Template:
    me = user_of(request)
    async with db_of(request).reading() as session:
        rows = (
            await session.execute(
                select(AuditEvent, User.name, User.role)
                .outerjoin(User, User.id == AuditEvent.actor_id)
                .where(
                    AuditEvent.clinic_id == me.clinic_id,
                    AuditEvent.patient_id == me.patient_id,
                    AuditEvent.action.in_(PATIENT_VISIBLE),
                )
                .order_by(AuditEvent.seq.desc())
                .limit(PAGE_ROWS)
            )
        ).all()
        clinic = await session.get_one(Clinic, me.clinic_id)
    return render(request, "pages/patient/record_views.html", {"rows": rows, "zone": clinic.timezone})


handlers = [audit_log, my_record_views]
