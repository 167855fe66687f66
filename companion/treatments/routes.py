"""The patient's session list and post-session reflections."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Template

from companion.accounts.models import Patient
from companion.db import utcnow
from companion.treatments import service
from companion.treatments.models import ROUTE_LABELS
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
    now = utcnow()
    context = {
        "upcoming": sorted((t for t in treatments if t.scheduled_at > now), key=lambda t: t.scheduled_at),
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


handlers = [sessions_page, reflection_page, submit_reflection]
