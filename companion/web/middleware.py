"""ASGI middleware: who is asking (session cookie), security headers, Fetch-Metadata CSRF check."""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlsplit

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from companion.accounts.auth import resolve_session
from companion.settings import Settings

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Served with their own Cache-Control (no-cache): public, never user-specific.
REVALIDATED_PATHS = frozenset({"/sw.js", "/manifest.webmanifest"})

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        "worker-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def session_cookie_name(settings: Settings) -> str:
    return "__Host-companion_session" if settings.web.secure_cookies else "companion_session"


def csrf_cookie_name(settings: Settings) -> str:
    return "__Host-csrftoken" if settings.web.secure_cookies else "csrftoken"


def _cookie_value(scope: Scope, name: str) -> str | None:
    for key, value in scope.get("headers", []):
        if key == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # noqa: BLE001, S112 - a malformed cookie header is simply ignored
                continue
            if name in jar:
                return jar[name].value
    return None


class AuthenticationMiddleware(ASGIMiddleware):
    """Puts the logged-in ``CurrentUser`` (or None) into ``scope["user"]``."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, settings: Settings):
        self.cookie_name = session_cookie_name(settings)

    def should_bypass_for_scope(self, scope: Scope) -> bool:
        return scope["path"].startswith("/static/")  # public assets need no session lookup

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        token = _cookie_value(scope, self.cookie_name)
        scope["user"] = None  # type: ignore[typeddict-unknown-key]
        ended = False
        if token:
            db = scope["litestar_app"].state.db  # type: ignore[typeddict-item]
            scope["user"], ended = await resolve_session(db, token)  # type: ignore[typeddict-unknown-key]
            scope["session_token"] = token if scope["user"] else None  # type: ignore[typeddict-unknown-key]
        if not ended:
            await next_app(scope, receive, send)
            return

        async def send_clearing_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                headers.add("set-cookie", f"{self.cookie_name}=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax")
            await send(message)

        await next_app(scope, receive, send_clearing_cookie)


class SecurityHeadersMiddleware(ASGIMiddleware):
    """CSP and friends on every response; ``no-store`` on everything except static assets."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, settings: Settings):
        self.hsts = settings.web.secure_cookies

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        cacheable = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                headers["content-security-policy"] = CONTENT_SECURITY_POLICY
                headers["x-content-type-options"] = "nosniff"
                headers["referrer-policy"] = "same-origin"
                headers["x-frame-options"] = "DENY"
                headers["cross-origin-opener-policy"] = "same-origin"
                headers["permissions-policy"] = "camera=(), microphone=(), geolocation=()"
                if self.hsts:
                    headers["strict-transport-security"] = "max-age=31536000; includeSubDomains"
                if not cacheable and scope["path"] not in REVALIDATED_PATHS:
                    headers["cache-control"] = "no-store"
            await send(message)

        await next_app(scope, receive, send_with_headers)


class FetchMetadataMiddleware(ASGIMiddleware):
    """Refuse cross-site unsafe requests by Fetch Metadata, falling back to Origin (CSRF-02)."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, settings: Settings):
        base = urlsplit(settings.web.base_url)
        self.trusted_origin = f"{base.scheme}://{base.netloc}"

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope["method"] in UNSAFE_METHODS and not self._same_origin(scope):
            await _send_plain(send, 403, "Cross-site request refused.")
            return
        await next_app(scope, receive, send)

    def _same_origin(self, scope: Scope) -> bool:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        site = headers.get("sec-fetch-site")
        if site is not None:
            return site in ("same-origin", "none")
        origin = headers.get("origin")
        if origin is None or origin == "null":
            return origin is None
        own = f"{scope.get('scheme', 'http')}://{headers.get('host', '')}"
        return origin in (own, self.trusted_origin)


async def _send_plain(send: Send, status: int, text: str) -> None:
    body = text.encode()
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})  # type: ignore[typeddict-item]
    await send({"type": "http.response.body", "body": body, "more_body": False})  # type: ignore[typeddict-item]


def header_value(scope: Scope, name: str) -> Any:
    raw = name.encode()
    for key, value in scope.get("headers", []):
        if key == raw:
            return value.decode("latin-1")
    return None
