"""Staff pages: the triage dashboard, the patient list and enrolment, and a patient's record with
their treatment plan and sessions.

Every page that shows a patient's data to staff writes exactly one audit row after reading it
(``companion.clinic.audit``); every change writes its audit row in its own transaction. The admin
pages live in ``companion.clinic.admin`` and the audit pages in ``companion.clinic.audit_routes``;
all are listed in ``handlers`` below, which is what app.py registers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Template
from sqlalchemy import select

from companion.accounts import invitations
from companion.accounts.auth import CurrentUser
from companion.accounts.models import CareTeamMember, Clinic, Patient, Role, User
from companion.accounts.service import patient_for_staff, patients_for_clinician
from companion.clinic import admin, audit, audit_routes, break_glass, plans
from companion.clinic.dashboard import load_dashboard, newest_alert_change
from companion.clinic.models import AuditAction, AuditPurpose, BreakGlassGrant
from companion.clinic.record import load_record
from companion.treatments.models import ROUTE_LABELS, Phase, Route, SessionStatus
from companion.web.forms import FormData
from companion.web.guards import Access, access
from companion.web.render import after_post, db_of, render, settings_of, user_of, wants_fragment

EMAIL_SHAPE = "@"
SESSIONS_CHANGED = "sessions-changed"
POLL_SECONDS = 5  # "new alerts within 15 s": a 204 costs one indexed query
RECORD_FIELDS = "patient record: check-ins, questionnaires, shared journal and reflections, safety plan, alerts, plan"


# --- Dashboard -----------------------------------------------------------------------------------


@get("/clinic", opt=access(Access.STAFF), include_in_schema=False)
async def clinic_home(request: Request[Any, Any, Any]) -> Template:
    staff = user_of(request)
    if staff.role != Role.CLINICIAN:
        return await _admin_home(request, staff)
    async with db_of(request).reading() as session:
        board = await load_dashboard(session, staff)
    await audit.record(
        db_of(request),
        staff,
        AuditAction.VIEW_DASHBOARD,
        f"triage dashboard: {len(board.patients)} care-team patients (alerts, moods, PHQ-9, sessions)",
    )
    return render(
        request,
        "pages/staff/clinic.html",
        {"board": board, "poll_seconds": POLL_SECONDS, "since": _stamp(board.newest)},
    )


async def _admin_home(request: Request[Any, Any, Any], staff: CurrentUser) -> Template:
    """Clinic-wide, account metadata only: no clinical content for an admin (AC-04, MIN-01)."""
    async with db_of(request).reading() as session:
        clinic = await session.get_one(Clinic, staff.clinic_id)
        patients = list(
            (
                await session.execute(
                    select(Patient.code, Patient.name, Patient.user_id, Patient.created_at)
                    .where(Patient.clinic_id == staff.clinic_id)
                    .order_by(Patient.name)
                )
            ).all()
        )
        teams = (
            await session.execute(
                select(Patient.code, User.name)
                .join(CareTeamMember, CareTeamMember.patient_id == Patient.id)
                .join(User, User.id == CareTeamMember.clinician_id)
                .where(Patient.clinic_id == staff.clinic_id)
            )
        ).all()
        staff_list = list(
            (
                await session.execute(
                    select(User).where(User.clinic_id == staff.clinic_id, User.role != Role.PATIENT).order_by(User.name)
                )
            ).scalars()
        )
    team_names: dict[str, list[str]] = {}
    for code, name in teams:
        team_names.setdefault(code, []).append(name)
    await audit.record(
        db_of(request),
        staff,
        AuditAction.VIEW_DASHBOARD,
        f"clinic overview: {len(patients)} patients (names, account status, care teams)",
        why=AuditPurpose.ADMIN_TASK,
    )
    async with db_of(request).reading() as session:
        to_review = await break_glass.count_to_review(session, staff.clinic_id)
    context = {
        "clinic": clinic,
        "patients": patients,
        "teams": team_names,
        "staff_list": staff_list,
        "break_glass_to_review": to_review,
    }
    return render(request, "pages/staff/clinic_admin.html", context)


def _stamp(value: datetime | None) -> str:
    return value.isoformat() if value else ""


@get("/clinic/alerts-feed", opt=access(Access.CLINICIAN), include_in_schema=False)
async def poll_alerts(request: Request[Any, Any, Any], since: str = "") -> Response[Any] | Template:
    """204 while nothing changed since ``since``; otherwise the dashboard's alert region.

    Reads the database, so an alert written by any web or worker process shows up.
    """
    staff = user_of(request)
    async with db_of(request).reading() as session:
        newest = await newest_alert_change(session, staff)
    if _stamp(newest) == since:
        return Response(None, status_code=204)
    async with db_of(request).reading() as session:
        board = await load_dashboard(session, staff)
    await audit.record(
        db_of(request), staff, AuditAction.VIEW_ALERT_FEED, f"dashboard alert list: {len(board.alerts)} open alerts"
    )
    context = {"board": board, "poll_seconds": POLL_SECONDS, "since": _stamp(board.newest)}
    return Template(
        template_name="partials/clinic/alerts.html",
        context=context,
        headers={"Vary": "HX-Request", "HX-Trigger": "alerts-updated"},
    )


# --- Patients and enrolment ----------------------------------------------------------------------


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
    async with db_of(request).reading() as session:
        clinic = await session.get_one(Clinic, staff.clinic_id)
        patients = await patients_for_clinician(session, staff) if not form.ok else []
    if not form.ok:
        values = {"name": name, "email": email}
        context = {"patients": patients, "values": values, "errors": form.errors, "clinic": clinic}
        return render(request, "pages/staff/patients.html", context, status=422)
    enrolment = await invitations.enrol_patient(
        db_of(request),
        staff,
        name=name,
        email=email or None,
        timezone=clinic.timezone,
        days=settings_of(request).web.invitation_days,
    )
    await audit.record(
        db_of(request),
        staff,
        AuditAction.INVITATION,
        "enrolled a patient and issued an invitation",
        patient_id=enrolment.patient.id,
    )
    return _invitation_page(request, enrolment, clinic)


def _invitation_page(request: Request[Any, Any, Any], enrolment: invitations.Enrolment, clinic: Clinic) -> Template:
    url = invitations.invitation_url(settings_of(request), enrolment.token)
    qr_svg = invitations.invitation_qr_svg(url)
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
    await audit.record(db_of(request), staff, AuditAction.INVITATION, "issued a new invitation", patient_id=patient.id)
    return _invitation_page(request, enrolment, clinic)


# --- Patient record ------------------------------------------------------------------------------


@get("/clinic/patients/{code:str}", opt=access(Access.CLINICIAN), include_in_schema=False)
async def patient_record(request: Request[Any, Any, Any], code: str) -> Template:
    staff = user_of(request)
    async with db_of(request).reading() as session:
        patient = await patient_for_staff(session, staff, code)
        emergency = None if patient is not None else await break_glass.active_grant(session, staff, code)
    if patient is None:
        if emergency is None:
            raise NotFoundException()
        return await _emergency_record(request, staff, *emergency)
    context = await _record_context(request, patient)
    await audit.record(
        db_of(request),
        staff,
        AuditAction.VIEW_RECORD,
        RECORD_FIELDS,
        patient_id=patient.id,
    )
    return render(request, "pages/staff/patient.html", context)


async def _emergency_record(
    request: Request[Any, Any, Any], staff: CurrentUser, patient: Patient, grant: BreakGlassGrant
) -> Template:
    """Break-glass (AC-06): the record, read-only, audited with the stated reason."""
    context = await _record_context(request, patient)
    context["grant"] = grant
    await audit.record(
        db_of(request),
        staff,
        AuditAction.VIEW_RECORD,
        f"{RECORD_FIELDS} (emergency access {grant.code}, read-only)",
        patient_id=patient.id,
        why=break_glass.why_of(grant.reason),
    )
    return render(request, "pages/staff/patient.html", context)


async def _record_context(
    request: Request[Any, Any, Any],
    patient: Patient,
    *,
    session_form: dict[str, Any] | None = None,
    plan_form: dict[str, Any] | None = None,
) -> dict[str, Any]:
    async with db_of(request).reading() as session:
        record = await load_record(session, patient)
    plan = record.plan
    plan_values = (
        {
            "phase": plan.phase,
            "route": plan.route,
            "frequency": plan.frequency,
            "sessions_per_week": "" if plan.sessions_per_week is None else f"{plan.sessions_per_week:g}",
            "start_date": plan.start_date.isoformat(),
            "notes": plan.notes,
        }
        if plan
        else {"phase": Phase.INDUCTION.value, "route": Route.ESKETAMINE_NASAL.value}
    )
    return {
        "patient": patient,
        "clinic": record.clinic,
        "record": record,
        "sessions": list(reversed(record.sessions)),
        "routes": ROUTE_LABELS,
        "phases": [p.value for p in Phase],
        "session_form": session_form
        or {"values": {"route": plan_values["route"], "phase": plan_values["phase"]}, "errors": {}},
        "plan_form": plan_form or {"values": plan_values, "errors": {}},
        "saved": request.query_params.get("saved"),
        "grant": None,  # break-glass: the read-only record sets it
    }


def _values(form: FormData) -> dict[str, str]:
    return {k: v[0] for k, v in form.values.items() if v and k != "_csrf_token"}


async def _sessions_response(
    request: Request[Any, Any, Any],
    patient: Patient,
    saved: str,
    session_form: dict[str, Any] | None = None,
    status: int = 200,
) -> Response[Any] | Template:
    """htmx: the sessions region (plus an event); otherwise 303 back to the record (or 422 page)."""
    if status == 200 and not wants_fragment(request):
        return after_post(request, f"/clinic/patients/{patient.code}?saved={saved}#sessions")
    context = await _record_context(request, patient, session_form=session_form)
    context["saved"] = saved if status == 200 else None
    headers = {"Vary": "HX-Request"} | ({"HX-Trigger": SESSIONS_CHANGED} if status == 200 else {})
    if wants_fragment(request):
        return Template(
            template_name="partials/clinic/sessions.html", context=context, status_code=status, headers=headers
        )
    return Template(template_name="pages/staff/patient.html", context=context, status_code=status, headers=headers)


def _session_time(form: FormData, clinic_zone: str) -> datetime | None:
    day, at = form.local_date("date"), form.local_time("time")
    if day is None or at is None:
        return None
    return datetime.combine(day, at, tzinfo=ZoneInfo(clinic_zone))


@post("/clinic/patients/{code:str}/sessions", opt=access(Access.CLINICIAN), include_in_schema=False)
async def add_session(request: Request[Any, Any, Any], code: str) -> Response[Any] | Template:
    staff = user_of(request)
    patient = await _patient_or_404(request, staff, code)
    form = FormData.from_multidict(await request.form())
    form.reject_unknown(("date", "time", "route", "phase"))
    clinic_zone = await _clinic_zone(request, patient)
    starts = _session_time(form, clinic_zone)
    route = form.choice("route", [r.value for r in Route], label="a route")
    phase = form.choice("phase", [p.value for p in Phase], label="a phase")
    if not form.ok or starts is None or route is None or phase is None:
        return await _sessions_response(request, patient, "", {"values": _values(form), "errors": form.errors}, 422)
    await plans.schedule_session(db_of(request), staff, patient, starts, route, phase)
    return await _sessions_response(request, patient, "session")


async def _clinic_zone(request: Request[Any, Any, Any], patient: Patient) -> str:
    async with db_of(request).reading() as session:
        return (await session.get_one(Clinic, patient.clinic_id)).timezone


@post(
    "/clinic/patients/{code:str}/sessions/{session_code:str}/move",
    opt=access(Access.CLINICIAN),
    include_in_schema=False,
)
async def move_session(request: Request[Any, Any, Any], code: str, session_code: str) -> Response[Any] | Template:
    staff = user_of(request)
    patient = await _patient_or_404(request, staff, code)
    form = FormData.from_multidict(await request.form())
    form.reject_unknown(("date", "time"))
    starts = _session_time(form, await _clinic_zone(request, patient))
    if not form.ok or starts is None:
        return await _sessions_response(request, patient, "", {"values": {}, "errors": form.errors}, 422)
    try:
        moved = await plans.move_session(db_of(request), staff, patient, session_code, starts)
    except plans.SessionStateError as exc:
        return await _sessions_response(request, patient, "", {"values": {}, "errors": {"status": str(exc)}}, 409)
    if moved is None:
        raise NotFoundException()
    return await _sessions_response(request, patient, "moved")


@post(
    "/clinic/patients/{code:str}/sessions/{session_code:str}/status",
    opt=access(Access.CLINICIAN),
    include_in_schema=False,
)
async def session_status(request: Request[Any, Any, Any], code: str, session_code: str) -> Response[Any] | Template:
    staff = user_of(request)
    patient = await _patient_or_404(request, staff, code)
    form = FormData.from_multidict(await request.form())
    form.reject_unknown(("status",))
    status = form.choice("status", [s.value for s in plans.ATTENDANCE], label="attended, missed or cancelled")
    if not form.ok or status is None:
        return await _sessions_response(request, patient, "", {"values": {}, "errors": form.errors}, 422)
    try:
        changed = await plans.set_status(db_of(request), staff, patient, session_code, SessionStatus(status))
    except plans.SessionStateError as exc:
        return await _sessions_response(request, patient, "", {"values": {}, "errors": {"status": str(exc)}}, 409)
    if changed is None:
        raise NotFoundException()
    return await _sessions_response(request, patient, status)


PLAN_FIELDS = ("phase", "route", "frequency", "sessions_per_week", "start_date", "notes")


@post("/clinic/patients/{code:str}/plan", opt=access(Access.CLINICIAN), include_in_schema=False)
async def save_plan(request: Request[Any, Any, Any], code: str) -> Response[Any] | Template:
    staff = user_of(request)
    patient = await _patient_or_404(request, staff, code)
    form = FormData.from_multidict(await request.form())
    form.reject_unknown(PLAN_FIELDS)
    phase = form.choice("phase", [p.value for p in Phase], label="a phase")
    route = form.choice("route", [r.value for r in Route], label="a route")
    frequency = form.text("frequency", 120, required=True, label="how often (e.g. twice weekly)")
    per_week = form.decimal("sessions_per_week", 0, 7, step=0.5)
    start = form.local_date("start_date")
    notes = form.text("notes", 4000)
    if not form.ok or phase is None or route is None or start is None:
        context = await _record_context(request, patient, plan_form={"values": _values(form), "errors": form.errors})
        page = "partials/clinic/plan.html" if wants_fragment(request) else "pages/staff/patient.html"
        return Template(template_name=page, context=context, status_code=422, headers={"Vary": "HX-Request"})
    await plans.save_plan(
        db_of(request), staff, patient, plans.PlanInput(phase, route, frequency, per_week, start, notes)
    )
    if not wants_fragment(request):
        return after_post(request, f"/clinic/patients/{patient.code}?saved=plan#plan")
    context = await _record_context(request, patient)
    context["saved"] = "plan"
    return Template(
        template_name="partials/clinic/plan.html",
        context=context,
        headers={"Vary": "HX-Request", "HX-Trigger": "plan-changed"},
    )


handlers = [
    clinic_home,
    poll_alerts,
    patients_page,
    enrol_patient,
    patient_record,
    add_session,
    move_session,
    session_status,
    save_plan,
    reissue_invitation,
    *admin.handlers,
    *audit_routes.handlers,
    *break_glass.handlers,
]
