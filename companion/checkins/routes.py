"""The daily check-in: page, form submission and JSON API."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from litestar import Request, Response, get, post
from litestar.response import Template

from companion.accounts.models import Patient
from companion.checkins import service
from companion.checkins.forms import CheckInInput, parse_checkin
from companion.checkins.models import CheckIn
from companion.checkins.side_effects import EMERGENCY_SYMPTOMS, OTHER_SYMPTOMS, SIDE_EFFECTS
from companion.db import utcnow
from companion.web.forms import FormData
from companion.web.guards import Access, access
from companion.web.help import card_for, help_json, saved_with_help
from companion.web.idempotent import created, key_from_form, key_from_header, mint_key
from companion.web.render import after_post, db_of, render, user_of


async def _form_context(
    request: Request[Any, Any, Any], values: dict[str, Any], errors: dict[str, str]
) -> dict[str, Any]:
    user = user_of(request)
    async with db_of(request).reading() as session:
        patient = await session.get_one(Patient, user.patient_id)
        today = utcnow().astimezone(ZoneInfo(patient.timezone)).date()
        existing = await service.current_checkin(session, patient.id, today)
    if existing is not None and not values:
        values = _values_from(existing)
    return {
        "values": values,
        "errors": errors,
        "existing": existing,
        "side_effects": SIDE_EFFECTS,
        "emergency_symptoms": EMERGENCY_SYMPTOMS,
        "other_symptoms": OTHER_SYMPTOMS,
        "idempotency_key": mint_key(),
    }


def _values_from(row: CheckIn) -> dict[str, Any]:
    values: dict[str, Any] = {
        name: getattr(row, name)
        for name in (
            "mood",
            "anxiety",
            "energy",
            "sleep_hours",
            "sleep_quality",
            "safety",
            "bp_systolic",
            "bp_diastolic",
            "note",
        )
    }
    values.update({f"effect_{e.effect}": e.severity for e in row.side_effects})
    strings: dict[str, Any] = {k: ("" if v is None else str(v)) for k, v in values.items()}
    strings["symptom_list"] = list(row.symptoms or [])
    return strings


@get("/checkin", opt=access(Access.PATIENT), include_in_schema=False)
async def checkin_page(request: Request[Any, Any, Any]) -> Template:
    return render(request, "pages/patient/checkin.html", await _form_context(request, {}, {}))


@post("/checkin", opt=access(Access.PATIENT), include_in_schema=False)
async def submit_checkin(request: Request[Any, Any, Any]) -> Response[Any]:
    user = user_of(request)
    form = FormData.from_multidict(await request.form())
    data = parse_checkin(form)
    key = key_from_form(form, user, "checkin", data.fingerprint_payload()) if data else None
    if data is None or not form.ok:
        values: dict[str, Any] = {k: v[0] for k, v in form.values.items() if v}
        values["symptom_list"] = form.values.get("symptom", [])
        context = await _form_context(request, values, form.errors)
        return render(request, "pages/patient/checkin.html", context, fragment="partials/checkin/form.html", status=422)
    result = await service.record_checkin(db_of(request), user, data, key)
    card = await card_for(request, result.risk, "checkin", safety=data.safety)
    if card is not None:  # the help comes back in this very response, never after a redirect
        return saved_with_help(request, card, "Your check-in is saved.", "/today?saved=checkin")
    if result.risk.suggest == "phq9":  # B6: mood well below usual for several days
        return after_post(request, "/today?saved=checkin&suggest=phq9")
    return after_post(request, "/today?saved=checkin")


def checkin_json(row: CheckIn) -> dict[str, Any]:
    return {
        "code": row.code,
        "local_date": row.local_date.isoformat(),
        "revision": row.revision,
        "mood": row.mood,
        "anxiety": row.anxiety,
        "energy": row.energy,
        "sleep_hours": row.sleep_hours,
        "sleep_quality": row.sleep_quality,
        "safety": row.safety,
        "bp_systolic": row.bp_systolic,
        "bp_diastolic": row.bp_diastolic,
        "note": row.note,
        "side_effects": {e.effect: e.severity for e in row.side_effects},
        "symptoms": list(row.symptoms or []),
        "created_at": row.created_at.isoformat(),
    }


def _flatten_side_effects(body: dict[str, Any], form: FormData) -> None:
    effects = body.pop("side_effects", None) or {}
    if not isinstance(effects, dict):
        form.fail("side_effects", "side_effects must be an object of effect code to severity (0-3).")
        return
    known = {e.code for e in SIDE_EFFECTS}
    for code, severity in effects.items():
        if code not in known:
            form.fail("side_effects", f"Unknown side effect {str(code)[:40]!r}.")
        form.values[f"effect_{code}"] = [str(severity)]


def _flatten_symptoms(body: dict[str, Any], form: FormData) -> None:
    symptoms = body.pop("symptoms", None) or []
    if not isinstance(symptoms, list) or not all(isinstance(code, str) for code in symptoms):
        form.fail("symptoms", "symptoms must be a list of symptom codes.")
        return
    form.values["symptom"] = list(symptoms)


@post("/checkins", opt=access(Access.PATIENT), summary="Record today's check-in")
async def api_create_checkin(request: Request[Any, Any, Any], data: dict[str, Any]) -> Response[Any]:
    """Creates (or amends) the patient's check-in for their local today. Honours Idempotency-Key."""
    user = user_of(request)
    body = dict(data)
    form = FormData.from_json({})
    _flatten_side_effects(body, form)
    _flatten_symptoms(body, form)
    form.values.update(FormData.from_json(body).values)
    parsed = parse_checkin(form) if form.ok else None
    if parsed is None:
        return Response({"errors": form.errors}, status_code=422)
    key = key_from_header(request, user, "checkin", parsed.fingerprint_payload())
    if isinstance(key, str):
        return Response({"errors": {"Idempotency-Key": key}}, status_code=422)
    result = await service.record_checkin(db_of(request), user, parsed, key)
    card = await card_for(request, result.risk, "checkin", safety=parsed.safety)
    payload = {"checkin": checkin_json(result.checkin), **help_json(card)}
    return created(payload, replayed=result.replayed)


@get("/checkins", opt=access(Access.PATIENT), summary="List my check-ins, newest day first")
async def api_list_checkins(request: Request[Any, Any, Any]) -> dict[str, Any]:
    user = user_of(request)
    async with db_of(request).reading() as session:
        rows = await service.list_checkins(session, user.patient_id or 0)
    return {"checkins": [checkin_json(row) for row in rows]}


handlers = [checkin_page, submit_checkin]
api_handlers = [api_create_checkin, api_list_checkins]
_ = CheckInInput
