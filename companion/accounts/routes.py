"""Login, logout and invitation pages."""

from __future__ import annotations

from typing import Any
from zoneinfo import available_timezones

from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.response import Redirect, Template

from companion.accounts import invitations
from companion.accounts.auth import destroy_session
from companion.accounts.invitations import Activation, LinkState
from companion.accounts.models import Role
from companion.accounts.passwords import password_problem
from companion.accounts.service import log_in
from companion.web.forms import FormData
from companion.web.guards import Access, access
from companion.web.middleware import session_cookie_name
from companion.web.render import client_address, db_of, render, settings_of

TIMEZONES = sorted(zone for zone in available_timezones() if "/" in zone and not zone.startswith(("Etc/", "SystemV/")))
LANDING = {Role.PATIENT: "/today", Role.CLINICIAN: "/clinic", Role.ADMIN: "/clinic"}


def _safe_next(value: str | None) -> str | None:
    # Only same-site paths, never "//host" or a scheme: no open redirect.
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return None


def _session_cookie(request: Request[Any, Any, Any], token: str, remember_days: int | None) -> Cookie:
    settings = settings_of(request)
    return Cookie(
        key=session_cookie_name(settings),
        value=token,
        path="/",
        httponly=True,
        secure=settings.web.secure_cookies,
        samesite="lax",
        max_age=remember_days * 86400 if remember_days else None,
    )


@get("/login", opt=access(Access.PUBLIC), include_in_schema=False)
async def login_page(request: Request[Any, Any, Any], next: str | None = None) -> Template:  # noqa: A002
    return render(request, "pages/public/login.html", {"next": _safe_next(next) or "", "errors": {}, "login": ""})


@post("/login", opt=access(Access.PUBLIC), include_in_schema=False)
async def submit_login(request: Request[Any, Any, Any]) -> Response[Any]:
    form = FormData.from_multidict(await request.form())
    login, password = form.text("login", 254, required=True, label="your login"), form.raw("password") or ""
    target = _safe_next(form.raw("next"))
    remember = form.boolean("remember")
    context = {"next": target or "", "login": login, "errors": form.errors}
    if not password:
        form.fail("password", "Enter your password.")
    if not form.ok:
        return render(request, "pages/public/login.html", context, status=422)
    settings = settings_of(request)
    outcome = await log_in(
        db_of(request),
        login,
        password[:1024],
        address=client_address(request),
        remember=remember,
        policy=settings.sessions,
        replacing_token=request.cookies.get(session_cookie_name(settings)),
        user_agent=request.headers.get("user-agent", ""),
    )
    if outcome.wait_seconds:
        context["errors"] = {"login": f"Too many attempts. Please wait {outcome.wait_seconds} seconds and try again."}
        return render(request, "pages/public/login.html", context, status=429)
    if not outcome.ok or outcome.token is None:
        context["errors"] = {"login": "That login and password do not match. Check both and try again."}
        return render(request, "pages/public/login.html", context, status=401)
    remember_days = settings.sessions.patient_remember_days if remember and outcome.role == Role.PATIENT else None
    response = Redirect(target or LANDING[Role(outcome.role)], status_code=303)
    response.cookies.append(_session_cookie(request, outcome.token, remember_days))
    return response


@post("/logout", opt=access(Access.PUBLIC), include_in_schema=False)
async def logout(request: Request[Any, Any, Any]) -> Response[Any]:
    """Destroy the session server-side and ask the browser to forget everything (DATA-05)."""
    settings = settings_of(request)
    token = request.cookies.get(session_cookie_name(settings))
    if token:
        await destroy_session(db_of(request), token)
    response = Redirect("/login?logged_out=1", status_code=303)
    response.headers["Clear-Site-Data"] = '"cache", "cookies", "storage"'
    response.cookies.append(Cookie(key=session_cookie_name(settings), value="", path="/", max_age=0, expires=0))
    return response


@get("/invite/{token:str}", opt=access(Access.PUBLIC), include_in_schema=False)
async def invitation_page(request: Request[Any, Any, Any], token: str) -> Template:
    async with db_of(request).reading() as session:
        opened = await invitations.open_invitation(session, token[:100])
    if opened.state != LinkState.VALID or opened.patient is None:
        return render(
            request,
            "pages/public/invite_closed.html",
            {"state": opened.state},
            status=410 if opened.state != LinkState.UNKNOWN else 404,
        )
    return render(request, "pages/public/invite.html", _invite_context(opened, token, {}, {}))


def _invite_context(
    opened: invitations.OpenInvitation, token: str, values: dict[str, Any], errors: dict[str, str]
) -> dict[str, Any]:
    patient, clinic = opened.patient, opened.clinic
    assert patient is not None and clinic is not None
    defaults = {"login": patient.email or "", "timezone": patient.timezone, "reminder_time": "19:00"}
    return {
        "token": token,
        "patient": patient,
        "clinic": clinic,
        "timezones": TIMEZONES,
        "values": defaults | values,
        "errors": errors,
        "consent_version": invitations.CONSENT_TEXT_VERSION,
    }


@post("/invite/{token:str}", opt=access(Access.PUBLIC), include_in_schema=False)
async def accept_invitation(request: Request[Any, Any, Any], token: str) -> Response[Any]:
    db = db_of(request)
    async with db.reading() as session:
        opened = await invitations.open_invitation(session, token[:100])
        if opened.state != LinkState.VALID or opened.patient is None:
            return render(request, "pages/public/invite_closed.html", {"state": opened.state}, status=410)
        form = FormData.from_multidict(await request.form())
        data = _parse_activation(form, opened.patient.name)
        if data is not None and await invitations.login_taken(session, data.login):
            form.fail("login", "This login name is taken. Choose another.")
    values = {k: v[0] for k, v in form.values.items() if k not in ("password", "password_confirm") and v}
    if data is None or not form.ok:
        return render(
            request, "pages/public/invite.html", _invite_context(opened, token, values, form.errors), status=422
        )
    session_token = await invitations.activate(db, token, data, settings_of(request))
    if session_token is None:
        return render(request, "pages/public/invite_closed.html", {"state": LinkState.USED}, status=410)
    response = Redirect("/today?welcome=1", status_code=303)
    response.cookies.append(_session_cookie(request, session_token, None))
    return response


def _parse_activation(form: FormData, patient_name: str) -> Activation | None:
    form.reject_unknown(("login", "password", "password_confirm", "timezone", "reminder_time", "consent"))
    login = form.text("login", 254, required=True, label="a login name")
    if login and (len(login) < 3 or any(ch.isspace() for ch in login)):
        form.fail("login", "Use at least 3 characters and no spaces (your e-mail address works well).")
    password = form.raw("password") or ""
    if problem := password_problem(password, personal_words=tuple(patient_name.split()) + (login,)):
        form.fail("password", problem)
    elif password != (form.raw("password_confirm") or ""):
        form.fail("password_confirm", "The two passwords are not the same.")
    timezone = form.choice("timezone", TIMEZONES, label="your time zone")
    reminder_time = form.local_time("reminder_time")
    if not form.boolean("consent"):
        form.fail("consent", "Please read the notice and tick the box to continue.")
    if not form.ok or timezone is None or reminder_time is None:
        return None
    return Activation(login, password, timezone, reminder_time)


handlers = [login_page, submit_login, logout, invitation_page, accept_invitation]
