"""Database plumbing: declarative base, portable column types, engines and transactions.

Every write goes through ``Database.writing()``: one transaction that commits when the block ends
and rolls back on any exception. On SQLite it starts with ``BEGIN IMMEDIATE`` so the write lock is
taken up front, where waiting for it can help (a deferred transaction that read first and then
tries to write fails at once with "database is locked"). Reads use ``Database.reading()``. SQLite
runs through ``companion.sqlite_driver``, on the event loop.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, DateTime, MetaData, bindparam, event, insert, make_url, types
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import NullPool

from companion import sqlite_driver
from companion.settings import DatabaseSettings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(types.TypeDecorator[datetime]):
    """Timezone-aware UTC instants on every engine (SQLite stores naive text otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC instant is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_code(nbytes: int = 9) -> str:
    """An opaque public code for URLs (never a database id, never a name)."""
    return secrets.token_urlsafe(nbytes)


M = TypeVar("M", bound=Base)


def one_of(column: Any, values: Iterable[str]) -> ColumnElement[bool]:  # noqa: ANN401 - any column
    """``column IN (values)`` for a statement built once: one fixed parameter per value. A plain
    ``in_()`` of constants is an "expanding" parameter that SQLAlchemy renders again at every
    execution, which costs more than the query on the hot paths."""
    return column.in_([bindparam(f"{column.key}_{value}", str(value)) for value in values])


async def insert_detached(session: AsyncSession, model: type[M], values: dict[str, Any]) -> M:
    """Insert one row with a Core statement and return it as an ORM object the session does not track.

    For the entry paths, where the ORM's unit of work (flush) cost more than the rest of the write:
    nothing later in the transaction needs the row tracked, only its values and its new id.
    Client-side column defaults (codes, timestamps) are filled in here, so the object returned
    holds exactly what was stored."""
    row_values = dict(values)
    for column in model.__table__.columns:
        default = column.default
        if column.key in row_values or default is None or column.primary_key:
            continue
        if default.is_callable:
            row_values[column.key] = default.arg(None)  # type: ignore[union-attr]
        elif default.is_scalar:
            row_values[column.key] = default.arg  # type: ignore[union-attr]
    new_id = (await session.execute(insert(model.__table__), row_values)).inserted_primary_key[0]  # type: ignore[index]
    return model(id=new_id, **row_values)


def make_engine(settings: DatabaseSettings, *, null_pool: bool = False) -> AsyncEngine:
    if settings.is_sqlite:
        return _sqlite_engine(settings)
    kwargs: dict[str, Any] = {"pool_pre_ping": True, "hide_parameters": True}
    if null_pool:
        kwargs["poolclass"] = NullPool
    else:
        kwargs.update(pool_size=settings.pool_size, max_overflow=settings.pool_size, pool_recycle=1800)
    timeout = str(settings.statement_timeout_ms)
    kwargs["connect_args"] = {
        "server_settings": {
            "statement_timeout": timeout,
            "idle_in_transaction_session_timeout": str(max(settings.statement_timeout_ms * 3, 30_000)),
            "application_name": "companion",
        },
        "timeout": 10,
    }
    return create_async_engine(settings.url, **kwargs)


def _sqlite_engine(settings: DatabaseSettings) -> AsyncEngine:
    _ensure_sqlite_directory(settings.url)
    engine = create_async_engine(
        # Whatever driver the URL names, SQLite runs through companion.sqlite_driver (on the loop).
        make_url(settings.url).set(drivername=f"sqlite+{sqlite_driver.DRIVER}"),
        connect_args={"timeout": settings.sqlite_busy_timeout_ms / 1000},  # the driver's busy deadline
        hide_parameters=True,  # errors and logs must never carry health data (LOG-02)
        pool_size=5,
        max_overflow=5,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from the driver so BEGIN can be IMMEDIATE for writes.
        dbapi_connection.isolation_level = None
        for pragma in (
            "journal_mode=WAL",
            "synchronous=FULL",  # an acknowledged check-in must survive a power cut (REL-10)
            "foreign_keys=ON",
        ):
            sqlite_driver.run_on_driver(dbapi_connection, f"PRAGMA {pragma}", settings.sqlite_busy_timeout_ms / 1000)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get("companion_write", False)
        sqlite_driver.run_on(connection, "BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _ensure_sqlite_directory(url: str) -> None:
    from pathlib import Path

    path = url.split("///", 1)[1] if "///" in url else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


class Database:
    """Owns the engine and hands out read sessions and write transactions."""

    def __init__(self, settings: DatabaseSettings, *, null_pool: bool = False):
        self.settings = settings
        self.engine = make_engine(settings, null_pool=null_pool)
        self._write_engine = self.engine.execution_options(companion_write=True)
        self._read_factory = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write_factory = async_sessionmaker(self._write_engine, expire_on_commit=False)
        self._sqlite_writers = asyncio.Lock() if settings.is_sqlite else None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        async with self._read_factory() as session:
            yield session

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncSession]:
        """One write transaction: commits at the end of the block, rolls back on error."""
        if self._sqlite_writers is None:
            async with self._write_factory() as session, session.begin():
                yield session
            return
        # SQLite has one writer at a time. Queue this process's writers here, in order, rather
        # than have them poll for the lock; writers from other processes meet the driver's
        # busy retries (companion.sqlite_driver).
        async with self._sqlite_writers, self._write_factory() as session, session.begin():
            yield session

    async def ping(self) -> bool:
        from sqlalchemy import text

        try:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception:  # noqa: BLE001 - any failure means "not reachable"
            return False
        return True

    async def dispose(self) -> None:
        await self.engine.dispose()
