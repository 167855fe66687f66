"""Shared fixtures: a real database per run (SQLite, and PostgreSQL), the app, clients and personas.

Every test that takes the ``db`` fixture (directly or through ``app``/``client``/``personas``) runs
once on SQLite and once on PostgreSQL. The schema is created by running the Alembic migrations,
once per engine per run; each test starts from empty tables.

PostgreSQL comes from ``COMPANION_TEST_POSTGRES_URL`` (default: the local server as user
``postgres``). The suite creates its own database and drops it at the end. When PostgreSQL or the
browser is missing, those tests are skipped locally but FAIL under ``CI=true``.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from companion.db import Database
from companion.models import metadata
from companion.settings import Settings, load_settings
from tests.factories import Personas, make_personas

IN_CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_ADMIN_URL = os.environ.get("COMPANION_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


def missing(reason: str) -> None:
    """Skip locally; fail under CI, where every part of the suite must run."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: the suite must not skip this)", pytrace=False)
    pytest.skip(reason)


class PostgresServer:
    """Creates one throw-away database for the run and drops it afterwards."""

    def __init__(self, admin_url: str):
        self.admin_url = admin_url
        self.name = f"companion_test_{os.getpid()}_{secrets.token_hex(3)}"
        self.available: bool | None = None
        self.error = ""

    @property
    def url(self) -> str:
        base = self.admin_url.rsplit("/", 1)[0]
        return f"{base}/{self.name}".replace("postgresql://", "postgresql+asyncpg://", 1)

    async def _admin(self, statement: str) -> None:
        import asyncpg

        connection = await asyncpg.connect(self.admin_url, timeout=5)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    def create(self) -> bool:
        if self.available is None:
            try:
                asyncio.run(self._admin(f'CREATE DATABASE "{self.name}"'))
                self.available = True
            except Exception as exc:  # noqa: BLE001 - any failure means "no PostgreSQL here"
                self.available, self.error = False, f"{type(exc).__name__}: {exc}"
        return self.available

    def drop(self) -> None:
        if self.available:
            asyncio.run(self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer(POSTGRES_ADMIN_URL)
    yield server
    server.drop()


@pytest.fixture(scope="session")
def migrated(tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer) -> dict[str, str]:
    """Database URLs per backend, each migrated to head once for the run (lazily)."""
    return {"_sqlite_dir": str(tmp_path_factory.mktemp("sqlite"))}


def _url_for(backend: str, migrated: dict[str, str], postgres_server: PostgresServer) -> str:
    if backend in migrated:
        return migrated[backend]
    if backend == "postgresql":
        if not postgres_server.create():
            missing(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {postgres_server.error}")
        url = postgres_server.url
    else:
        url = f"sqlite:///{migrated['_sqlite_dir']}/companion.db"
    from companion.migrations import upgrade

    upgrade(make_settings(url, Path(migrated["_sqlite_dir"])))
    migrated[backend] = url
    return url


def make_settings(url: str, data_dir: Path, **overrides: Any) -> Settings:
    env = {
        "COMPANION_DATABASE_URL": url,
        "COMPANION_DATA_DIR": str(data_dir),
        "COMPANION_SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
        "COMPANION_BASE_URL": "http://testserver.local",
    }
    env.update({f"COMPANION_{k.upper()}": str(v) for k, v in overrides.items()})
    return load_settings(env)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def database_url(backend: str, migrated: dict[str, str], postgres_server: PostgresServer) -> str:
    return _url_for(backend, migrated, postgres_server)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path)


async def empty_all_tables(db: Database) -> None:
    tables = [table.name for table in reversed(metadata.sorted_tables)]
    async with db.writing() as session:
        if db.dialect == "postgresql":
            await session.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            # The audit table's append-only triggers refuse DELETE: lift them for the clean-up only.
            triggers = (await session.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"))).all()
            for name, _sql in triggers:
                await session.execute(text(f"DROP TRIGGER {name}"))
            for table in tables:
                await session.execute(text(f"DELETE FROM {table}"))
            for _name, sql in triggers:
                await session.execute(text(sql))


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    """The test's own handle on the database (the app under test opens its own)."""
    database = Database(settings.db, null_pool=True)
    await empty_all_tables(database)
    yield database
    await database.dispose()


@pytest.fixture
async def personas(db: Database) -> Personas:
    return await make_personas(db)


@pytest.fixture
def app(settings: Settings, db: Database) -> Any:
    from companion.app import create_app

    return create_app(settings)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[Any]:
    from tests.browser_client import AppClient

    async with AppClient.open(app) as c:
        yield c


@pytest.fixture
def client_factory(settings: Settings, db: Database) -> Any:
    """Make more independent clients (separate cookie jars), each with its own app instance,
    like several web processes sharing one database."""
    from companion.app import create_app
    from tests.browser_client import AppClient

    return lambda: AppClient.open(create_app(settings))


@pytest.fixture
def push() -> Iterator[Any]:
    """The local Web Push service (tests.fakes): verifies VAPID, decrypts payloads, scriptable."""
    from tests.fakes import FakePushService

    with FakePushService() as service:
        yield service


@pytest.fixture
def sink() -> Iterator[Any]:
    """A real SMTP server (aiosmtpd) that keeps what it receives."""
    from tests.fakes import SmtpSink

    with SmtpSink() as server:
        yield server


def settings_with(settings: Settings, **web: Any) -> Settings:
    return replace(settings, web=replace(settings.web, **web))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say plainly which databases and which browser the suite really ran against."""
    passed = terminalreporter.stats.get("passed", [])
    counts = {"sqlite": 0, "postgresql": 0, "browser": 0}
    for report in passed:
        params = re.split(r"[\[\]-]", report.nodeid.split("::")[-1])
        for name in ("sqlite", "postgresql"):
            counts[name] += name in params
        if "tests/browser/" in report.nodeid:
            counts["browser"] += 1
    terminalreporter.write_sep("=", "where the suite ran")
    terminalreporter.write_line(f"database tests passed on SQLite: {counts['sqlite']}")
    terminalreporter.write_line(f"database tests passed on PostgreSQL: {counts['postgresql']}")
    terminalreporter.write_line(f"browser tests passed in Chromium: {counts['browser']}")
