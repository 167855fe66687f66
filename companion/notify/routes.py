"""``/settings`` (devices, test send, reminders, channels) and ``/api/v1/push-subscriptions``.

Patients and clinicians alike manage their own devices; every query filters by the logged-in
user, so another user's device code is simply "not found".
"""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar import Request, Response, delete, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Template

from companion.accounts.models import Clinic, Role
from companion.notify import service
from companion.notify.service import SubscriptionError, SubscriptionInput
from companion.notify.vapid import VapidKeyMissing, application_server_key, load_vapid
from companion.reminders.models import ReminderKind
from companion.reminders.service import ReminderSettingsInput, ensure_schedules, update_settings
from companion.web.forms import FormData
from companion.web.guards import Access, access
from companion.web.render import after_post, db_of, render, settings_of, user_of

KIND_LABELS = {
    ReminderKind.CHECKIN: "Daily check-in",
    ReminderKind.QUESTIONNAIRE: "Questionnaires when due (PHQ-9, GAD-7)",
    ReminderKind.SESSION_PREP: "The day before a session",
    ReminderKind.SESSION_SOON: "Two hours before a session",
    ReminderKind.JOURNAL: "Journal prompts after a session",
    ReminderKind.SIDE_EFFECTS: "Next-day check after a session",
}
MAX_PAUSE_DAYS = 60


def _public_key(request: Request[Any, Any, Any]) -> str | None:
    try:
        return application_server_key(load_vapid(settings_of(request)))
    except VapidKeyMissing:
        return None


async def _context(request: Request[Any, Any, Any], errors: dict[str, str] | None = None) -> dict[str, Any]:
    user = user_of(request)
    db = db_of(request)
    found = await service.devices(db, user)
    push_on, email_on = await service.preferences(db, user)
    context: dict[str, Any] = {
        "devices": found,
        "last_delivery": await service.last_delivery(db, [d.code for d in found]),
        "push_on": push_on,
        "email_on": email_on,
        "errors": errors or {},
        "vapid_key": _public_key(request),
        "layout": "layouts/patient.html" if user.role == Role.PATIENT else "layouts/staff.html",
        "is_patient": user.role == Role.PATIENT,
        "kind_labels": KIND_LABELS,
        "notice": request.query_params.get("done", ""),
    }
    if user.patient_id is not None:
        schedules = await ensure_schedules(db, user.patient_id)
        context["schedules"] = {row.kind: row for row in schedules}
        context["checkin"] = context["schedules"][ReminderKind.CHECKIN]
        context["zone"] = context["checkin"].zone
    else:
        async with db.reading() as session:
            context["zone"] = (await session.get_one(Clinic, user.clinic_id)).timezone
    return context


@get("/settings", opt=access(Access.USER), include_in_schema=False)
async def settings_page(request: Request[Any, Any, Any]) -> Template:
    return render(request, "pages/settings.html", await _context(request))


def parse_reminders(form: FormData) -> ReminderSettingsInput | None:
    form.reject_unknown(("reminder_time", "quiet_start", "quiet_end", "paused_until", "kind", "email_fallback"))
    local_time = form.local_time("reminder_time")
    quiet_start = form.local_time("quiet_start", required=False)
    quiet_end = form.local_time("quiet_end", required=False)
    if (quiet_start is None) != (quiet_end is None):
        form.fail("quiet_end", "Give both the start and the end of quiet hours, or neither.")
    paused_until = form.local_date("paused_until", required=False)
    if paused_until is not None and not 0 <= (paused_until - date.today()).days <= MAX_PAUSE_DAYS:
        form.fail("paused_until", f"Pause for at most {MAX_PAUSE_DAYS} days from today.")
    kinds = frozenset(form.values.get("kind", []))
    if not kinds <= set(ReminderKind):
        form.fail("kind", "Unknown reminder.")
    if not form.ok or local_time is None:
        return None
    return ReminderSettingsInput(local_time, quiet_start, quiet_end, paused_until, kinds)


