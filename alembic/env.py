"""Alembic environment: runs migrations on the async engine for the configured database."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from companion.db import Database
from companion.models import metadata
from companion.settings import DatabaseSettings, load_settings

config = context.config


def database_url() -> str:
    return config.attributes.get("database_url") or load_settings().db.url


def run_with(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite needs batch mode for ALTERs
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async() -> None:
    database = Database(DatabaseSettings(url=database_url()), null_pool=True)
    try:
        async with database.engine.connect() as connection:
            await connection.run_sync(run_with)
            await connection.commit()
    finally:
        await database.dispose()


def run_offline() -> None:
    context.configure(url=database_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_with(connection)
    else:
        asyncio.run(run_async())
