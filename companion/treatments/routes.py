"""The patient's session list, pre-session checklists and post-session reflections."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Template

from companion.accounts.models import Clinic, Patient
from companion.checkins.forms import _blood_pressure as blood_pressure  # the check-in's BP validation
from companion.db import utcnow
from companion.treatments import prep, service
from companion.treatments.models import ROUTE_LABELS, NasalSpray, Route, SessionPrep
from companion.treatments.service import ReflectionInput
from companion.web.forms import FormData
from companion.web.guards import Access, access
from companion.web.help import card_for, saved_with_help
from companion.web.idempotent import key_from_form, mint_key
from companion.web.render import after_post, db_of, render, user_of

REFLECTION_MAX = 5000


@get("/sessions", opt=access(Access.PATIENT), include_in_schema=False)
async def sessions_page(request: Request[Any, Any, Any]) -> Template:
    user = user_of(request)
    async with db_of(request).reading() as session:
        patient = await session.get_one(Patient, user.patient_id)
        treatments = await service.sessions_for_patient(session, patient.id)
        reflections = await service.reflections_for_patient(session, patient.id)
        preps = await prep.preps_for_patient(session, patient.id)
        clinic = await session.get_one(Clinic, patient.clinic_id)
    now = utcnow()
    upcoming = sorted((t for t in treatments if t.scheduled_at > now), key=lambda t: t.scheduled_at)
    context = {
        "upcoming": upcoming,
        "preps": preps,
        "prep_open": {t.id for t in upcoming if prep.prep_open(t, patient.timezone, now)},
        "windows": prep.fasting_windows(clinic.settings),
        "past": [t for t in treatments if t.scheduled_at <= now],
        "reflections": reflections,
        "reflectable": {t.id for t in treatments if service.can_reflect(t, now)},
        "zone": patient.timezone,
        "route_labels": ROUTE_LABELS,
    }
    return render(request, "pages/patient/sessions.html", context)


async def _reflection_context(
    request: Request[Any, Any, Any], code: str, values: dict[str, str], errors: dict[str, str]
) -> dict[str, Any]:
    user = user_of(request)
    async with db_of(request).reading() as session:
        patient = await session.get_one(Patient, user.patient_id)
        treatment = await service.session_for_patient(session, patient.id, code)
    if treatment is None or not service.can_reflect(treatment, utcnow()):
        raise NotFoundException()
    return {
        "treatment": treatment,
        "zone": patient.timezone,
        "values": {"visibility": "private"} | values,
        "errors": errors,
        "idempotency_key": mint_key(),
        "route_labels": ROUTE_LABELS,
    }


@get("/sessions/{code:str}/reflection", opt=access(Access.PATIENT), include_in_schema=False)
async def reflection_page(request: Request[Any, Any, Any], code: str) -> Template:
    return render(request, "pages/patient/reflection.html", await _reflection_context(request, code, {}, {}))


def parse_reflection(form: FormData) -> ReflectionInput | None:
    form.reject_unknown(("feeling", "body", "visibility"))
    feeling = form.integer("feeling", 0, 10, label="how you feel now")
    body = form.text("body", REFLECTION_MAX)
    visibility = form.choice("visibility", ("private", "shared"), label="who can read this")
    if not form.ok or feeling is None or visibility is None:
        return None
    return ReflectionInput(feeling, body, visibility == "shared")


@post("/sessions/{code:str}/reflection", opt=access(Access.PATIENT), include_in_schema=False)
async def submit_reflection(request: Request[Any, Any, Any], code: str) -> Response[Any]:
    user = user_of(request)
    form = FormData.from_multidict(await request.form())
    data = parse_reflection(form)
    if data is None:
        values = {k: v[0] for k, v in form.values.items() if v}
        context = await _reflection_context(request, code, values, form.errors)
        return render(request, "pages/patient/reflection.html", context, status=422)
    await _reflection_context(request, code, {}, {})  # 404 unless the session is this patient's and open
    key = key_from_form(form, user, "reflection", data.fingerprint_payload())
    result = await service.record_reflection(db_of(request), user, code, data, key)
    if result is None:
        raise NotFoundException()
    card = await card_for(request, result.risk, "reflection", shared=data.shared)
    if card is not None:
        return saved_with_help(request, card, "Your reflection is saved.", "/sessions?saved=reflection")
    return after_post(request, "/sessions?saved=reflection")


YES_NO = ("yes", "no")
PREP_FIELDS = (
    "fasting",
    "ride_home",
    "medication_changes",
    "medication_note",
    "bp_systolic",
    "bp_diastolic",
    "nasal_spray",
)


def _prep_values(row: SessionPrep | None) -> dict[str, str]:
    if row is None:
        return {}
    values = {
        "fasting": "yes" if row.fasting_ok else "no",
        "ride_home": "yes" if row.ride_home else "no",
        "medication_changes": "yes" if row.medication_changes else "no",
        "medication_note": row.medication_note,
        "bp_systolic": "" if row.bp_systolic is None else str(row.bp_systolic),
        "bp_diastolic": "" if row.bp_diastolic is None else str(row.bp_diastolic),
    }
    if row.nasal_spray:
        values["nasal_spray"] = row.nasal_spray
    return values


async def _prep_context(request: Request[Any, Any, Any], code: str) -> dict[str, Any]:
    """The checklist page's context; 404 unless the session is this patient's and the checklist is open."""
    user = user_of(request)
    async with db_of(request).reading() as session:
        patient = await session.get_one(Patient, user.patient_id)
        treatment = await service.session_for_patient(session, patient.id, code)
        if treatment is None or not prep.prep_open(treatment, patient.timezone, utcnow()):
            raise NotFoundException()
        clinic = await session.get_one(Clinic, patient.clinic_id)
        existing = await prep.prep_for_session(session, treatment.id)
    return {
        "treatment": treatment,
        "zone": patient.timezone,
        "window": prep.fasting_window(clinic.settings, treatment.route),
        "nasal": treatment.route == Route.ESKETAMINE_NASAL,
        "existing": existing,
        "values": _prep_values(existing),
        "errors": {},
        "idempotency_key": mint_key(),
        "route_labels": ROUTE_LABELS,
        "note_max": SessionPrep.MEDICATION_NOTE_MAX,
    }


@get("/sessions/{code:str}/prep", opt=access(Access.PATIENT), include_in_schema=False)
async def prep_page(request: Request[Any, Any, Any], code: str) -> Template:
    return render(request, "pages/patient/session_prep.html", await _prep_context(request, code))


def parse_prep(form: FormData, *, nasal: bool) -> prep.PrepInput | None:
    """The validated checklist, or None with ``form.errors`` saying what to fix."""
    form.reject_unknown(PREP_FIELDS if nasal else PREP_FIELDS[:-1])
    fasting = form.choice("fasting", YES_NO, label="an answer about fasting")
    ride = form.choice("ride_home", YES_NO, label="an answer about your ride home")
    changes = form.choice("medication_changes", YES_NO, label="an answer about medication changes")
    note = form.text("medication_note", SessionPrep.MEDICATION_NOTE_MAX)
    systolic, diastolic = blood_pressure(form)
    spray = None
    if nasal:
        spray = form.choice("nasal_spray", [s.value for s in NasalSpray], label="an answer about nasal sprays")
    if not form.ok or fasting is None or ride is None or changes is None or (nasal and spray is None):
        return None
    return prep.PrepInput(
        fasting_ok=fasting == "yes",
        ride_home=ride == "yes",
        medication_changes=changes == "yes",
        medication_note=note if changes == "yes" else "",
        bp_systolic=systolic,
        bp_diastolic=diastolic,
        nasal_spray=spray,
    )


@post("/sessions/{code:str}/prep", opt=access(Access.PATIENT), include_in_schema=False)
async def submit_prep(request: Request[Any, Any, Any], code: str) -> Response[Any]:
    user = user_of(request)
    context = await _prep_context(request, code)  # 404 unless the session is this patient's and open
    form = FormData.from_multidict(await request.form())
    data = parse_prep(form, nasal=context["nasal"])
    if data is None:
        values = {k: v[0] for k, v in form.values.items() if v and k in PREP_FIELDS}
        return render(
            request, "pages/patient/session_prep.html", context | {"values": values, "errors": form.errors}, status=422
        )
    key = key_from_form(form, user, "session_prep", {"session": code, **data.fingerprint_payload()})
    if not form.ok:  # a malformed idempotency key
        return render(request, "pages/patient/session_prep.html", context | {"errors": form.errors}, status=422)
    result = await prep.record_prep(db_of(request), user, code, context["zone"], data, key)
    if result is None:
        raise NotFoundException()
    bp = f"&bp={result.bp_finding}" if result.bp_finding else ""
    return after_post(request, f"/sessions?saved=prep{bp}")


handlers = [sessions_page, reflection_page, submit_reflection, prep_page, submit_prep]
