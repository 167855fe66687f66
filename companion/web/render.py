"""Page-or-fragment rendering and post/redirect/get, decided in one place."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.response import Redirect, Template

from companion.accounts.auth import CurrentUser
from companion.db import Database
from companion.settings import Settings


def db_of(request: Request[Any, Any, Any]) -> Database:
    return request.app.state.db  # type: ignore[no-any-return]


def settings_of(request: Request[Any, Any, Any]) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def user_of(request: Request[Any, Any, Any]) -> CurrentUser:
    """The logged-in user; the access guard has already refused anonymous requests."""
    user = request.scope.get("user")
    assert user is not None, "route declared a logged-in access level"
    return user  # type: ignore[return-value]


def wants_fragment(request: Request[Any, Any, Any]) -> bool:
    # History restores and boosted navigations also send HX-Request but need the whole page.
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render(
    request: Request[Any, Any, Any],
    page: str,
    context: dict[str, Any],
    *,
    fragment: str | None = None,
    status: int = 200,
) -> Template:
    name = fragment if fragment and wants_fragment(request) else page
    return Template(template_name=name, context=context, status_code=status, headers={"Vary": "HX-Request"})


def after_post(request: Request[Any, Any, Any], location: str) -> Response[Any]:
    """303 to the next page; htmx gets a client-side redirect instead of a swapped page."""
    if request.headers.get("hx-request"):
        return Response(None, status_code=200, headers={"HX-Redirect": location})
    return Redirect(location, status_code=303)


def client_address(request: Request[Any, Any, Any]) -> str:
    """The caller's address; X-Forwarded-For is believed only from configured proxies (RATE-01)."""
    peer = request.client.host if request.client else "unknown"
    trusted = settings_of(request).web.trusted_proxies
    forwarded = request.headers.get("x-forwarded-for")
    if not forwarded or peer not in trusted:
        return peer
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        if hop not in trusted:
            return hop
    return peer