@post("/settings/reminders", opt=access(Access.PATIENT), include_in_schema=False)
async def save_reminders(request: Request[Any, Any, Any]) -> Response[Any] | Template:
    user = user_of(request)
    form = FormData.from_multidict(await request.form())
    data = parse_reminders(form)
    if data is None:
        return render(request, "pages/settings.html", await _context(request, form.errors), status=422)
    await update_settings(db_of(request), user.patient_id or 0, data)
    push_on, _ = await service.preferences(db_of(request), user)
    await service.set_preferences(db_of(request), user, push=push_on, email=form.boolean("email_fallback"))
    return after_post(request, "/settings?done=reminders")


@post("/settings/notifications", opt=access(Access.USER), include_in_schema=False)
async def save_notifications(request: Request[Any, Any, Any]) -> Response[Any]:
    form = FormData.from_multidict(await request.form())
    form.reject_unknown(("push", "email"))
    if not form.ok:
        return after_post(request, "/settings")
    await service.set_preferences(
        db_of(request), user_of(request), push=form.boolean("push"), email=form.boolean("email")
    )
    return after_post(request, "/settings?done=notifications")


@post("/settings/test", opt=access(Access.USER), include_in_schema=False)
async def send_test(request: Request[Any, Any, Any]) -> Response[Any]:
    await service.queue_test(db_of(request), user_of(request))
    return after_post(request, "/settings?done=test")


@post("/settings/devices/{code:str}/remove", opt=access(Access.USER), include_in_schema=False)
async def remove_device(request: Request[Any, Any, Any], code: str) -> Response[Any]:
    if not await service.unsubscribe(db_of(request), user_of(request), code=code):
        raise NotFoundException()
    return after_post(request, "/settings?done=removed")


# --- API ---------------------------------------------------------------------------------------------


def _allowed_origins(request: Request[Any, Any, Any]) -> tuple[str, ...]:
    # Real push services are https; loopback http is for development and tests only.
    return () if settings_of(request).production else ("http://127.0.0.1:", "http://localhost:")


@post("/push-subscriptions", opt=access(Access.USER), summary="Subscribe this browser to push notifications")
async def api_subscribe(request: Request[Any, Any, Any], data: dict[str, Any]) -> Response[Any]:
    """Body: ``{"subscription": PushSubscription.toJSON(), "old_endpoint": optional, "label": optional}``."""
    subscription = data.get("subscription", data)
    old, label = data.get("old_endpoint"), data.get("label")
    try:
        parsed = SubscriptionInput.parse(subscription, _allowed_origins(request))
        row = await service.subscribe(
            db_of(request),
            user_of(request),
            parsed,
            label=label if isinstance(label, str) else "",
            old_endpoint=old if isinstance(old, str) else None,
        )
    except SubscriptionError as exc:
        return Response({"errors": {"subscription": str(exc)}}, status_code=422)
    return Response({"code": row.code, "active": True}, status_code=201)


@delete("/push-subscriptions", opt=access(Access.USER), summary="Unsubscribe a browser (by endpoint)", status_code=204)
async def api_unsubscribe(request: Request[Any, Any, Any], endpoint: str) -> None:
    if not await service.unsubscribe(db_of(request), user_of(request), endpoint=endpoint):
        raise NotFoundException()


@get("/push-subscriptions", opt=access(Access.USER), summary="List my devices and the server's push key")
async def api_list_subscriptions(request: Request[Any, Any, Any]) -> dict[str, Any]:
    found = await service.devices(db_of(request), user_of(request))
    return {"application_server_key": _public_key(request), "subscriptions": [d.as_json() for d in found]}


handlers = [settings_page, save_reminders, save_notifications, send_test, remove_device]
api_handlers = [api_subscribe, api_unsubscribe, api_list_subscriptions]
