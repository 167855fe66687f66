"""Deny by default, object-level access, CSRF and Fetch-Metadata checks."""

from __future__ import annotations

from litestar.handlers import HTTPRouteHandler

from companion.web.guards import Access
from tests.factories import make_session

PATIENT_PAGES = ["/today", "/checkin", "/journal", "/sessions", "/history"]


async def test_every_route_declares_who_may_use_it(app):
    """AC-01: a route without an access declaration would be refused; none may be missing."""
    undeclared = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if isinstance(handler, HTTPRouteHandler) and handler.http_methods != {"OPTIONS"}:
                if handler.opt.get("access") not in set(Access):
                    undeclared.append((route.path, sorted(handler.http_methods)))
    assert undeclared == []


async def test_anonymous_visitors_are_sent_to_login(client, personas):
    for page in PATIENT_PAGES + ["/clinic", "/clinic/patients", f"/clinic/patients/{personas.alice.patient_code}"]:
        response = await client.get(page)
        assert response.status_code == 303, page
        assert response.headers["location"].startswith("/login"), page


async def test_staff_cannot_use_patient_pages(client, personas):
    await client.login(personas.carol)
    for page in PATIENT_PAGES:
        assert (await client.get(page)).status_code == 404, page


async def test_patients_cannot_use_clinic_pages(client, personas):
    await client.login(personas.alice)
    for page in ["/clinic", "/clinic/patients", f"/clinic/patients/{personas.alice.patient_code}"]:
        assert (await client.get(page)).status_code == 404, page


async def test_only_the_care_team_sees_a_patient(client_factory, personas):
    url = f"/clinic/patients/{personas.alice.patient_code}"
    expected = {"carol": 200, "dave": 404, "erin": 404, "ada": 404}
    for name, status in expected.items():
        async with client_factory() as c:
            await c.login(getattr(personas, name))
            assert (await c.get(url)).status_code == status, name
            form = {"date": "2030-01-02", "time": "10:00", "route": "iv", "phase": "induction"}
            post_status = 303 if status == 200 else 404
            assert (await c.post_form(f"{url}/sessions", form)).status_code == post_status, name


async def test_bob_cannot_reach_alices_session(client, personas, db):
    from datetime import timedelta

    from companion.db import utcnow

    treatment = await make_session(db, personas.alice, at=utcnow() - timedelta(hours=3), status="attended")
    await client.login(personas.bob)
    url = f"/sessions/{treatment.code}/reflection"
    assert (await client.get(url)).status_code == 404
    response = await client.post_form(url, {"feeling": "5", "visibility": "private"})
    assert response.status_code == 404


async def test_unknown_patient_code_is_404(client, personas):
    await client.login(personas.carol)
    assert (await client.get("/clinic/patients/does-not-exist")).status_code == 404


async def test_post_without_csrf_token_is_refused(client, personas, db):
    await client.login(personas.alice)
    response = await client.post_form(
        "/checkin", {"mood": "5", "anxiety": "5", "energy": "5", "safety": "none"}, csrf=False
    )
    assert response.status_code == 403
    wrong = await client.http.post("/checkin", data={"mood": "5", "_csrf_token": "0" * 64}, follow_redirects=False)
    assert wrong.status_code == 403


async def test_cross_site_post_is_refused_even_with_a_token(client, personas):
    await client.login(personas.alice)
    form = {"mood": "5", "anxiety": "5", "energy": "5", "safety": "none"}
    cross = await client.post_form("/checkin", form, headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    foreign = await client.post_form("/checkin", form, headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    same = await client.post_form("/checkin", form, headers={"Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 303


async def test_login_form_needs_csrf_too(client, personas):
    response = await client.post_form("/login", {"login": personas.alice.login, "password": "x"}, csrf=False)
    assert response.status_code == 403
