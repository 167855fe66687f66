"""The PWA's public routes over HTTP: manifest, service worker, offline page, JS weight (issue 6)."""

from __future__ import annotations

import gzip
import json
import re

from companion.pwa.routes import SHELL_ASSETS
from companion.web.templating import STATIC

PAGE_SCRIPT = re.compile(r'<script src="(/static/[^"]+)"')


async def test_manifest_has_what_installability_needs(client):
    response = await client.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/manifest+json")
    assert response.headers["cache-control"] == "no-cache"
    manifest = json.loads(response.text)
    for name in ("name", "short_name", "start_url", "scope", "id", "theme_color", "background_color"):
        assert manifest.get(name), name
    assert manifest["display"] == "standalone"
    assert manifest["start_url"].startswith(manifest["scope"])
    assert not manifest.get("prefer_related_applications")
    sizes = {(icon["sizes"], icon.get("purpose", "any")) for icon in manifest["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes
    for icon in manifest["icons"]:
        image = await client.get(icon["src"])
        assert image.status_code == 200, icon
        assert image.content[:8] == b"\x89PNG\r\n\x1a\n", icon
        width, height = int.from_bytes(image.content[16:20], "big"), int.from_bytes(image.content[20:24], "big")
        assert f"{width}x{height}" == icon["sizes"], icon


async def test_service_worker_is_served_from_the_root_and_revalidated(client):
    response = await client.get("/sw.js")
    assert response.status_code == 200
    assert "javascript" in response.headers["content-type"]
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["service-worker-allowed"] == "/"
    source = response.text
    assert "__VERSION__" not in source and "__PRECACHE__" not in source and "__ICON__" not in source
    precache = json.loads(re.search(r"var PRECACHE = (\[.*?\]);", source).group(1))
    assert "/offline" in precache and "/crisis" in precache
    assert any(url.startswith("/static/css/app.css?v=") for url in precache)
    assert any(url.startswith("/static/js/app.js?v=") for url in precache)
    for url in precache:  # every precached URL exists and is public
        assert (await client.get(url)).status_code == 200, url
    assert re.search(r'var VERSION = "[0-9a-f]{12}";', source)


async def test_service_worker_never_caches_posts_or_htmx_and_precaches_without_cookies(client):
    source = (await client.get("/sw.js")).text
    assert 'request.method !== "GET"' in source
    assert 'request.headers.get("HX-Request")' in source
    assert 'credentials: "omit"' in source
    # cache.put is used only for the precached shell and the patient's opt-in safety plan copy.
    assert source.count("cache.put(") == 3


async def test_offline_page_is_public_and_shows_nothing_personal(client, personas):
    anonymous = await client.get("/offline")
    assert anonymous.status_code == 200
    assert "You are offline" in anonymous.text
    assert 'href="/crisis"' in anonymous.text
    await client.login(personas.alice)
    logged_in = await client.get("/offline")
    assert logged_in.status_code == 200
    assert personas.alice.name not in logged_in.text


async def test_pages_link_the_manifest_and_touch_icon(client, personas):
    text = (await client.get("/login")).text
    assert '<link rel="manifest" href="/manifest.webmanifest">' in text
    assert 'rel="apple-touch-icon"' in text
    await client.login(personas.alice)
    today = (await client.get("/today")).text
    assert 'id="outbox"' in today and 'id="install"' in today


async def test_javascript_on_any_page_is_under_30_kb_gzip(client, personas):
    await client.login(personas.alice)
    total_by_page = {}
    for path in ["/today", "/checkin", "/journal", "/history", "/sessions"]:
        text = (await client.get(path)).text
        scripts = PAGE_SCRIPT.findall(text)
        assert len(scripts) == 2, (path, scripts)  # htmx and the one app script
        sizes = [len(gzip.compress((await client.get(src)).content, 9)) for src in scripts]
        total_by_page[path] = sum(sizes)
    assert max(total_by_page.values()) < 30 * 1000, total_by_page
    assert len(gzip.compress((STATIC / "sw.js").read_bytes(), 9)) < 8 * 1024


def test_shell_assets_exist():
    for path in SHELL_ASSETS:
        assert (STATIC / path).is_file(), path
