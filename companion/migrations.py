"""Applying and checking Alembic migrations from the command line and at start-up."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from alembic import command
from companion.settings import Settings

SCRIPT_LOCATION = Path(__file__).resolve().parent.parent / "alembic"


def alembic_config(settings: Settings) -> Config:
    if not SCRIPT_LOCATION.is_dir():
        raise RuntimeError(f"migrations folder not found at {SCRIPT_LOCATION}; install Companion from its source tree")
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.attributes["database_url"] = settings.db.url
    return config


def upgrade(settings: Settings) -> None:
    if settings.db.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        _sqlite_parent(settings.db.url).mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(settings), "head")


def _sqlite_parent(url: str) -> Path:
    return Path(url.split("///", 1)[1]).parent


async def pending_migrations(settings: Settings) -> tuple[str | None, str | None]:
    """(current revision in the database, head revision in the code)."""
    from companion.db import Database

    head = ScriptDirectory.from_config(alembic_config(settings)).get_current_head()
    database = Database(settings.db, null_pool=True)
    try:
        async with database.engine.connect() as connection:
            current = await connection.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())
    finally:
        await database.dispose()
    return current, head
