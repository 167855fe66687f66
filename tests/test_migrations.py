"""Migrations are the only way the schema is made: they apply to an empty database and match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from companion.db import Database
from companion.migrations import pending_migrations
from companion.models import metadata


async def test_models_and_migrations_agree(settings):
    """The test database was created by `alembic upgrade head`; the models must describe it exactly."""
    database = Database(settings.db, null_pool=True)
    try:
        async with database.engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}), metadata)
            )
    finally:
        await database.dispose()
    assert differences == []


async def test_database_is_at_head(settings):
    current, head = await pending_migrations(settings)
    assert current == head and head is not None
