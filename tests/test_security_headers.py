"""Headers on every response (HDR-01, DATA-02, XSS-02) and hx-history on authenticated pages."""

from __future__ import annotations

PUBLIC = ["/login", "/crisis", "/healthz", "/invite/unknown-token"]
PATIENT = ["/today", "/checkin", "/journal", "/sessions", "/history"]
STAFF = ["/clinic", "/clinic/patients"]


def assert_security_headers(response, path):
    csp = response.headers.get("content-security-policy", "")
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ):
        assert directive in csp, (path, directive)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, path
    assert response.headers.get("x-content-type-options") == "nosniff", path
    assert response.headers.get("referrer-policy") == "same-origin", path


async def test_public_pages_have_security_headers(client):
    for path in PUBLIC:
        response = await client.get(path)
        assert_security_headers(response, path)
        assert response.headers.get("cache-control") == "no-store", path


async def test_authenticated_pages_are_never_cached_or_kept_in_history(client_factory, personas):
    for person, pages in ((personas.alice, PATIENT), (personas.carol, STAFF)):
        async with client_factory() as c:
            await c.login(person)
            for path in pages:
                response = await c.get(path)
                assert response.status_code == 200, path
                assert_security_headers(response, path)
                assert response.headers["cache-control"] == "no-store", path
                assert 'hx-history="false"' in response.text, path
                assert "text/html; charset=utf-8" in response.headers["content-type"], path


async def test_json_api_is_not_cacheable(client, personas):
    await client.login(personas.alice)
    response = await client.get("/api/v1/checkins")
    assert response.headers["cache-control"] == "no-store"


async def test_static_assets_are_cacheable_and_htmx_is_2_0(client):
    response = await client.get("/static/vendor/htmx-2.0.11.min.js")
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("cache-control", "")
    assert 'version:"2.0.11"' in response.text.replace(" ", "")


async def test_no_inline_script_in_pages(client, personas):
    await client.login(personas.alice)
    for path in PATIENT:
        text = (await client.get(path)).text
        assert "<script>" not in text and " on" + "click=" not in text and "hx-on" not in text, path
