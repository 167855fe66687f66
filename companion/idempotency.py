"""Idempotency keys for every creating request (REL-05).

The key is stored with a unique constraint on (user, key) in the same transaction as the write, so
an entry and its key commit together or not at all. A replay with the same body returns the
original resource; the same key with a different body is refused. A concurrent duplicate waits for
the first transaction (PostgreSQL blocks on the unique index, SQLite serialises writers) and then
replays it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import Row, Select, bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from companion.accounts.models import IdempotencyRecord
from companion.db import Database, utcnow

T = TypeVar("T")
MAX_ATTEMPTS = 3


class IdempotencyConflict(Exception):
    """The key was already used for a request with a different body."""


@dataclass(frozen=True)
class IdempotencyKey:
    user_id: int
    key: str
    request_hash: str
    kind: str


def request_fingerprint(kind: str, payload: Mapping[str, Any]) -> str:
    canonical = json.dumps({"kind": kind, "payload": payload}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


_records = IdempotencyRecord.__table__


@cache
def _replay_query() -> Select[Any]:
    """Built once, on the table's columns: every creating request asks this first, and building
    an ORM statement costs more than running it."""
    return select(_records.c.request_hash, _records.c.resource_kind, _records.c.resource_code).where(
        _records.c.user_id == bindparam("user_id"), _records.c.key == bindparam("key")
    )


async def find_replay(session: AsyncSession, key: IdempotencyKey) -> Row[Any] | None:
    """The earlier request's (request_hash, resource_kind, resource_code), if any."""
    record = (await session.execute(_replay_query(), {"user_id": key.user_id, "key": key.key})).first()
    if record is not None and (record.request_hash != key.request_hash or record.resource_kind != key.kind):
        raise IdempotencyConflict()
    return record


async def remember(session: AsyncSession, key: IdempotencyKey, resource_code: str) -> None:
    """Store the key in the caller's transaction (a Core insert: nothing reads the row back)."""
    await session.execute(
        insert(_records),
        {
            "user_id": key.user_id,
            "key": key.key,
            "request_hash": key.request_hash,
            "resource_kind": key.kind,
            "resource_code": resource_code,
            "result": {},
            "created_at": utcnow(),
        },
    )


async def run_write(db: Database, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in a write transaction, retrying when a unique constraint lost a race.

    A lost race means another request committed the same idempotency key (or the same daily
    revision) first; running again sees its row and replays or takes the next revision.
    """
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            async with db.writing() as session:
                return await work(session)
        except IntegrityError:
            if attempt == MAX_ATTEMPTS:
                raise
    raise AssertionError("unreachable")
