"""The patient's home pages (Today, History), the front door, crisis help and health check."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import MediaType, Request, Response, get
from litestar.response import Redirect, Template

from companion.accounts.models import Clinic, Role
from companion.home import service
from companion.web.guards import Access, access
from companion.web.render import db_of, render, user_of

CRISIS_LINES = {
    # Minimal crisis card (clinical.md section 7) until the safety-loop work brings the full one.
    "US": {"emergency": "911", "lines": [("988 Suicide & Crisis Lifeline", "988", "988")]},
    "CA": {"emergency": "911", "lines": [("9-8-8 Suicide Crisis Helpline", "988", "988")]},
    "UK": {"emergency": "999", "lines": [("Samaritans", "116123", None), ("Shout (text)", None, "85258")]},
    "AU": {"emergency": "000", "lines": [("Lifeline", "131114", "0477131114")]},
}


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
async def crisis(request: Request[Any, Any, Any]) -> Template:
    user = request.scope.get("user")
    clinic = None
    if user is not None:
        async with db_of(request).reading() as session:
            clinic = await session.get(Clinic, user.clinic_id)
    region = clinic.region if clinic and clinic.region in CRISIS_LINES else "US"
    return render(request, "pages/public/crisis.html", {"resources": CRISIS_LINES[region], "clinic": clinic})


@get("/healthz", opt=access(Access.PUBLIC), include_in_schema=False, media_type=MediaType.JSON)
async def healthz(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    db = db_of(request)
    reachable = await db.ping()
    body = {"status": "ok" if reachable else "unavailable", "database": {"reachable": reachable, "engine": db.dialect}}
    return Response(body, status_code=200 if reachable else 503)


handlers = [front_door, today, history, crisis, healthz]
