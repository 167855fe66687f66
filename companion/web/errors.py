"""Error responses: a friendly page for browsers, a fragment for htmx, JSON for the API.

Users get generic messages; stack traces go to the server log only, without request bodies
(LOG-02, LOG-06).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, NotFoundException, PermissionDeniedException, ValidationException
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from companion.idempotency import IdempotencyConflict
from companion.web.guards import LoginRequired

log = logging.getLogger("companion.errors")

MESSAGES = {
    400: ("Something in that request was not right", "Please go back and try again."),
    401: ("Please log in", "Your session has ended. Log in again to continue."),
    403: ("This form has expired", "For your safety, forms expire. Go back, reload the page and try again."),
    404: ("Page not found", "There is nothing here, or you do not have access to it."),
    405: ("Not allowed", "That action is not available here."),
    409: ("Already sent", "This form was already sent with different answers. Reload the page to start again."),
    413: ("Too much to send", "What you sent is too large. Shorten it and try again."),
    422: ("Please check your answers", "Some answers could not be saved."),
    429: ("Please wait a moment", "Too many attempts. Wait a little and try again."),
    500: ("Something went wrong on our side", "Your last action may not have been saved. Please try again."),
    503: ("Companion is unavailable right now", "Please try again in a few minutes."),
}


def wants_json(request: Request[Any, Any, Any]) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get("accept", "").split(",")[0]


def error_response(request: Request[Any, Any, Any], status: int, detail: str | None = None) -> Response[Any]:
    title, message = MESSAGES.get(status, MESSAGES[400 if status < 500 else 500])
    if wants_json(request):
        return Response({"error": detail or title, "status": status}, status_code=status, media_type=MediaType.JSON)
    template = "partials/error.html" if request.headers.get("hx-request") else "pages/error.html"
    return Template(
        template_name=template,
        context={"status": status, "title": title, "message": detail or message},
        status_code=status,
    )


def http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    detail = None
    if isinstance(exc, ValidationException) or status == 400:
        detail = "Some values were missing or malformed."
    if isinstance(exc, PermissionDeniedException) and "CSRF" in str(exc.detail):
        status = 403
    if isinstance(exc, NotFoundException):
        detail = None
    return error_response(request, status, detail)


def login_required(request: Request[Any, Any, Any], _exc: LoginRequired) -> Response[Any]:
    if wants_json(request):
        return Response({"error": "Log in first.", "status": 401}, status_code=401)
    target = "/login"
    if request.method == "GET" and request.url.path not in ("/", "/login"):
        target += "?next=" + quote(request.url.path, safe="/")
    if request.headers.get("hx-request"):
        return Response(None, status_code=200, headers={"HX-Redirect": target})
    return Redirect(target, status_code=303)


def conflict(request: Request[Any, Any, Any], _exc: IdempotencyConflict) -> Response[Any]:
    return error_response(request, 409, "This idempotency key was already used for a different request.")


def unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # Log the type and route only: the request body and arguments may hold health data.
    # The engine hides SQL parameters (hide_parameters=True), so the traceback carries no values.
    log.error(
        "unhandled %s on %s %s",
        type(exc).__name__,
        request.method,
        request.scope.get("path_template", "?"),
        exc_info=exc,
    )
    return error_response(request, HTTP_500_INTERNAL_SERVER_ERROR)


def handlers() -> dict[Any, Any]:
    return {
        HTTPException: http_exception,
        LoginRequired: login_required,
        IdempotencyConflict: conflict,
        Exception: unexpected,
    }
