"""The safety-loop pages keep the security headers, are never cached, and need the right login."""

from __future__ import annotations

from sqlalchemy import select

from companion.alerts.models import Alert
from tests.test_security_headers import assert_security_headers

PATIENT = ["/questionnaires/phq9", "/questionnaires/gad7", "/questionnaires/asq", "/safety-plan"]


async def test_new_pages_have_headers_and_are_not_cached(client_factory, personas, db):
    async with client_factory() as alice:
        await alice.login(personas.alice)
        for path in PATIENT:
            response = await alice.get(path)
            assert response.status_code == 200, path
            assert_security_headers(response, path)
            assert response.headers.get("cache-control") == "no-store" and 'hx-history="false"' in response.text, path
        risky = await alice.post_form("/checkin", {"mood": "3", "anxiety": "5", "energy": "3", "safety": "passive"})
        assert_security_headers(risky, "/checkin (risky)")
        assert risky.headers.get("cache-control") == "no-store"
    async with db.reading() as session:
        code = (await session.execute(select(Alert.code))).scalar_one()
    async with client_factory() as carol:
        await carol.login(personas.carol)
        for path in [
            "/clinic/alerts",
            f"/clinic/alerts/{code}",
            f"/clinic/patients/{personas.alice.patient_code}/safety-plan",
        ]:
            response = await carol.get(path)
            assert response.status_code == 200, path
            assert_security_headers(response, path)
            assert response.headers.get("cache-control") == "no-store", path


async def test_new_pages_need_a_login_and_the_right_role(client_factory, personas):
    async with client_factory() as anonymous:
        for path in PATIENT + ["/clinic/alerts", "/clinic/alerts/abc"]:
            response = await anonymous.get(path)
            assert response.status_code == 303 and response.headers["location"].startswith("/login"), path
        assert (await anonymous.get("/api/v1/alerts")).status_code == 401
    async with client_factory() as carol:
        await carol.login(personas.carol)
        for path in PATIENT:
            assert (await carol.get(path)).status_code == 404, path
    async with client_factory() as alice:
        await alice.login(personas.alice)
        for path in [
            "/clinic/alerts",
            "/clinic/alerts/abc",
            f"/clinic/patients/{personas.alice.patient_code}/safety-plan",
        ]:
            assert (await alice.get(path)).status_code == 404, path
