"""S1: the authorization matrix — every route × persona × object, with the expected status.

The table below is the specification. Each key is (method, route path as the app declares it,
object); each value is the status for (anonymous, alice, bob, carol, dave, erin, ada). Bodies are
deliberately empty or invalid where a change would otherwise happen, so an allowed request shows
as 422 (authorised, then refused by validation) and nothing changes; a refused one is 404 (never
403: the app does not confirm that something exists), 303 to the login page for anonymous pages,
401 for anonymous API calls, 403 for a CSRF failure. A route of the app missing from this table
fails the test (deny by default, AC-01).

Set ``AUTHZ_DISCOVER=1`` to print the observed table when adding routes, then review it by hand.
"""

from __future__ import annotations

import os
from datetime import timedelta

from litestar.handlers import HTTPRouteHandler
from sqlalchemy import select

from companion.accounts.models import User
from companion.clinic.models import BreakGlassGrant
from companion.db import utcnow
from tests.clinic.test_dashboard import _alert
from tests.factories import make_session

PERSONAS = ("anonymous", "alice", "bob", "carol", "dave", "erin", "ada")
RUN_ORDER = ("anonymous", "alice", "bob", "erin", "dave", "carol", "ada")  # ada last: admin actions
A = "alice_patient"
# status for:   anon alice bob carol dave erin ada
MATRIX: dict[tuple[str, str, str], tuple[int, ...]] = {
    ("GET", "/", "-"): (303, 303, 303, 303, 303, 303, 303),
    ("GET", "/today", "-"): (303, 200, 200, 404, 404, 404, 404),
    ("GET", "/history", "-"): (303, 200, 200, 404, 404, 404, 404),
    ("GET", "/crisis", "-"): (200, 200, 200, 200, 200, 200, 200),
    ("POST", "/help-now", "-"): (303, 200, 200, 404, 404, 404, 404),
    ("GET", "/healthz", "-"): (200, 200, 200, 200, 200, 200, 200),
    ("GET", "/login", "-"): (200, 200, 200, 200, 200, 200, 200),
    ("POST", "/login", "-"): (422, 422, 422, 422, 422, 422, 422),
    ("POST", "/logout", "-"): (303, 303, 303, 303, 303, 303, 303),
    ("GET", "/invite/{token:str}", "bad token"): (404, 404, 404, 404, 404, 404, 404),
    ("POST", "/invite/{token:str}", "bad token"): (410, 410, 410, 410, 410, 410, 410),
    ("GET", "/checkin", "-"): (303, 200, 200, 404, 404, 404, 404),
    ("POST", "/checkin", "-"): (303, 422, 422, 404, 404, 404, 404),
    ("GET", "/journal", "-"): (303, 200, 200, 404, 404, 404, 404),
    ("POST", "/journal", "-"): (303, 422, 422, 404, 404, 404, 404),
    ("GET", "/questionnaires/{instrument:str}", "phq9"): (303, 200, 200, 404, 404, 404, 404),
    ("POST", "/questionnaires/{instrument:str}", "phq9"): (303, 422, 422, 404, 404, 404, 404),
    ("GET", "/safety-plan", "-"): (303, 200, 200, 404, 404, 404, 404),
    ("POST", "/safety-plan", "-"): (303, 303, 303, 404, 404, 404, 404),
    ("GET", "/clinic/patients/{code:str}/safety-plan", A): (303, 404, 404, 200, 404, 404, 404),
    ("POST", "/clinic/patients/{code:str}/safety-plan", A): (303, 404, 404, 303, 404, 404, 404),
    ("GET", "/sessions", "-"): (303, 200, 200, 404, 404, 404, 404),
    ("GET", "/sessions/{code:str}/reflection", "alice_session"): (303, 200, 404, 404, 404, 404, 404),
    ("POST", "/sessions/{code:str}/reflection", "alice_session"): (303, 422, 404, 404, 404, 404, 404),
    ("GET", "/sessions/{code:str}/prep", "alice_upcoming"): (303, 200, 404, 404, 404, 404, 404),
    ("POST", "/sessions/{code:str}/prep", "alice_upcoming"): (303, 422, 404, 404, 404, 404, 404),
    ("GET", "/sessions/{code:str}/prep", "alice_session"): (303, 404, 404, 404, 404, 404, 404),
    ("GET", "/clinic", "-"): (303, 404, 404, 200, 200, 200, 200),
    ("GET", "/clinic/alerts-feed", "-"): (303, 404, 404, 200, 200, 204, 404),
    ("GET", "/clinic/patients", "-"): (303, 404, 404, 200, 200, 200, 404),
    ("POST", "/clinic/patients", "-"): (303, 404, 404, 422, 422, 422, 404),
    ("GET", "/clinic/patients/{code:str}", A): (303, 404, 404, 200, 404, 404, 404),
    ("GET", "/clinic/patients/{code:str}", "bob_patient"): (303, 404, 404, 404, 200, 404, 404),
    ("POST", "/clinic/patients/{code:str}/sessions", A): (303, 404, 404, 422, 404, 404, 404),
    ("POST", "/clinic/patients/{code:str}/sessions/{session_code:str}/move", "alice_session"): (
        303,
        404,
        404,
        422,
        404,
        404,
        404,
    ),
    ("POST", "/clinic/patients/{code:str}/sessions/{session_code:str}/status", "alice_session"): (
        303,
        404,
        404,
        422,
        404,
        404,
        404,
    ),
    ("POST", "/clinic/patients/{code:str}/sessions/{session_code:str}/status", "bob_session via alice"): (
        303,
        404,
        404,
        422,
        404,
        404,
        404,
    ),
    ("POST", "/clinic/patients/{code:str}/plan", A): (303, 404, 404, 422, 404, 404, 404),
    ("POST", "/clinic/patients/{code:str}/invitation", A): (303, 404, 404, 404, 404, 404, 404),
    # Break-glass (AC-06): dave (same clinic, not on alice's team) may ask, stating a reason (422
    # here: the body is empty); carol is on the team and is sent to the record; erin (other
    # clinic), ada (admin) and patients never. dave's grant below has expired, so the record
    # itself stays 404 for him.
    ("GET", "/clinic/break-glass", "-"): (303, 404, 404, 200, 200, 200, 404),
    ("GET", "/clinic/patients/{code:str}/break-glass", A): (303, 404, 404, 303, 200, 404, 404),
    ("POST", "/clinic/patients/{code:str}/break-glass", A): (303, 404, 404, 303, 422, 404, 404),
    ("POST", "/clinic/admin/break-glass/{code:str}/review", "dave_grant"): (303, 404, 404, 404, 404, 404, 422),
    ("GET", "/clinic/admin", "-"): (303, 404, 404, 404, 404, 404, 200),
    ("POST", "/clinic/admin/staff", "-"): (303, 404, 404, 404, 404, 404, 422),
    ("POST", "/clinic/admin/staff/{code:str}/role", "dave_staff"): (303, 404, 404, 404, 404, 404, 422),
    ("POST", "/clinic/admin/staff/{code:str}/role", "erin_staff"): (303, 404, 404, 404, 404, 404, 404),
    ("POST", "/clinic/admin/staff/{code:str}/deactivate", "dave_staff"): (303, 404, 404, 404, 404, 404, 422),
    ("POST", "/clinic/admin/staff/{code:str}/deactivate", "erin_staff"): (303, 404, 404, 404, 404, 404, 404),
    ("POST", "/clinic/admin/care-team", "-"): (303, 404, 404, 404, 404, 404, 422),
    ("POST", "/clinic/admin/settings", "-"): (303, 404, 404, 404, 404, 404, 422),
    ("GET", "/clinic/admin/audit", "-"): (303, 404, 404, 404, 404, 404, 200),
    ("GET", "/my-record/views", "-"): (303, 200, 200, 404, 404, 404, 404),
    ("GET", "/clinic/alerts", "-"): (303, 404, 404, 200, 200, 200, 404),
    ("GET", "/clinic/alerts/{code:str}", "alice_alert"): (303, 404, 404, 200, 404, 404, 404),
    ("POST", "/clinic/alerts/{code:str}/acknowledge", "alice_alert"): (303, 404, 404, 303, 404, 404, 404),
    ("POST", "/clinic/alerts/{code:str}/resolve", "alice_alert"): (303, 404, 404, 422, 404, 404, 404),
    ("POST", "/clinic/alerts/{code:str}/reopen", "alice_alert"): (303, 404, 404, 409, 404, 404, 404),
    ("GET", "/manifest.webmanifest", "-"): (200, 200, 200, 200, 200, 200, 200),
    ("GET", "/sw.js", "-"): (200, 200, 200, 200, 200, 200, 200),
    ("GET", "/offline", "-"): (200, 200, 200, 200, 200, 200, 200),
    ("GET", "/api/v1/checkins", "-"): (401, 200, 200, 404, 404, 404, 404),
    ("POST", "/api/v1/checkins", "-"): (401, 422, 422, 404, 404, 404, 404),
    ("GET", "/api/v1/journal-entries", "-"): (401, 200, 200, 404, 404, 404, 404),
    ("POST", "/api/v1/journal-entries", "-"): (401, 422, 422, 404, 404, 404, 404),
    ("GET", "/api/v1/questionnaires", "-"): (401, 200, 200, 404, 404, 404, 404),
    ("GET", "/api/v1/questionnaires/{instrument:str}", "phq9"): (401, 200, 200, 404, 404, 404, 404),
    ("POST", "/api/v1/questionnaires/{instrument:str}", "phq9"): (401, 422, 422, 404, 404, 404, 404),
    ("GET", "/api/v1/alerts", "-"): (401, 404, 404, 200, 200, 200, 404),
    ("POST", "/api/v1/alerts/{code:str}/acknowledge", "bob_alert"): (401, 404, 404, 404, 200, 404, 404),
    ("POST", "/api/v1/alerts/{code:str}/resolve", "bob_alert"): (401, 404, 404, 404, 422, 404, 404),
    # The delivery issue's settings and push subscriptions are for every logged-in user (staff
    # receive alert pushes too); device codes and subscriptions are scoped to their owner.
    ("GET", "/settings", "-"): (303, 200, 200, 200, 200, 200, 200),
    ("POST", "/settings/notifications", "-"): (303, 303, 303, 303, 303, 303, 303),
    ("POST", "/settings/reminders", "-"): (303, 422, 422, 404, 404, 404, 404),
    ("POST", "/settings/test", "-"): (303, 303, 303, 303, 303, 303, 303),
    ("POST", "/settings/devices/{code:str}/remove", "bad device"): (303, 404, 404, 404, 404, 404, 404),
    ("GET", "/api/v1/push-subscriptions", "-"): (401, 200, 200, 200, 200, 200, 200),
    ("POST", "/api/v1/push-subscriptions", "-"): (401, 422, 422, 422, 422, 422, 422),
    ("DELETE", "/api/v1/push-subscriptions", "-"): (401, 400, 400, 400, 400, 400, 400),
    ("GET", "/static/{file_path:path}", "css"): (200, 200, 200, 200, 200, 200, 200),
    ("HEAD", "/static/{file_path:path}", "css"): (200, 200, 200, 200, 200, 200, 200),
    ("GET", "/schema", "-"): (200, 200, 200, 200, 200, 200, 200),
    ("GET", "/schema/openapi.json", "-"): (200, 200, 200, 200, 200, 200, 200),
    ("GET", "/schema/{path:str}", "openapi.json"): (200, 200, 200, 200, 200, 200, 200),
}
# Run last for every persona: it ends the session.
LAST = ("POST", "/logout", "-")
JSON_ROUTES = ("/api/",)


