"""Health check, front door, crisis page and the OpenAPI schema."""

from __future__ import annotations

from companion.app import create_app
from tests.browser_client import AppClient
from tests.conftest import make_settings


async def test_healthz_reports_the_database(client):
    response = await client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["database"]["reachable"] is True


async def test_front_door_sends_each_role_home(client_factory, personas):
    async with client_factory() as anonymous:
        assert (await anonymous.get("/")).headers["location"] == "/login"
    for person, home in ((personas.alice, "/today"), (personas.carol, "/clinic"), (personas.ada, "/clinic")):
        async with client_factory() as c:
            await c.login(person)
            assert (await c.get("/")).headers["location"] == home


async def test_crisis_page_works_without_login(client):
    page = await client.get("/crisis")
    assert page.status_code == 200
    assert 'href="tel:988"' in page.text and 'href="tel:911"' in page.text


async def test_schema_is_served_in_development(client, personas):
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/v1/checkins" in paths and "/api/v1/journal-entries" in paths


async def test_schema_is_admin_only_when_enabled_in_production(settings, personas, tmp_path):
    prod = make_settings(settings.db.url, tmp_path, env="production", schema_enabled="true", secure_cookies="false")
    async with AppClient.open(create_app(prod)) as anonymous:
        assert (await anonymous.get("/schema/openapi.json")).status_code in (303, 401)
    async with AppClient.open(create_app(prod)) as alice:
        await alice.login(personas.alice)
        assert (await alice.get("/schema/openapi.json")).status_code == 404
    async with AppClient.open(create_app(prod)) as ada:
        await ada.login(personas.ada)
        assert (await ada.get("/schema/openapi.json")).status_code == 200


async def test_schema_is_off_by_default_in_production(settings, tmp_path):
    prod = make_settings(settings.db.url, tmp_path, env="production", secure_cookies="false")
    async with AppClient.open(create_app(prod)) as anonymous:
        assert (await anonymous.get("/schema/openapi.json")).status_code == 404
