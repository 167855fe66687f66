"""``/manifest.webmanifest``, ``/sw.js`` and ``/offline``: public, identical for everyone.

The service worker is served from the root so that its scope is the whole app, with
``Cache-Control: no-cache`` (the middleware leaves these two paths to us) so an update is seen on the
next visit. Its source is ``companion/static/sw.js``; two placeholders are filled in here: the
version (a hash over the worker, the precached files and the templates of the precached pages) and
the list of URLs to precache (the fingerprinted ``asset()`` URLs the pages use, so the cache holds
exactly what the pages ask for).
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from typing import Any

from litestar import MediaType, Request, Response, get
from litestar.response import Template

from companion.web.guards import Access, access
from companion.web.templating import STATIC, TEMPLATES, asset

THEME_COLOUR = "#2f5d62"
BACKGROUND_COLOUR = "#ffffff"
SHELL_ASSETS = (
    "css/app.css",
    "vendor/htmx-2.0.11.min.js",
    "js/app.js",
    "icons/icon-192.png",
    "icons/icon-512.png",
    "icons/maskable-512.png",
)
SHELL_PAGES = ("/offline", "/crisis")
# Templates whose change must roll out a new shell (the pages precached above and what they include).
SHELL_TEMPLATES = (
    "base.html",
    "layouts/public.html",
    "pages/pwa/offline.html",
    "pages/public/crisis.html",
    "partials/crisis/card.html",
)
REVALIDATE = {"Cache-Control": "no-cache"}


def manifest() -> dict[str, Any]:
    return {
        "id": "/",
        "name": "Companion",
        "short_name": "Companion",
        "description": "Check-ins, journal and help between treatment sessions.",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "orientation": "portrait",
        "theme_color": THEME_COLOUR,
        "background_color": BACKGROUND_COLOUR,
        "lang": "en",
        "prefer_related_applications": False,
        "icons": [
            {"src": asset("icons/icon-192.png"), "sizes": "192x192", "type": "image/png", "purpose": "any"},
            {"src": asset("icons/icon-512.png"), "sizes": "512x512", "type": "image/png", "purpose": "any"},
            {"src": asset("icons/maskable-512.png"), "sizes": "512x512", "type": "image/png", "purpose": "maskable"},
        ],
    }


def precache_urls() -> list[str]:
    return [asset(path) for path in SHELL_ASSETS] + list(SHELL_PAGES)


@lru_cache(maxsize=1)
def service_worker_source() -> str:
    source = (STATIC / "sw.js").read_text(encoding="utf-8")
    digest = hashlib.sha256(source.encode())
    for path in SHELL_ASSETS:
        digest.update((STATIC / path).read_bytes())
    for name in SHELL_TEMPLATES:
        template = TEMPLATES / name
        if template.exists():
            digest.update(template.read_bytes())
    version = digest.hexdigest()[:12]
    return (
        source.replace('"__VERSION__"', json.dumps(version))
        .replace('["__PRECACHE__"]', json.dumps(precache_urls()))
        .replace('"__ICON__"', json.dumps(asset("icons/icon-192.png")))
    )


@get("/manifest.webmanifest", opt=access(Access.PUBLIC), include_in_schema=False)
async def web_manifest() -> Response[bytes]:
    body = json.dumps(manifest(), separators=(",", ":")).encode()
    return Response(body, media_type="application/manifest+json", headers=REVALIDATE)


@get("/sw.js", opt=access(Access.PUBLIC), include_in_schema=False)
async def service_worker() -> Response[str]:
    headers = REVALIDATE | {"Service-Worker-Allowed": "/"}
    return Response(service_worker_source(), media_type="text/javascript; charset=utf-8", headers=headers)


@get("/offline", opt=access(Access.PUBLIC), include_in_schema=False)
async def offline_page(request: Request[Any, Any, Any]) -> Template:
    """What the service worker shows for a page it cannot fetch: nothing of anyone's, by design."""
    return Template(template_name="pages/pwa/offline.html", context={}, media_type=MediaType.HTML)


handlers = [web_manifest, service_worker, offline_page]