def app_routes(app) -> set[tuple[str, str]]:
    found = set()
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if isinstance(handler, HTTPRouteHandler):
                found |= {(method, route.path) for method in handler.http_methods if method != "OPTIONS"}
    return found


async def _objects(db, personas) -> dict[str, dict[str, str]]:
    alice_session = await make_session(db, personas.alice, at=utcnow() - timedelta(hours=2), status="attended")
    bob_session = await make_session(db, personas.bob, at=utcnow() - timedelta(hours=2))
    alice_upcoming = await make_session(db, personas.alice, at=utcnow() + timedelta(hours=20))
    alice_alert = await _alert(db, personas.alice, rule="B1", severity="medium")
    bob_alert = await _alert(db, personas.bob, rule="B1", severity="medium")
    async with db.reading() as session:
        codes = dict((await session.execute(select(User.login, User.code))).all())
    a, b = personas.alice.patient_code, personas.bob.patient_code
    async with db.writing() as session:
        grant = BreakGlassGrant(
            clinic_id=personas.north_id,
            clinician_id=personas.dave.user_id,
            patient_id=personas.alice.patient_id,
            reason="expired emergency access",
            created_at=utcnow() - timedelta(hours=2),
            expires_at=utcnow() - timedelta(hours=1),
        )
        session.add(grant)
    return {
        "-": {},
        A: {"code": a},
        "bob_patient": {"code": b},
        "bad token": {"token": "not-a-real-token"},
        "phq9": {"instrument": "phq9"},
        "alice_session": {"code": alice_session.code, "session_code": alice_session.code},
        "bob_session via alice": {"code": a, "session_code": bob_session.code},
        "alice_upcoming": {"code": alice_upcoming.code},
        "dave_staff": {"code": codes[personas.dave.login]},
        "erin_staff": {"code": codes[personas.erin.login]},
        "alice_alert": {"code": alice_alert.code},
        "dave_grant": {"code": grant.code},
        "bob_alert": {"code": bob_alert.code},
        "css": {"file_path": "css/app.css"},
        "bad device": {"code": "no-such-device"},
        "openapi.json": {"path": "openapi.json"},
    }


