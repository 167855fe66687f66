"""The ``companion`` command. Each subcommand is a thin wrapper over a service."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import sys
from dataclasses import replace

import click

from companion.settings import Settings, SettingsError, load_settings


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
def main() -> None:
    """Companion: follow-up between ketamine / esketamine treatment sessions."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Run the web app (embedded mode also applies pending migrations)."""
    settings = _settings()
    if settings.embedded:
        _migrate(settings)
    _run_server(settings, host, port)


def _run_server(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from companion.app import create_app
    from companion.logs import configure_logging

    configure_logging(settings)
    # Embedded mode runs the scheduler and sender in this one process; production runs `companion worker`.
    app = create_app(settings, background=settings.embedded and settings.scheduler.enabled)
    # No access log: paths can carry invitation tokens, and logs must hold no secrets (LOG-02).
    uvicorn.run(app, host=host, port=port, proxy_headers=False, server_header=False, log_config=None, access_log=False)


def _migrate(settings: Settings) -> None:
    from companion.migrations import upgrade

    upgrade(settings)


@main.command()
def migrate() -> None:
    """Apply database migrations."""
    settings = _settings()
    _migrate(settings)
    click.echo("Database is up to date.")


@main.command()
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--host", default="127.0.0.1", show_default=True)
def demo(port: int, host: str) -> None:
    """Create a fresh throw-away demo clinic, print its logins, and serve it."""
    from companion.db import Database
    from companion.demo import build_demo

    base = _settings()
    demo_dir = base.data_dir / "demo"
    shutil.rmtree(demo_dir, ignore_errors=True)
    demo_dir.mkdir(parents=True)
    settings = replace(base, db=replace(base.db, url=f"sqlite:///{demo_dir / 'demo.db'}"))
    settings = replace(settings, web=replace(settings.web, base_url=f"http://{host}:{port}"))
    # The demo's audit copy lives with the demo database, never in the real copy.
    settings = replace(settings, audit=replace(settings.audit, copy_dir=demo_dir / "audit"))
    _migrate(settings)

    async def build() -> object:
        database = Database(settings.db)
        try:
            return await build_demo(database)
        finally:
            await database.dispose()

    clinic = asyncio.run(build())
    _print_demo_logins(clinic, host, port)
    _run_server(settings, host, port)


def _print_demo_logins(clinic: object, host: str, port: int) -> None:
    click.echo("")
    click.echo(f"Demo Clinic is ready at http://{host}:{port}")
    click.echo(f"Password for every demo account: {clinic.password}")  # type: ignore[attr-defined]
    for login in clinic.logins:  # type: ignore[attr-defined]
        click.echo(f"  {login.role:<10} {login.name:<22} {login.login}")
    click.echo("")


@main.group()
def user() -> None:
    """Staff accounts."""


@user.command("create")
@click.option("--role", type=click.Choice(["clinician", "admin"]), required=True)
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--clinic", "clinic_name", required=True, help="Clinic name (created if new).")
def user_create(role: str, email: str, name: str, clinic_name: str) -> None:
    """Create a clinician or admin. The password is read from standard input, or generated."""
    from companion.accounts.passwords import password_problem
    from companion.accounts.service import create_staff_user
    from companion.db import Database

    settings = _settings()
    supplied = "" if sys.stdin.isatty() else sys.stdin.read().strip()
    password = supplied or secrets.token_urlsafe(12)
    if problem := password_problem(password, personal_words=tuple(name.split())):
        raise click.ClickException(problem)

    async def create() -> None:
        database = Database(settings.db)
        try:
            await create_staff_user(
                database, clinic_name=clinic_name, role=role, email=email, name=name, password=password
            )
        finally:
            await database.dispose()

    try:
        asyncio.run(create())
    except Exception as exc:  # noqa: BLE001 - report constraint errors plainly
        raise click.ClickException(
            f"could not create the account: {type(exc).__name__} (is the login already used?)"
        ) from None
    click.echo(f"Created {role} {email}.")
    if not supplied:
        click.echo(f"Generated password: {password}")


@main.group()
def patient() -> None:
    """Patients."""


@patient.command("invite")
@click.option("--name", required=True)
@click.option("--clinician", "clinician_login", required=True, help="Login (e-mail) of the primary clinician.")
@click.option("--email", default=None)
def patient_invite(name: str, clinician_login: str, email: str | None) -> None:
    """Enrol a patient and print their invitation link (the last line)."""
    from companion.cli_support import invite_patient

    settings = _settings()
    url = asyncio.run(invite_patient(settings, name=name, clinician_login=clinician_login, email=email))
    click.echo(url)


@main.command()
def worker() -> None:
    """Run the background jobs: delivery, reminders, escalation, missed check-ins (production)."""
    from companion.logs import configure_logging

    settings = _settings()
    configure_logging(settings)
    if settings.embedded:
        _migrate(settings)
    asyncio.run(_run_worker(settings))


async def _run_worker(settings: Settings) -> None:
    import signal

    from companion.clinic.audit_copy import AuditCopier
    from companion.db import Database
    from companion.scheduler import Background

    database = Database(settings.db)
    background = Background(database, settings)
    copier = AuditCopier(database, settings.audit.copy_dir, settings.audit.copy_sweep_seconds)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await background.start()
    await copier.start()
    click.echo("Companion worker running.", err=True)
    try:
        await stop.wait()
    finally:
        await copier.stop()
        await background.stop()
        await database.dispose()


@main.command()
@click.option("--generate", is_flag=True, help="Make a new key pair in the data directory (never overwrites).")
def vapid(generate: bool) -> None:
    """Print the Web Push public key (the browser's applicationServerKey)."""
    from companion.notify.vapid import KEY_FILE, VapidKeyMissing, application_server_key, generate_key_file, load_vapid

    settings = _settings()
    if generate:
        path = settings.data_dir / KEY_FILE
        if settings.push.vapid_private_key or path.exists():
            where = "settings" if settings.push.vapid_private_key else path
            raise click.ClickException(
                f"a key already exists ({where}); rotating it would invalidate every subscription"
            )
        key = generate_key_file(path)
        click.echo(f"Wrote {path} (owner-only). In production, set COMPANION_VAPID_PRIVATE_KEY_FILE to it.", err=True)
    else:
        try:
            key = load_vapid(settings, generate=False)
        except VapidKeyMissing as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(application_server_key(key))


@main.group()
def audit() -> None:
    """The audit trail and its copy in a separate store (LOG-03)."""


@audit.command("verify")
@click.option(
    "--grace-minutes",
    default=10,
    show_default=True,
    type=click.IntRange(0, 7 * 24 * 60),
    help="A row older than this must already be in the copy.",
)
def audit_verify(grace_minutes: int) -> None:
    """Check every clinic's hash chain and that the copy matches the database; non-zero exit when not."""
    from datetime import timedelta

    from companion.clinic.audit_copy import verify_all
    from companion.db import Database

    settings = _settings()

    async def run() -> bool:
        database = Database(settings.db)
        try:
            return await verify_all(
                database, settings.audit.copy_dir, click.echo, grace=timedelta(minutes=grace_minutes)
            )
        finally:
            await database.dispose()

    if not asyncio.run(run()):
        raise SystemExit(1)


@audit.command("copy")
def audit_copy() -> None:
    """Copy audit rows not yet in the separate store (what the app does after each commit)."""
    from companion.clinic.audit_copy import copy_pending
    from companion.db import Database

    settings = _settings()

    async def run() -> int:
        database = Database(settings.db)
        try:
            return await copy_pending(database, settings.audit.copy_dir)
        finally:
            await database.dispose()

    try:
        copied = asyncio.run(run())
    except OSError as exc:
        raise click.ClickException(
            f"cannot write the audit copy in {settings.audit.copy_dir}: {exc.strerror}"
        ) from None
    click.echo(f"Copied {copied} audit rows to {settings.audit.copy_dir}.")


@main.command()
def check() -> None:
    """Check configuration, database reachability and migrations; non-zero exit when wrong."""
    from companion.cli_support import run_checks

    problems = asyncio.run(run_checks(_settings(), click.echo))
    if problems:
        raise SystemExit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
