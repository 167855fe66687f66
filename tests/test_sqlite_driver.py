"""The embedded SQLite driver (companion.sqlite_driver): statements run on the event loop, so a
writer that finds the database locked must wait without stopping the loop, and give up with
"database is locked" at the busy timeout."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from companion.db import Database
from companion.settings import DatabaseSettings


def database(path: Path, busy_timeout_ms: int = 10_000) -> Database:
    return Database(DatabaseSettings(url=f"sqlite:///{path}", sqlite_busy_timeout_ms=busy_timeout_ms))


async def make_table(db: Database) -> None:
    async with db.writing() as session:
        await session.execute(text("CREATE TABLE IF NOT EXISTS note (body TEXT NOT NULL)"))


async def insert(db: Database, body: str) -> None:
    async with db.writing() as session:
        await session.execute(text("INSERT INTO note (body) VALUES (:body)"), {"body": body})


async def bodies(db: Database) -> list[str]:
    async with db.reading() as session:
        return list((await session.execute(text("SELECT body FROM note ORDER BY rowid"))).scalars())


async def ticks_while(waiting: asyncio.Task[object], at_most_s: float = 30.0) -> int:
    """How many 10 ms ticks the loop ran while ``waiting`` was pending (for at most ``at_most_s``)."""
    count = 0
    deadline = time.monotonic() + at_most_s
    while time.monotonic() < deadline and not waiting.done():
        await asyncio.sleep(0.01)
        count += 1
    return count


async def test_a_second_writer_waits_on_the_loop_and_then_writes(tmp_path: Path) -> None:
    first, second = database(tmp_path / "a.db"), database(tmp_path / "a.db")
    try:
        await make_table(first)
        async with first.writing() as session:  # holds the write lock
            await session.execute(text("INSERT INTO note (body) VALUES ('first')"))
            waiting = asyncio.create_task(insert(second, "second"))
            ticks = await ticks_while(waiting, at_most_s=0.3)
            assert not waiting.done(), "the second writer must wait for the lock"
            assert ticks >= 10, f"the loop should keep running while a writer waits (ran {ticks} ticks in 0.3 s)"
        await asyncio.wait_for(waiting, 5)
        assert await bodies(second) == ["first", "second"]
    finally:
        await first.dispose()
        await second.dispose()


async def test_a_writer_gives_up_at_the_busy_timeout_without_blocking_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    setup = database(path)
    await make_table(setup)
    await setup.dispose()
    holder = sqlite3.connect(path, isolation_level=None)  # another process, as far as SQLite can tell
    holder.execute("BEGIN IMMEDIATE")
    waiter = database(path, busy_timeout_ms=400)
    try:
        started = time.monotonic()
        attempt = asyncio.create_task(insert(waiter, "never"))
        ticks = await ticks_while(attempt)
        with pytest.raises(OperationalError, match="database is locked"):
            await attempt
        waited = time.monotonic() - started
        assert 0.35 <= waited < 3, f"gave up after {waited:.2f} s; the busy timeout is 0.4 s"
        assert ticks >= 15, f"the loop ran only {ticks} ticks while the writer waited"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        await waiter.dispose()


async def test_reads_go_on_while_another_connection_writes(tmp_path: Path) -> None:
    db = database(tmp_path / "c.db")
    try:
        await make_table(db)
        await insert(db, "committed")
        async with db.writing() as session:
            await session.execute(text("INSERT INTO note (body) VALUES ('pending')"))
            assert await bodies(db) == ["committed"], "a reader sees the last commit, not the open write"
        assert await bodies(db) == ["committed", "pending"]
    finally:
        await db.dispose()
