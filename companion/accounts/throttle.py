"""Login throttling with growing delays, counted in the database (AUTH-07, RATE-01).

Failures are counted per account and per client address over a sliding window. Past a free
allowance each further failure doubles the wait before the next attempt, up to a cap. There is no
hard lock-out: a stranger hammering someone's account can slow it down by at most the account cap,
never shut its owner out. Counting in the database makes the limit hold across web processes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from companion.accounts.models import LoginAttempt
from companion.db import utcnow

WINDOW = timedelta(minutes=15)


@dataclass(frozen=True)
class Policy:
    free_failures: int
    max_delay_seconds: int


POLICIES = {
    "account": Policy(free_failures=5, max_delay_seconds=60),
    "address": Policy(free_failures=20, max_delay_seconds=300),
}


def key_hash(scope: str, value: str) -> str:
    # Hashed so the table holds no logins or addresses in clear.
    return hashlib.sha256(f"{scope}:{value.strip().lower()}".encode()).hexdigest()


def delay_after(failures: int, policy: Policy) -> int:
    """Seconds to wait after the latest failure, given how many failures are in the window."""
    extra = failures - policy.free_failures
    if extra < 0:
        return 0
    return min(2**extra, policy.max_delay_seconds)


async def seconds_to_wait(session: AsyncSession, keys: dict[str, str], now: datetime | None = None) -> int:
    """How long the caller must wait before another attempt for any of ``keys`` (scope -> value)."""
    now = now or utcnow()
    wait = 0
    for scope, value in keys.items():
        count, latest = (
            await session.execute(
                select(func.count(), func.max(LoginAttempt.created_at)).where(
                    LoginAttempt.scope == scope,
                    LoginAttempt.key_hash == key_hash(scope, value),
                    LoginAttempt.created_at > now - WINDOW,
                )
            )
        ).one()
        if count and latest is not None:
            latest = latest if latest.tzinfo else latest.replace(tzinfo=now.tzinfo)
            remaining = delay_after(count, POLICIES[scope]) - (now - latest).total_seconds()
            wait = max(wait, int(remaining + 0.999))
    return max(wait, 0)


async def record_failure(session: AsyncSession, keys: dict[str, str]) -> None:
    for scope, value in keys.items():
        session.add(LoginAttempt(scope=scope, key_hash=key_hash(scope, value)))


async def clear_account(session: AsyncSession, login: str) -> None:
    await session.execute(
        delete(LoginAttempt).where(LoginAttempt.scope == "account", LoginAttempt.key_hash == key_hash("account", login))
    )


async def purge_old_attempts(session: AsyncSession) -> None:
    await session.execute(delete(LoginAttempt).where(LoginAttempt.created_at <= utcnow() - WINDOW))
