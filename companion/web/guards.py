"""Deny-by-default access control (AC-01, AC-02).

Every route handler declares who may use it with ``opt=access(Access.X)``. The app-wide guard
refuses any route without a declaration, so a forgotten declaration fails closed (and the route
table test fails). Anyone who is logged in but not allowed gets 404, never 403: the app does not
confirm that something exists to people who may not see it.

Object-level checks (this patient, this care team) live in the services' queries.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotFoundException
from litestar.handlers.base import BaseRouteHandler

from companion.accounts.auth import CurrentUser
from companion.accounts.models import Role


class Access(StrEnum):
    PUBLIC = "public"  # anyone, logged in or not
    USER = "user"  # anyone logged in
    PATIENT = "patient"
    STAFF = "staff"  # clinicians and admins
    CLINICIAN = "clinician"
    ADMIN = "admin"


class LoginRequired(Exception):
    """Raised when a route needs a login and there is none; answered with the login page or 401."""


def access(level: Access) -> dict[str, Any]:
    return {"access": level}


ALLOWED_ROLES: dict[Access, frozenset[str]] = {
    Access.USER: frozenset({Role.PATIENT, Role.CLINICIAN, Role.ADMIN}),
    Access.PATIENT: frozenset({Role.PATIENT}),
    Access.STAFF: frozenset({Role.CLINICIAN, Role.ADMIN}),
    Access.CLINICIAN: frozenset({Role.CLINICIAN}),
    Access.ADMIN: frozenset({Role.ADMIN}),
}


def current_user(connection: ASGIConnection[Any, Any, Any, Any]) -> CurrentUser | None:
    return connection.scope.get("user")  # type: ignore[return-value]


def access_guard(connection: ASGIConnection[Any, Any, Any, Any], route_handler: BaseRouteHandler) -> None:
    level = route_handler.opt.get("access")
    if level is None:
        raise NotFoundException()  # undeclared route: fail closed
    if level == Access.PUBLIC:
        return
    user = current_user(connection)
    if user is None:
        raise LoginRequired()
    if user.role not in ALLOWED_ROLES[Access(level)]:
        raise NotFoundException()
    if level == Access.PATIENT and user.patient_id is None:
        raise NotFoundException()
