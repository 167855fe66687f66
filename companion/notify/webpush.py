"""Web Push through pywebpush's async API (tech-notes section 4).

One shared aiohttp session and one ``Vapid02`` key for the process; a fresh claims dict per call
(pywebpush writes ``aud`` and ``exp`` into the dict it gets, and a reused dict would carry one push
service's audience to another); explicit TTL, timeout, Urgency and Topic on every call.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp
from py_vapid import Vapid02
from pywebpush import WebPushException, webpush_async

from companion.notify.transports import Notice, TransportError
from companion.settings import PushSettings

PERMANENT_STATUSES = frozenset({404, 410})
# 400/401/403/413 are our own mistakes (bad key, bad claims, payload too big): retrying will not
# help, but they are not the subscription's fault either, so it stays enabled.
CLIENT_ERRORS = frozenset({400, 401, 403, 413})


class WebPushTransport:
    channel = "push"

    def __init__(self, settings: PushSettings, key: Vapid02) -> None:
        self.settings = settings
        self.key = key
        self._session: aiohttp.ClientSession | None = None
        self._limit = asyncio.Semaphore(settings.concurrency)

    async def start(self) -> None:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self.settings.concurrency)
            self._session = aiohttp.ClientSession(connector=connector)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, target: object, notice: Notice, *, ttl: int) -> int:
        """``target`` is a subscription_info dict."""
        await self.start()
        headers = {"Urgency": notice.urgency}
        if notice.topic:
            headers["Topic"] = notice.topic
        try:
            async with self._limit:
                response = await webpush_async(
                    subscription_info=target,  # type: ignore[arg-type]
                    data=notice.payload(),
                    vapid_private_key=self.key,
                    vapid_claims={"sub": self.settings.subject},  # fresh per call: pywebpush mutates it
                    ttl=ttl,
                    timeout=aiohttp.ClientTimeout(total=self.settings.timeout_seconds),  # type: ignore[arg-type]
                    headers=headers,
                    aiohttp_session=self._session,
                )
                status = response.status  # type: ignore[union-attr]
                response.release()  # type: ignore[union-attr]
                return status
        except WebPushException as exc:
            raise _classified(exc) from None
        except TimeoutError:
            raise TransportError("push service timed out") from None
        except aiohttp.ClientError as exc:
            raise TransportError(f"push service unreachable: {type(exc).__name__}") from None


def _classified(exc: WebPushException) -> TransportError:
    status = exc.status_code
    reason = f"push service answered {status}"
    if status in PERMANENT_STATUSES:
        return TransportError(reason + " (subscription gone)", permanent=True, status_code=status)
    if status in CLIENT_ERRORS:
        return TransportError(reason + " (request refused)", permanent=True, status_code=status)
    return TransportError(reason, retry_after=retry_after_seconds(exc.retry_after), status_code=status)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: a number of seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