def _url(path: str, params: dict[str, str], key: tuple[str, str, str]) -> str:
    url = path
    for name, value in params.items():
        for suffix in (":str", ":path"):
            url = url.replace("{" + name + suffix + "}", value)
    if key[2] == "alice_session" and "/clinic/patients/" in path:
        url = url.replace(f"/clinic/patients/{params['code']}", "/clinic/patients/{alice}")
    if "{" in url and "{alice}" not in url:
        raise AssertionError(f"unfilled parameter in {url} for {key}")
    return url


async def _request(client, method: str, url: str):
    if method == "GET":
        return await client.get(url)
    if method == "HEAD":
        return await client.http.head(url)
    if method == "DELETE":
        headers = {"x-csrftoken": await client.csrf_token()}
        return await client.http.request("DELETE", url, json={}, headers=headers)
    if any(url.startswith(prefix) for prefix in JSON_ROUTES):
        return await client.post_json(url, {}, follow_redirects=False)
    return await client.post_form(url, {"x": "not part of any form"} if "/deactivate" in url else {})


async def test_authorization_matrix(app, client_factory, personas, db):
    unlisted = sorted(app_routes(app) - {(m, p) for m, p, _o in MATRIX})
    stale = sorted({(m, p) for m, p, _o in MATRIX} - app_routes(app))
    objects = await _objects(db, personas)
    observed: dict[tuple[str, str, str], list[int]] = {key: [0] * len(PERSONAS) for key in MATRIX}
    cases = [key for key in MATRIX if key != LAST] + [LAST]
    for who in RUN_ORDER:
        async with client_factory() as client:
            if who != "anonymous":
                await client.login(getattr(personas, who))
            for key in cases:
                method, path, obj = key
                url = _url(path, objects[obj], key).replace("{alice}", personas.alice.patient_code)
                response = await _request(client, method, url)
                observed[key][PERSONAS.index(who)] = response.status_code
    allow = deny = 0
    wrong = []
    for key, expected in MATRIX.items():
        for index, (want, got) in enumerate(zip(expected, observed[key], strict=True)):
            if want != got:
                wrong.append(f"{key} as {PERSONAS[index]}: expected {want}, got {got}")
                allow += got < 400 <= want or (want >= 400 and got in (200, 204, 422, 409))
                deny += want < 400 <= got and got not in (422, 409) or (want in (422, 409) and got in (401, 403, 404))
    if os.environ.get("AUTHZ_DISCOVER"):
        for key, statuses in observed.items():
            print(f"    {key!r}: {tuple(statuses)},")
    cases_count = len(MATRIX) * len(PERSONAS)
    print(
        f"authz-matrix: {cases_count} cases, {allow} unexpected allow, {deny} unexpected deny, "
        f"{len(unlisted)} routes unlisted"
    )
    assert unlisted == [], f"routes missing from the matrix: {unlisted}"
    assert stale == [], f"matrix rows for routes that no longer exist: {stale}"
    assert wrong == [], "\n".join(wrong)
