"""Reading the idempotency key of a creating request: form field or ``Idempotency-Key`` header."""

from __future__ import annotations

import secrets
from typing import Any

from litestar import Request, Response

from companion.accounts.auth import CurrentUser
from companion.idempotency import IdempotencyKey, request_fingerprint
from companion.web.forms import IDEMPOTENCY_KEY, FormData


def mint_key() -> str:
    """A fresh key for a form being rendered (AUTH-11: from ``secrets``, 144 bits)."""
    return secrets.token_urlsafe(18)


def key_from_form(form: FormData, user: CurrentUser, kind: str, payload: dict[str, Any]) -> IdempotencyKey | None:
    value = form.idempotency_key()
    if value is None:
        return None
    return IdempotencyKey(user.id, value, request_fingerprint(kind, payload), kind)


def key_from_header(
    request: Request[Any, Any, Any], user: CurrentUser, kind: str, payload: dict[str, Any]
) -> IdempotencyKey | None | str:
    """The key from the header; a string is an error message for a malformed key."""
    value = request.headers.get("idempotency-key")
    if value is None:
        return None
    if not IDEMPOTENCY_KEY.fullmatch(value):
        return "Idempotency-Key must be 8 to 100 letters, digits, '-' or '_'."
    return IdempotencyKey(user.id, value, request_fingerprint(kind, payload), kind)


def created(payload: dict[str, Any], *, replayed: bool) -> Response[Any]:
    """201 with the created resource; a replay says so, so clients can tell without comparing bodies."""
    return Response(payload, status_code=201, headers={"Idempotent-Replayed": "true"} if replayed else {})
