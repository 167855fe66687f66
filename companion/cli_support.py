"""Services behind the command line that need a database: patient invitations and `check`."""

from __future__ import annotations

from collections.abc import Callable

import click
from sqlalchemy import select

from companion.accounts import invitations
from companion.accounts.auth import CurrentUser
from companion.accounts.models import Clinic, Role, User
from companion.db import Database
from companion.settings import Settings


async def invite_patient(settings: Settings, *, name: str, clinician_login: str, email: str | None) -> str:
    database = Database(settings.db)
    try:
        async with database.reading() as session:
            clinician = (
                await session.execute(
                    select(User).where(User.login == clinician_login.strip().lower(), User.role == Role.CLINICIAN)
                )
            ).scalar_one_or_none()
            if clinician is None or not clinician.active:
                raise click.ClickException(f"no active clinician with login {clinician_login!r}")
            clinic = await session.get_one(Clinic, clinician.clinic_id)
        staff = CurrentUser(
            clinician.id, clinician.code, clinician.clinic_id, clinician.role, clinician.name, None, None, 0
        )
        enrolment = await invitations.enrol_patient(
            database, staff, name=name, email=email, timezone=clinic.timezone, days=settings.web.invitation_days
        )
    finally:
        await database.dispose()
    return invitations.invitation_url(settings, enrolment.token)


async def run_checks(settings: Settings, echo: Callable[[str], None]) -> list[str]:
    """Print one line per check; return the problems found."""
    from companion.migrations import pending_migrations

    problems: list[str] = []
    echo(f"configuration: ok ({settings.environment}, database {settings.db.url.split('://')[0]})")
    database = Database(settings.db, null_pool=True)
    reachable = await database.ping()
    await database.dispose()
    if not reachable:
        problems.append("database is not reachable")
        echo("database: NOT REACHABLE")
        return problems
    echo("database: reachable")
    current, head = await pending_migrations(settings)
    if current != head:
        problems.append("migrations are not current")
        echo(f"migrations: NOT CURRENT (database at {current or 'nothing'}, code at {head}); run `companion migrate`")
    else:
        echo(f"migrations: current ({head})")
    _check_delivery(settings, echo, problems)
    return problems


def _check_delivery(settings: Settings, echo: Callable[[str], None], problems: list[str]) -> None:
    """Push needs one VAPID key shared by every process; e-mail is optional."""
    from companion.notify.vapid import KEY_FILE

    if settings.push.vapid_private_key:
        echo("push: VAPID key from settings")
    elif (settings.data_dir / KEY_FILE).exists():
        echo("push: VAPID key in the data directory")
    elif settings.embedded:
        echo("push: VAPID key will be made in the data directory at start")
    else:
        problems.append("no VAPID key")
        echo("push: NO VAPID KEY; set COMPANION_VAPID_PRIVATE_KEY_FILE (`companion vapid --generate` makes one)")
    echo(f"e-mail: {'SMTP ' + settings.email.host if settings.email.enabled else 'off (COMPANION_SMTP_HOST not set)'}")
