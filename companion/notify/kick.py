"""Wake the sender as soon as a transaction that queued outbox messages commits.

This is the one place that turns "an entry committed with alerts" into "try delivery now": a
session event, so no entry service needs to remember a call after its transaction.

- On PostgreSQL the committing transaction also issues ``NOTIFY companion_outbox``; PostgreSQL
  delivers it only if the transaction commits, to every process that LISTENs (``companion worker``).
- In every process, local waiters (the embedded sender's loop) are woken after the commit.

The periodic sweep stays the safety net: a lost wake-up only delays a message, never loses it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

from companion.notify.models import OutboxMessage

CHANNEL = "companion_outbox"
_FLAG = "companion_outbox_queued"
_waiters: set[Callable[[], None]] = set()


def add_waiter(callback: Callable[[], None]) -> Callable[[], None]:
    """Call ``callback`` (thread-safe wake-up) after each commit that queued messages; returns a remover."""
    _waiters.add(callback)
    return lambda: _waiters.discard(callback)


def event_waker(wake: asyncio.Event) -> Callable[[], None]:
    loop = asyncio.get_running_loop()
    return lambda: loop.call_soon_threadsafe(wake.set)


def _queued(session: Session) -> bool:
    return any(isinstance(obj, OutboxMessage) for obj in session.new)


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _context: object, _instances: object) -> None:
    if _queued(session):
        session.info[_FLAG] = True


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    if not (session.info.get(_FLAG) or _queued(session)):
        return
    session.info[_FLAG] = True
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"NOTIFY {CHANNEL}")


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_FLAG, False):
        kick()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_FLAG, None)


def kick() -> None:
    for wake in list(_waiters):
        try:
            wake()
        except RuntimeError:  # the waiter's loop is closed: it is gone
            _waiters.discard(wake)


def mark_queued(session: object) -> None:
    """For rows queued without the ORM noticing (bulk inserts): wake the sender after this commit."""
    from sqlalchemy.ext.asyncio import AsyncSession

    sync = session.sync_session if isinstance(session, AsyncSession) else session
    sync.info[_FLAG] = True  # type: ignore[attr-defined]
