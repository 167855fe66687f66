"""The patient's home pages (Today, History), the front door, crisis help and health check."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import MediaType, Request, Response, get, post
from litestar.response import Redirect, Template

from companion.accounts.models import Clinic, Role
from companion.alerts.help import press_help
from companion.db import utcnow
from companion.home import service
from companion.risk import safety_plan
from companion.risk.card import crisis_card
from companion.web.guards import Access, access
from companion.web.render import db_of, render, user_of


@get("/", opt=access(Access.PUBLIC), include_in_schema=False)
async def front_door(request: Request[Any, Any, Any]) -> Redirect:
    user = request.scope.get("user")
    if user is None:
        return Redirect("/login", status_code=303)
    return Redirect("/today" if user.role == Role.PATIENT else "/clinic", status_code=303)


@get("/today", opt=access(Access.PATIENT), include_in_schema=False)
async def today(request: Request[Any, Any, Any]) -> Template:
    user = user_of(request)
    async with db_of(request).reading() as session:
        view = await service.today_view(session, user.patient_id or 0)
    return render(request, "pages/patient/today.html", {"view": view, "saved": request.query_params.get("saved")})


@get("/history", opt=access(Access.PATIENT), include_in_schema=False)
async def history(request: Request[Any, Any, Any], before: str | None = None) -> Template:
    user = user_of(request)
    cursor = _parse_cursor(before)
    async with db_of(request).reading() as session:
        page = await service.history_page(session, user.patient_id or 0, cursor)
        patient = await session.get_one(service.Patient, user.patient_id)
    context = {"page": page, "zone": patient.timezone}
    return render(request, "pages/patient/history.html", context, fragment="partials/history/page.html")


def _parse_cursor(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


@get("/crisis", opt=access(Access.PUBLIC), include_in_schema=False)
async def crisis(request: Request[Any, Any, Any], region: str | None = None) -> Template:
    """Public: works without logging in. Logged in, the clinic's region, contact and hours apply."""
    user = request.scope.get("user")
    clinic = None
    if user is not None:
        async with db_of(request).reading() as session:
            clinic = await session.get(Clinic, user.clinic_id)
    is_patient = user is not None and user.role == Role.PATIENT
    plan = None
    if is_patient:
        async with db_of(request).reading() as session:
            plan = await safety_plan.current_plan(session, user.patient_id)
    card = crisis_card(clinic, utcnow(), region=None if clinic else region, safety_plan=is_patient)
    context = {"card": card, "is_patient": is_patient, "plan": plan, "sections": safety_plan.SECTIONS}
    return render(request, "pages/public/crisis.html", context)


@post("/help-now", opt=access(Access.PATIENT), include_in_schema=False)
async def help_now(request: Request[Any, Any, Any]) -> Template:
    """ "I need help now": raises a Critical alert (A7) and answers with the crisis card at once."""
    user = user_of(request)
    _press, outcome = await press_help(db_of(request), user)
    async with db_of(request).reading() as session:
        clinic = await session.get_one(Clinic, user.clinic_id)
    card = crisis_card(clinic, utcnow(), severity="critical", alerted=bool(outcome.alerts), safety_plan=True)
    return render(request, "pages/patient/help_now.html", {"card": card}, fragment="partials/crisis/card.html")


@get("/healthz", opt=access(Access.PUBLIC), include_in_schema=False, media_type=MediaType.JSON)
async def healthz(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    db = db_of(request)
    reachable = await db.ping()
    body = {"status": "ok" if reachable else "unavailable", "database": {"reachable": reachable, "engine": db.dialect}}
    return Response(body, status_code=200 if reachable else 503)


handlers = [front_door, today, history, crisis, help_now, healthz]
