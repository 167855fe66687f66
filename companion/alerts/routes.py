"""The clinician alert inbox, alert detail and the acknowledge / resolve / reopen actions; JSON API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from companion.accounts.models import Clinic, User
from companion.alerts import service
from companion.alerts.models import OUTCOME_LABELS, Alert, AlertOutcome, AlertStatus, HelpPress
from companion.alerts.service import AlertActionError, AlertRow
from companion.checkins.models import CheckIn
from companion.checkins.service import recent_moods
from companion.clinic import audit
from companion.clinic.models import AuditAction
from companion.db import utcnow
from companion.journal.models import JournalEntry
from companion.questionnaires.models import QuestionnaireResponse
from companion.risk.findings import Severity
from companion.treatments.models import SessionPrep, SessionReflection
from companion.web.forms import FormData
from companion.web.guards import Access, access
from companion.web.render import db_of, render, user_of, wants_fragment

ALERT_CHANGED = "alert-changed"
POLL_SECONDS = 10  # "new alerts appear without reloading" within 15 s; an unchanged poll is one query
STATUSES = tuple(status.value for status in AlertStatus)
SEVERITIES = tuple(severity.value for severity in Severity)
OUTCOMES = tuple(outcome.value for outcome in AlertOutcome)
MOOD_DAYS = 14
SOURCE_MODELS: dict[str, Any] = {
    "checkin": CheckIn,
    "journal": JournalEntry,
    "reflection": SessionReflection,
    "questionnaire": QuestionnaireResponse,
    "help": HelpPress,
    "prep": SessionPrep,
}


def _filter(value: str | None, allowed: tuple[str, ...]) -> str | None:
    return value if value in allowed else None


async def _clinic(session: AsyncSession, clinic_id: int) -> Clinic:
    return await session.get_one(Clinic, clinic_id)


@get("/clinic/alerts", opt=access(Access.CLINICIAN), include_in_schema=False)
async def alert_inbox(
    request: Request[Any, Any, Any], status: str | None = None, severity: str | None = None, since: str | None = None
) -> Response[Any] | Template:
    """The inbox; its list polls this same address (htmx, every ``POLL_SECONDS``) with ``since``.

    A poll whose ``since`` still matches gets 204 (one query, no audit row: nothing was shown);
    otherwise the list fragment, so an alert written by any web or worker process appears without
    a reload (issue 3 item 9, issue 5 item 1).
    """
    staff = user_of(request)
    now = utcnow()
    status, severity = _filter(status, STATUSES), _filter(severity, SEVERITIES)
    async with db_of(request).reading() as session:
        stamp = await service.inbox_stamp(session, staff, now)
        if since is not None and since == stamp and wants_fragment(request):
            return Response(None, status_code=204, headers={"Vary": "HX-Request"})
        rows = await service.inbox(session, staff, status=status, severity=severity)
        clinic = await _clinic(session, staff.clinic_id)
        actors = await _names(
            session, {i for r in rows for i in (r.alert.acknowledged_by_id, r.alert.resolved_by_id) if i}
        )
    await audit.record(db_of(request), staff, AuditAction.VIEW_ALERT_FEED, f"alert inbox: {len(rows)} alerts listed")
    poll = "/clinic/alerts?" + urlencode(
        {key: value for key, value in (("status", status), ("severity", severity), ("since", stamp)) if value}
    )
    context = {
        "rows": rows,
        "now": now,
        "zone": clinic.timezone,
        "status": status,
        "actors": actors,
        "severity": severity,
        "statuses": STATUSES,
        "severities": SEVERITIES,
        "outcomes": OUTCOME_LABELS,
        "poll_url": poll,
        "poll_seconds": POLL_SECONDS,
    }
    return render(request, "pages/staff/alerts.html", context, fragment="partials/alerts/list.html")


async def _row_or_404(session: AsyncSession, request: Request[Any, Any, Any], code: str) -> AlertRow:
    row = await service.alert_for_staff(session, user_of(request), code)
    if row is None:
        raise NotFoundException()
    return row


async def _source(session: AsyncSession, alert: Alert) -> Any:
    model = SOURCE_MODELS.get(alert.source_kind)
    if model is None:
        return None
    return (
        await session.execute(
            select(model).where(model.code == alert.source_code, model.patient_id == alert.patient_id)
        )
    ).scalar_one_or_none()


@get("/clinic/alerts/{code:str}", opt=access(Access.CLINICIAN), include_in_schema=False)
async def alert_detail(request: Request[Any, Any, Any], code: str) -> Template:
    async with db_of(request).reading() as session:
        row = await _row_or_404(session, request, code)
        clinic = await _clinic(session, row.alert.clinic_id)
        events = await service.events_of(session, row.alert)
        actors = await _names(session, {e.actor_id for e in events if e.actor_id})
        source = await _source(session, row.alert)
        today = utcnow().astimezone(ZoneInfo(row.patient.timezone)).date()
        moods = await recent_moods(session, row.patient.id, today - timedelta(days=MOOD_DAYS - 1))
    days = [today - timedelta(days=n) for n in range(MOOD_DAYS - 1, -1, -1)]
    await audit.record(
        db_of(request),
        user_of(request),
        AuditAction.VIEW_ALERT,
        f"alert {row.alert.code}: source {row.alert.source_kind} entry, {MOOD_DAYS}-day moods, alert history",
        patient_id=row.patient.id,
    )
    context = {
        "row": row,
        "now": utcnow(),
        "zone": clinic.timezone,
        "events": events,
        "actors": actors,
        "source": source,
        "moods": [(day, moods.get(day)) for day in days],
        "outcomes": OUTCOME_LABELS,
    }
    return render(request, "pages/staff/alert.html", context)


async def _names(session: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict((await session.execute(select(User.id, User.name).where(User.id.in_(ids)))).all())


async def _after_action(request: Request[Any, Any, Any], code: str) -> Response[Any] | Template:
    """htmx: the updated alert partial plus an event other regions listen to; otherwise 303."""
    if not wants_fragment(request):
        return Redirect(f"/clinic/alerts/{code}", status_code=303)
    async with db_of(request).reading() as session:
        row = await _row_or_404(session, request, code)
        clinic = await _clinic(session, row.alert.clinic_id)
        actors = await _names(session, {i for i in (row.alert.acknowledged_by_id, row.alert.resolved_by_id) if i})
    context = {"row": row, "now": utcnow(), "zone": clinic.timezone, "outcomes": OUTCOME_LABELS, "actors": actors}
    return Template(
        template_name="partials/alerts/alert.html",
        context=context,
        headers={"HX-Trigger": ALERT_CHANGED, "Vary": "HX-Request"},
    )


def _conflict(request: Request[Any, Any, Any], message: str) -> Response[Any]:
    from companion.web.errors import error_response

    return error_response(request, 409, message)


@post("/clinic/alerts/{code:str}/acknowledge", opt=access(Access.CLINICIAN), include_in_schema=False)
async def acknowledge_alert(request: Request[Any, Any, Any], code: str) -> Response[Any] | Template:
    FormData.from_multidict(await request.form())
    try:
        if await service.acknowledge(db_of(request), user_of(request), code) is None:
            raise NotFoundException()
    except AlertActionError as exc:
        return _conflict(request, str(exc))
    return await _after_action(request, code)


def _resolution(form: FormData) -> tuple[AlertOutcome | None, str]:
    form.reject_unknown(("outcome", "note"))
    outcome = form.choice("outcome", OUTCOMES, label="what was done")
    note = form.text("note", service.NOTE_MAX)
    return (AlertOutcome(outcome) if outcome else None), note


@post("/clinic/alerts/{code:str}/resolve", opt=access(Access.CLINICIAN), include_in_schema=False)
async def resolve_alert(request: Request[Any, Any, Any], code: str) -> Response[Any] | Template:
    form = FormData.from_multidict(await request.form())
    outcome, note = _resolution(form)
    if outcome is None or not form.ok:
        async with db_of(request).reading() as session:
            await _row_or_404(session, request, code)  # an outsider learns nothing from a 422
        from companion.web.errors import error_response

        return error_response(request, 422, " ".join(form.errors.values()))
    try:
        if await service.resolve(db_of(request), user_of(request), code, outcome, note) is None:
            raise NotFoundException()
    except AlertActionError as exc:
        return _conflict(request, str(exc))
    return await _after_action(request, code)


@post("/clinic/alerts/{code:str}/reopen", opt=access(Access.CLINICIAN), include_in_schema=False)
async def reopen_alert(request: Request[Any, Any, Any], code: str) -> Response[Any] | Template:
    FormData.from_multidict(await request.form())
    try:
        if await service.reopen(db_of(request), user_of(request), code) is None:
            raise NotFoundException()
    except AlertActionError as exc:
        return _conflict(request, str(exc))
    return await _after_action(request, code)


# --- JSON API ------------------------------------------------------------------------------------


def alert_json(row: AlertRow) -> dict[str, Any]:
    alert = row.alert
    iso = lambda value: value.isoformat() if value else None  # noqa: E731
    return {
        "code": alert.code,
        "patient": {"code": row.patient.code, "name": row.patient.name},
        "rule_id": alert.rule_id,
        "severity": alert.severity,
        "reason": alert.reason,
        "status": alert.status,
        "source": {"kind": alert.source_kind, "code": alert.source_code},
        "created_at": iso(alert.created_at),
        "response_due_at": iso(alert.response_due_at),
        "overdue": row.overdue(utcnow()),
        "acknowledged_at": iso(alert.acknowledged_at),
        "resolved_at": iso(alert.resolved_at),
        "outcome": alert.outcome,
        "note": alert.note,
        "undelivered": row.undelivered,
    }


@get("/alerts", opt=access(Access.CLINICIAN), summary="Alerts of my care-team patients, open first")
async def api_list_alerts(
    request: Request[Any, Any, Any], status: str | None = None, severity: str | None = None
) -> dict[str, Any]:
    async with db_of(request).reading() as session:
        rows = await service.inbox(
            session, user_of(request), status=_filter(status, STATUSES), severity=_filter(severity, SEVERITIES)
        )
    await audit.record(db_of(request), user_of(request), AuditAction.VIEW_ALERT_FEED, f"alert API: {len(rows)} alerts")
    return {"alerts": [alert_json(row) for row in rows]}


async def _api_row(request: Request[Any, Any, Any], code: str) -> dict[str, Any]:
    async with db_of(request).reading() as session:
        return {"alert": alert_json(await _row_or_404(session, request, code))}


@post("/alerts/{code:str}/acknowledge", opt=access(Access.CLINICIAN), summary="Acknowledge an alert")
async def api_acknowledge_alert(request: Request[Any, Any, Any], code: str) -> Response[Any]:
    try:
        if await service.acknowledge(db_of(request), user_of(request), code) is None:
            raise NotFoundException()
    except AlertActionError as exc:
        return Response({"error": str(exc)}, status_code=409)
    return Response(await _api_row(request, code), status_code=200)


@post("/alerts/{code:str}/resolve", opt=access(Access.CLINICIAN), summary="Resolve an alert with an outcome")
async def api_resolve_alert(request: Request[Any, Any, Any], code: str, data: dict[str, Any]) -> Response[Any]:
    """Body: {"outcome": contacted_patient|visit_scheduled|referred_emergency|no_action_needed, "note": str}."""
    form = FormData.from_json(data)
    outcome, note = _resolution(form)
    if outcome is None or not form.ok:
        await _api_row(request, code)  # 404 first for outsiders
        return Response({"errors": form.errors}, status_code=422)
    try:
        if await service.resolve(db_of(request), user_of(request), code, outcome, note) is None:
            raise NotFoundException()
    except AlertActionError as exc:
        return Response({"error": str(exc)}, status_code=409)
    return Response(await _api_row(request, code), status_code=200)


handlers = [alert_inbox, alert_detail, acknowledge_alert, resolve_alert, reopen_alert]
api_handlers = [api_list_alerts, api_acknowledge_alert, api_resolve_alert]
