"""Clinic administration (``/clinic/admin``): staff accounts, care teams, clinic settings.

Admins manage accounts and settings; they get no clinical content here (AC-04). Every change
commits together with its audit row. Deactivating a staff member, or changing their role, deletes
their web sessions in the same transaction, so the change holds from their very next request.

Settings are stored in ``Clinic.settings``: ``risk`` (validated by
``ClinicRuleSettings.from_dict``: rules on/off, thresholds, response targets), ``cssrs_enabled``,
``fading.threshold_percent`` and ``escalation`` (care team -> backup/on-call -> admins; the
format, its form fields and their checks are ``companion.alerts.escalation.Chain`` and
``chain_from_form``, which the escalation job reads).
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Template
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from companion.accounts.auth import CurrentUser, end_all_sessions
from companion.accounts.models import CareTeamMember, Clinic, Patient, Role, User
from companion.accounts.passwords import hash_password
from companion.accounts.service import normalise_login
from companion.alerts.escalation import FORM_FIELDS as ESCALATION_FIELDS
from companion.alerts.escalation import Chain, chain_from_form
from companion.clinic import audit, break_glass
from companion.clinic.fading import FadingSettings
from companion.clinic.models import AuditAction, AuditPurpose
from companion.questionnaires.service import DEFAULT_INTERVALS, questionnaire_intervals
from companion.risk.crisis import SUPPORTED_REGIONS
from companion.risk.findings import RULE_SPECS, Severity
from companion.risk.rule_settings import THRESHOLD_LIMITS, ClinicRuleSettings, RuleSettingsError, TargetUnit
from companion.treatments import prep
from companion.treatments.models import ROUTE_LABELS
from companion.web.forms import FormData
from companion.web.guards import Access, access
from companion.web.render import after_post, db_of, render, settings_of, user_of

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
STAFF_ROLES = (Role.CLINICIAN.value, Role.ADMIN.value)
PASSWORD_MIN = 12
ADMIN = AuditPurpose.ADMIN_TASK


async def _page_context(
    request: Request[Any, Any, Any], errors: dict[str, str] | None = None, values: dict[str, str] | None = None
) -> dict[str, Any]:
    staff = user_of(request)
    async with db_of(request).reading() as session:
        clinic = await session.get_one(Clinic, staff.clinic_id)
        members = list(
            (
                await session.execute(
                    select(User).where(User.clinic_id == staff.clinic_id, User.role != Role.PATIENT).order_by(User.name)
                )
            ).scalars()
        )
        patients = list(
            (
                await session.execute(
                    select(Patient)
                    .options(selectinload(Patient.care_team))
                    .where(Patient.clinic_id == staff.clinic_id)
                    .order_by(Patient.name)
                )
            ).scalars()
        )
    settings = clinic.settings or {}
    risk = _rule_settings(settings)
    return {
        "clinic": clinic,
        "members": members,
        "patients": patients,
        "errors": errors or {},
        "values": values or {},
        "clinicians": [m for m in members if m.role == Role.CLINICIAN and m.active],
        "names": {m.id: m.name for m in members},
        "rule_specs": RULE_SPECS,
        "risk": risk,
        "thresholds": THRESHOLD_LIMITS,
        "severities": [str(s) for s in Severity],
        "units": [str(u) for u in TargetUnit],
        "regions": SUPPORTED_REGIONS,
        "days": DAYS,
        "fading": FadingSettings.from_clinic(settings),
        "escalation": Chain.of(settings),
        "fasting": prep.fasting_windows(settings),
        "intervals": questionnaire_intervals(settings),
        # Blank on the form: the deployment's COMPANION_BREAK_GLASS_MINUTES applies.
        "break_glass_minutes": (settings.get("break_glass") or {}).get("minutes", ""),
        "break_glass_default": settings_of(request).audit.break_glass_minutes,
        "break_glass_range": break_glass.MINUTES_RANGE,
        "route_labels": ROUTE_LABELS,
        "saved": request.query_params.get("saved"),
        "roles": STAFF_ROLES,
    }


def _rule_settings(settings: dict[str, Any]) -> ClinicRuleSettings:
    data = dict(settings.get("risk") or {})
    data["cssrs_enabled"] = settings.get("cssrs_enabled", False) is True
    try:
        return ClinicRuleSettings.from_dict(data)
    except RuleSettingsError:
        return ClinicRuleSettings()


@get("/clinic/admin", opt=access(Access.ADMIN), include_in_schema=False)
async def admin_page(request: Request[Any, Any, Any]) -> Template:
    return render(request, "pages/staff/admin.html", await _page_context(request))


async def _refuse(request: Request[Any, Any, Any], form: FormData) -> Template:
    values = {k: v[0] for k, v in form.values.items() if v and k not in ("_csrf_token", "password")}
    return render(request, "pages/staff/admin.html", await _page_context(request, form.errors, values), status=422)


async def _member(session: Any, staff: CurrentUser, code: str) -> User:
    member = (
        await session.execute(
            select(User).where(User.code == code, User.clinic_id == staff.clinic_id, User.role != Role.PATIENT)
        )
    ).scalar_one_or_none()
    if member is None:
        raise NotFoundException()
    return member


@post("/clinic/admin/staff", opt=access(Access.ADMIN), include_in_schema=False)
async def create_staff(request: Request[Any, Any, Any]) -> Response[Any] | Template:
    staff = user_of(request)
    form = FormData.from_multidict(await request.form())
    form.reject_unknown(("name", "email", "role", "password"))
    name = form.text("name", 200, required=True, label="a name")
    email = form.text("email", 254, required=True, label="an e-mail address")
    role = form.choice("role", STAFF_ROLES, label="a role")
    password = form.raw("password") or ""
    if email and ("@" not in email or " " in email):
        form.fail("email", "Enter an e-mail address like name@example.org.")
    if len(password) < PASSWORD_MIN:
        form.fail("password", f"Choose a starting password of at least {PASSWORD_MIN} characters.")
    if not form.ok or role is None:
        return await _refuse(request, form)
    password_hash = await hash_password(password)
    try:
        async with db_of(request).writing() as session:
            member = User(
                clinic_id=staff.clinic_id,
                role=role,
                login=normalise_login(email),
                email=email,
                name=name,
                password_hash=password_hash,
            )
            session.add(member)
            await session.flush()
            await audit.append_for(
                session,
                staff,
                AuditAction.STAFF_CHANGE,
                f"created staff account {member.code} with role {role}",
                why=ADMIN,
            )
    except IntegrityError:
        form.fail("email", "An account with this e-mail address already exists.")
        return await _refuse(request, form)
    return after_post(request, "/clinic/admin?saved=staff")


@post("/clinic/admin/staff/{code:str}/role", opt=access(Access.ADMIN), include_in_schema=False)
async def change_role(request: Request[Any, Any, Any], code: str) -> Response[Any] | Template:
    staff = user_of(request)
    form = FormData.from_multidict(await request.form())
    form.reject_unknown(("role",))
    role = form.choice("role", STAFF_ROLES, label="a role")
    async with db_of(request).reading() as session:
        target = await _member(session, staff, code)
    if target.id == staff.id:
        form.fail("role", "You cannot change your own role; ask another admin.")
    if not form.ok or role is None:
        return await _refuse(request, form)
    async with db_of(request).writing() as session:
        member = await _member(session, staff, code)
        before, member.role = member.role, role
        await end_all_sessions(session, member.id)  # a new role starts with a new login
        await audit.append_for(
            session, staff, AuditAction.ROLE_CHANGE, f"staff {member.code}: role {before} -> {role}", why=ADMIN
        )
    return after_post(request, "/clinic/admin?saved=role")


@post("/clinic/admin/staff/{code:str}/deactivate", opt=access(Access.ADMIN), include_in_schema=False)
async def deactivate_staff(request: Request[Any, Any, Any], code: str) -> Response[Any] | Template:
    staff = user_of(request)
    form = FormData.from_multidict(await request.form())
    form.reject_unknown(())
    async with db_of(request).reading() as session:
        target = await _member(session, staff, code)
    if target.id == staff.id:
        form.fail("deactivate", "You cannot deactivate your own account.")
    if not form.ok:
        return await _refuse(request, form)
    async with db_of(request).writing() as session:
        member = await _member(session, staff, code)
        member.active = False
        await end_all_sessions(session, member.id)
        await audit.append_for(
            session,
            staff,
            AuditAction.STAFF_CHANGE,
            f"deactivated staff {member.code}; ended their sessions",
            why=ADMIN,
        )
    return after_post(request, "/clinic/admin?saved=deactivated")


@post("/clinic/admin/care-team", opt=access(Access.ADMIN), include_in_schema=False)
async def change_care_team(request: Request[Any, Any, Any]) -> Response[Any] | Template:
    staff = user_of(request)
    form = FormData.from_multidict(await request.form())
    form.reject_unknown(("patient", "clinician", "change"))
    change = form.choice("change", ("add", "remove", "primary"), label="what to change")
    patient_code, clinician_code = form.raw("patient") or "", form.raw("clinician") or ""
    if not form.ok or change is None:
        return await _refuse(request, form)
    async with db_of(request).writing() as session:
        patient = (
            await session.execute(
                select(Patient).where(Patient.code == patient_code, Patient.clinic_id == staff.clinic_id)
            )
        ).scalar_one_or_none()
        clinician = (
            await session.execute(
                select(User).where(
                    User.code == clinician_code,
                    User.clinic_id == staff.clinic_id,
                    User.role == Role.CLINICIAN,
                    User.active.is_(True),
                )
            )
        ).scalar_one_or_none()
        if patient is None or clinician is None:
            raise NotFoundException()
        problem = await _apply_team_change(session, patient, clinician, change)
        if problem is None:
            await audit.append_for(
                session,
                staff,
                AuditAction.CARE_TEAM_CHANGE,
                f"care team: {change} clinician {clinician.code}",
                patient_id=patient.id,
                why=ADMIN,
            )
    if problem:
        form.fail("care_team", problem)
        return await _refuse(request, form)
    return after_post(request, "/clinic/admin?saved=care-team")


async def _apply_team_change(session: Any, patient: Patient, clinician: User, change: str) -> str | None:
    members = list(
        (await session.execute(select(CareTeamMember).where(CareTeamMember.patient_id == patient.id))).scalars()
    )
    mine = next((m for m in members if m.clinician_id == clinician.id), None)
    if change == "add":
        if mine is not None:
            return "This clinician is already on the care team."
        session.add(
            CareTeamMember(
                clinic_id=patient.clinic_id,
                patient_id=patient.id,
                clinician_id=clinician.id,
                is_primary=not any(m.is_primary for m in members),
            )
        )
    elif mine is None:
        return "This clinician is not on the care team."
    elif change == "remove":
        if mine.is_primary:
            return "Make another clinician primary before removing the primary clinician."
        await session.delete(mine)
    else:
        for member in members:
            if member.is_primary and member is not mine:
                member.is_primary = False
        await session.flush()  # one primary at a time (unique partial index)
        mine.is_primary = True
    await session.flush()
    return None


def _settings_from_form(form: FormData, clinic: Clinic, codes: set[str]) -> dict[str, Any]:
    hours: dict[str, list[str]] = {}
    for day in DAYS:
        opens, closes = form.local_time(f"open_{day}", required=False), form.local_time(f"close_{day}", required=False)
        if opens and closes:
            if closes <= opens:
                form.fail(f"close_{day}", f"{day.capitalize()}: closing time must be after opening time.")
            hours[day] = [opens.strftime("%H:%M"), closes.strftime("%H:%M")]
    risk = {
        "rules": {spec.rule_id: {"enabled": form.boolean(f"rule_{spec.rule_id}")} for spec in RULE_SPECS},
        "thresholds": {
            name: form.integer(f"threshold_{name}", -(10**6), 10**6, label=name) for name in THRESHOLD_LIMITS
        },
        "response_targets": {
            s: {
                "amount": form.integer(f"target_{s}_amount", 0, 10**6, required=False) or 0,
                "unit": form.choice(f"target_{s}_unit", [str(u) for u in TargetUnit]),
            }
            for s in (str(v) for v in Severity)
        },
    }
    cssrs = form.boolean("cssrs_enabled")
    try:
        ClinicRuleSettings.from_dict(risk | {"cssrs_enabled": cssrs})
    except RuleSettingsError as exc:
        form.fail("risk", "; ".join(exc.errors))
    escalation = chain_from_form(form, codes).as_settings()
    fading = {"threshold_percent": form.integer("fading_threshold_percent", 10, 100, label="a percentage")}
    intervals = {key: form.integer(f"interval_{key}", 1, 90, label="a number of days") for key in DEFAULT_INTERVALS}
    glass = form.integer("break_glass_minutes", *break_glass.MINUTES_RANGE, required=False, label="minutes")
    return {
        **(clinic.settings or {}),
        "risk": risk,
        "cssrs_enabled": cssrs,
        "escalation": escalation,
        "fading": fading,
        "questionnaire_intervals_days": intervals,
        "break_glass": {"minutes": glass} if glass is not None else {},
        "session_prep": prep.settings_from_form(form, clinic.settings),
        "hours": hours,
    }


SETTINGS_FIELDS = (
    [
        "timezone",
        "region",
        "phone",
        "cssrs_enabled",
        *ESCALATION_FIELDS,
        "fading_threshold_percent",
        *(f"interval_{key}" for key in DEFAULT_INTERVALS),
        "break_glass_minutes",
    ]
    + [f"{edge}_{day}" for day in DAYS for edge in ("open", "close")]
    + [f"rule_{spec.rule_id}" for spec in RULE_SPECS]
    + [f"threshold_{name}" for name in THRESHOLD_LIMITS]
    + [f"target_{s}_{part}" for s in (str(v) for v in Severity) for part in ("amount", "unit")]
    + list(prep.SETTINGS_FIELDS)
)


@post("/clinic/admin/settings", opt=access(Access.ADMIN), include_in_schema=False)
async def save_settings(request: Request[Any, Any, Any]) -> Response[Any] | Template:
    staff = user_of(request)
    form = FormData.from_multidict(await request.form())
    form.reject_unknown(SETTINGS_FIELDS)
    zone = form.raw("timezone") or ""
    if zone not in available_timezones():
        form.fail("timezone", "Choose a time zone such as America/New_York or Europe/London.")
    region = form.choice("region", SUPPORTED_REGIONS, label="a region")
    phone = form.text("phone", 40)
    async with db_of(request).reading() as session:
        clinic = await session.get_one(Clinic, staff.clinic_id)
        codes = set(  # who may be in the escalation chain: this clinic's active clinicians
            (
                await session.execute(
                    select(User.code).where(
                        User.clinic_id == staff.clinic_id, User.role == Role.CLINICIAN, User.active.is_(True)
                    )
                )
            ).scalars()
        )
    new = _settings_from_form(form, clinic, codes)
    if not form.ok or region is None:
        return await _refuse(request, form)
    hours = new.pop("hours")
    async with db_of(request).writing() as session:
        row = await session.get_one(Clinic, staff.clinic_id)
        changed = [
            name
            for name, old, value in (
                ("time zone", row.timezone, zone),
                ("region", row.region, region),
                ("phone", row.phone, phone),
                ("hours", row.hours, hours),
            )
            if old != value
        ]
        changed += [
            key
            for key in (
                "risk",
                "cssrs_enabled",
                "escalation",
                "fading",
                "questionnaire_intervals_days",
                "break_glass",
                "session_prep",
            )
            if (row.settings or {}).get(key) != new.get(key)
        ]
        row.timezone, row.region, row.phone, row.hours, row.settings = ZoneInfo(zone).key, region, phone, hours, new
        await audit.append_for(
            session,
            staff,
            AuditAction.SETTINGS_CHANGE,
            "clinic settings: " + (", ".join(changed) or "saved without changes"),
            why=ADMIN,
        )
    return after_post(request, "/clinic/admin?saved=settings")


handlers = [admin_page, create_staff, change_role, deactivate_staff, change_care_team, save_settings]
