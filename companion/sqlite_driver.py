"""SQLite for the async engine, called on the event loop instead of through a helper thread.

SQLite is a library in this process, not a server: a statement on an indexed table takes tens of
microseconds. aiosqlite runs every call on a helper thread, which costs four thread hand-offs per
statement (cursor, execute, fetch, close), each several times the statement itself, so most of a
check-in's database time went on hand-offs. This dialect calls the standard ``sqlite3`` module
directly from SQLAlchemy's async layer, the way a synchronous app would.

What could block the loop, and why it does not:

* Waiting for the write lock. The connection's own busy handler would sleep on the loop thread
  while the writer that holds the lock (another coroutine on the same loop) could not run:
  a deadlock until the timeout. Here SQLite's busy timeout is zero, and a statement that meets
  SQLITE_BUSY is retried after an ``asyncio.sleep`` with growing pauses, up to the configured
  busy timeout. Within one process ``Database.writing()`` already queues writers; the retry
  covers other processes (the command line, a second server) and other ``Database`` instances.
* The fsync at commit (``synchronous=FULL``): about half a millisecond on the machines measured,
  less than the hand-offs it replaces.
* Long reads: every query the app runs is an indexed lookup or a bounded aggregate
  (``benchmarks/`` measures the heaviest pages).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Any

from sqlalchemy import pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine.url import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.util.concurrency import await_

DRIVER = "companion"
SQLITE_BUSY_SNAPSHOT = 517  # SQLITE_BUSY | (2 << 8)
BUSY_PAUSES_S = (0.001, 0.002, 0.005, 0.010, 0.020, 0.050)  # then 50 ms until the deadline


class Cursor(sqlite3.Cursor):
    """A plain sqlite3 cursor that SQLAlchemy's async result handling accepts.

    The async layer "soft-closes" a cursor after buffering an adapted driver's rows; this cursor
    fetches lazily, like the synchronous driver, so there is nothing to close early."""

    async def _async_soft_close(self) -> None:
        return None


class Connection(sqlite3.Connection):
    def cursor(self, factory: Any = Cursor) -> Any:  # noqa: ANN401 - sqlite3's own signature
        return super().cursor(factory)


class _SQLite3Module:
    """The ``sqlite3`` module as the DBAPI, connecting with the classes above and no busy wait."""

    def __init__(self) -> None:
        self.busy_timeout_s = 5.0

    def __getattr__(self, name: str) -> Any:  # noqa: ANN401 - forwards the module's attributes
        return getattr(sqlite3, name)

    def connect(self, *args: Any, **kwargs: Any) -> Connection:
        # The engine's ``timeout`` becomes the deadline of the retries in ``_execute``; SQLite's
        # own busy handler, which would sleep on the loop, is switched off.
        self.busy_timeout_s = float(kwargs.pop("timeout", self.busy_timeout_s))
        kwargs.update(factory=Connection, timeout=0)
        return sqlite3.connect(*args, **kwargs)  # type: ignore[no-any-return]


async def _nothing() -> None:
    return None


async def _pause(seconds: float) -> None:
    await asyncio.sleep(seconds)


def _is_busy(error: sqlite3.OperationalError) -> bool:
    """Another connection holds the lock, and waiting can help (a stale snapshot never will)."""
    code = getattr(error, "sqlite_errorcode", 0)
    return code & 0xFF == sqlite3.SQLITE_BUSY and code != SQLITE_BUSY_SNAPSHOT


def _execute(cursor: Any, method: str, statement: str, *args: Any, busy_timeout_s: float) -> None:
    # SQLAlchemy's async layer insists that every statement awaited something (a guard against
    # synchronous drivers used by mistake); one already-finished coroutine satisfies it at the
    # cost of two greenlet switches.
    await_(_nothing())
    deadline = None
    attempt = 0
    while True:
        try:
            getattr(cursor, method)(statement, *args)
            return
        except sqlite3.OperationalError as error:
            if not _is_busy(error):
                raise
            now = time.monotonic()
            deadline = deadline or now + busy_timeout_s
            if now >= deadline:
                raise
            await_(_pause(BUSY_PAUSES_S[min(attempt, len(BUSY_PAUSES_S) - 1)]))
            attempt += 1


def run_on(connection: Any, statement: str) -> None:  # noqa: ANN401 - a SQLAlchemy Connection
    """BEGIN straight on the driver connection behind a SQLAlchemy connection: skips SQLAlchemy's
    execution context, which costs more than the statement itself."""
    # This dialect's DBAPI connection is the sqlite3 connection itself (no adapter to unwrap).
    run_on_driver(connection.connection.dbapi_connection, statement, connection.dialect.loaded_dbapi.busy_timeout_s)


def run_on_driver(driver_connection: sqlite3.Connection, statement: str, busy_timeout_s: float) -> None:
    """A statement without parameters (BEGIN, PRAGMA), waiting out a busy database like every
    other statement, with errors raised as SQLAlchemy raises them from its own execute."""
    try:
        _execute(driver_connection, "execute", statement, busy_timeout_s=busy_timeout_s)
    except sqlite3.Error as error:
        raise DBAPIError.instance(statement, None, error, sqlite3.Error) from error


class SQLiteDialect_companion(SQLiteDialect_pysqlite):  # noqa: N801 - SQLAlchemy's naming scheme
    driver = DRIVER
    is_async = True
    supports_statement_cache = True

    @classmethod
    def import_dbapi(cls) -> Any:  # noqa: ANN401 - a DBAPI module stand-in
        return _SQLite3Module()

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        return pool.AsyncAdaptedQueuePool if cls._is_url_file_db(url) else pool.StaticPool

    def do_execute(self, cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:  # noqa: ANN401
        _execute(cursor, "execute", statement, parameters, busy_timeout_s=self.loaded_dbapi.busy_timeout_s)

    def do_execute_no_params(self, cursor: Any, statement: str, context: Any = None) -> None:  # noqa: ANN401
        _execute(cursor, "execute", statement, busy_timeout_s=self.loaded_dbapi.busy_timeout_s)

    def do_executemany(self, cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:  # noqa: ANN401
        _execute(cursor, "executemany", statement, parameters, busy_timeout_s=self.loaded_dbapi.busy_timeout_s)


dialect = SQLiteDialect_companion
registry.register(f"sqlite.{DRIVER}", __name__, "SQLiteDialect_companion")
