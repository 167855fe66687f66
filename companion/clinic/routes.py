"""Staff pages: the patient list, enrolling a patient, and a patient's sessions.

This is the minimal workspace the foundation needs (enrol, invite, schedule a session); the
triage dashboard and full record build on it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import segno
from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Template
from sqlalchemy import func, select

from companion.accounts import invitations
from companion.accounts.auth import CurrentUser
from companion.accounts.models import Clinic, Patient, Role, User
from companion.accounts.service import patient_for_staff, patients_for_clinician
from companion.checkins.models import CheckIn
from companion.treatments import service as treatments
from companion.treatments.models import ROUTE_LABELS, Phase, Route
from companion.web.forms import FormData
from companion.web.guards import Access, access
from companion.web.render import db_of, render, settings_of, user_of

EMAIL_SHAPE = "@"


@get("/clinic", opt=access(Access.STAFF), include_in_schema=False)
async def clinic_home(request: Request[Any, Any, Any]) -> Template:
    staff = user_of(request)
    async with db_of(request).reading() as session:
        clinic = await session.get_one(Clinic, staff.clinic_id)
        if staff.role == Role.CLINICIAN:
            patients = await patients_for_clinician(session, staff)
            last_checkins = await _last_checkin_dates(session, [p.id for p in patients])
            staff_list: list[User] = []
        else:
            patients, last_checkins = [], {}
            staff_list = list(
                (
                    await session.execute(
                        select(User)
                        .where(User.clinic_id == staff.clinic_id, User.role != Role.PATIENT)
                        .order_by(User.name)
                    )
                ).scalars()
            )
    context = {"clinic": clinic, "patients": patients, "last_checkins": last_checkins, "staff_list": staff_list}
    return render(request, "pages/staff/clinic.html", context)


async def _last_checkin_dates(session: Any, patient_ids: list[int]) -> dict[int, Any]:
    if not patient_ids:
        return {}
    rows = await session.execute(
        select(CheckIn.patient_id, func.max(CheckIn.local_date))
        .where(CheckIn.patient_id.in_(patient_ids))
        .group_by(CheckIn.patient_id)
    )
    return dict(rows.all())


@get("/clinic/patients", opt=access(Access.CLINICIAN), include_in_schema=False)
async def patients_page(request: Request[Any, Any, Any]) -> Template:
    staff = user_of(request)
    async with db_of(request).reading() as session:
        patients = await patients_for_clinician(session, staff)
        clinic = await session.get_one(Clinic, staff.clinic_id)
    return render(
        request, "pages/staff/patients.html", {"patients": patients, "values": {}, "errors": {}, "clinic": clinic}
    )


@post("/clinic/patients", opt=access(Access.CLINICIAN), include_in_schema=False)
async def enrol_patient(request: Request[Any, Any, Any]) -> Template:
    staff = user_of(request)
    form = FormData.from_multidict(await request.form())
    form.reject_unknown(("name", "email"))
    name = form.text("name", 200, required=True, label="the patient's name")
    email = form.text("email", 254)
    if email and (EMAIL_SHAPE not in email or " " in email):
        form.fail("email", "Enter an e-mail address like name@example.org, or leave it empty.")
    if not form.ok:
        async with db_of(request).reading() as session:
            patients = await patients_for_clinician(session, staff)
            clinic = await session.get_one(Clinic, staff.clinic_id)
        values = {"name": name, "email": email}
        return render(
            request,
            "pages/staff/patients.html",
            {"patients": patients, "values": values, "errors": form.errors, "clinic": clinic},
            status=422,
        )
    async with db_of(request).reading() as session:
        clinic = await session.get_one(Clinic, staff.clinic_id)
    settings = settings_of(request)
    enrolment = await invitations.enrol_patient(
        db_of(request),
        staff,
        name=name,
        email=email or None,
        timezone=clinic.timezone,
        days=settings.web.invitation_days,
    )
    return _invitation_page(request, enrolment, clinic)


def _invitation_page(request: Request[Any, Any, Any], enrolment: invitations.Enrolment, clinic: Clinic) -> Template:
    url = invitations.invitation_url(settings_of(request), enrolment.token)
    qr_svg = segno.make(url, error="m").svg_inline(scale=4, dark="#111", light="#fff", title="Invitation QR code")
    context = {
        "patient": enrolment.patient,
        "url": url,
        "qr_svg": qr_svg,
        "expires_at": enrolment.expires_at,
        "zone": clinic.timezone,
    }
    return render(request, "pages/staff/invitation.html", context, status=201)


async def _patient_or_404(request: Request[Any, Any, Any], staff: CurrentUser, code: str) -> Patient:
    async with db_of(request).reading() as session:
        patient = await patient_for_staff(session, staff, code)
    if patient is None:
        raise NotFoundException()
    return patient


@get("/clinic/patients/{code:str}", opt=access(Access.CLINICIAN), include_in_schema=False)
async def patient_record(request: Request[Any, Any, Any], code: str) -> Template:
    staff = user_of(request)
    patient = await _patient_or_404(request, staff, code)
    return render(request, "pages/staff/patient.html", await _record_context(request, patient, {}, {}))


async def _record_context(
    request: Request[Any, Any, Any], patient: Patient, values: dict[str, str], errors: dict[str, str]
) -> dict[str, Any]:
    async with db_of(request).reading() as session:
        sessions = await treatments.sessions_for_patient(session, patient.id)
        clinic = await session.get_one(Clinic, patient.clinic_id)
    return {
        "patient": patient,
        "clinic": clinic,
        "sessions": sessions,
        "routes": ROUTE_LABELS,
        "phases": [p.value for p in Phase],
        "values": {"route": Route.ESKETAMINE_NASAL.value, "phase": Phase.INDUCTION.value} | values,
        "errors": errors,
    }


@post("/clinic/patients/{code:str}/sessions", opt=access(Access.CLINICIAN), include_in_schema=False)
async def add_session(request: Request[Any, Any, Any], code: str) -> Response[Any]:
    staff = user_of(request)
    patient = await _patient_or_404(request, staff, code)
    form = FormData.from_multidict(await request.form())
    form.reject_unknown(("date", "time", "route", "phase"))
    day, at = form.local_date("date"), form.local_time("time")
    route = form.choice("route", [r.value for r in Route], label="a route")
    phase = form.choice("phase", [p.value for p in Phase], label="a phase")
    if not form.ok or day is None or at is None or route is None or phase is None:
        values = {k: v[0] for k, v in form.values.items() if v}
        return render(
            request,
            "pages/staff/patient.html",
            await _record_context(request, patient, values, form.errors),
            status=422,
        )
    async with db_of(request).reading() as session:
        clinic = await session.get_one(Clinic, patient.clinic_id)
    starts = datetime.combine(day, at, tzinfo=ZoneInfo(clinic.timezone))
    await treatments.schedule_session(db_of(request), staff, patient, treatments.NewSession(starts, route, phase))
    from companion.web.render import after_post

    return after_post(request, f"/clinic/patients/{patient.code}?saved=session")


@post("/clinic/patients/{code:str}/invitation", opt=access(Access.CLINICIAN), include_in_schema=False)
async def reissue_invitation(request: Request[Any, Any, Any], code: str) -> Template:
    staff = user_of(request)
    patient = await _patient_or_404(request, staff, code)
    if patient.user_id is not None:
        raise NotFoundException()
    async with db_of(request).reading() as session:
        clinic = await session.get_one(Clinic, patient.clinic_id)
    enrolment = await invitations.reissue_invitation(
        db_of(request), staff.id, patient, settings_of(request).web.invitation_days
    )
    return _invitation_page(request, enrolment, clinic)


handlers = [clinic_home, patients_page, enrol_patient, patient_record, add_session, reissue_invitation]
