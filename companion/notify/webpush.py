"""Web Push through pywebpush's async API (tech-notes section 4).

One shared aiohttp session and one ``Vapid02`` key for the process; explicit TTL, timeout, Urgency
and Topic on every call.

VAPID: the signed ``Authorization`` header depends only on the push service's origin (the JWT
``aud``), the subject and the expiry, so it is signed once per audience and reused for
``HEADER_REUSE_SECONDS`` (its ``exp`` is 12 hours ahead, far beyond the reuse; Apple rejects more
than 24 hours) instead of once per message (tech-notes 4.5). Each signature gets a fresh claims
dict built for that audience: pywebpush writes ``aud`` and ``exp`` into a dict it is given, and a
shared dict would carry one push service's audience to another (tech-notes 4.3). pywebpush is then
called without claims, with the cached header among the request headers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import aiohttp
from py_vapid import Vapid02
from pywebpush import WebPushException, webpush_async

from companion.notify.transports import Notice, TransportError
from companion.settings import PushSettings

PERMANENT_STATUSES = frozenset({404, 410})
# 400/401/403/413 are our own mistakes (bad key, bad claims, payload too big): retrying will not
# help, but they are not the subscription's fault either, so it stays enabled.
CLIENT_ERRORS = frozenset({400, 401, 403, 413})
JWT_LIFETIME_SECONDS = 12 * 3600  # pywebpush's own default; Apple refuses more than 24 hours
HEADER_REUSE_SECONDS = 5 * 60  # a few minutes: a rotated key or changed subject shows up quickly
MAX_AUDIENCES = 64  # push services are a handful (FCM, Mozilla, Apple, WNS); bound the cache anyway


class WebPushTransport:
    channel = "push"

    def __init__(self, settings: PushSettings, key: Vapid02, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.key = key
        self.clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._limit = asyncio.Semaphore(settings.concurrency)
        self._authorization: dict[str, tuple[float, dict[str, str]]] = {}  # audience -> (reuse until, headers)

    def vapid_headers(self, endpoint: str) -> dict[str, str]:
        """The VAPID ``Authorization`` header for ``endpoint``'s push service, signed at most once
        per audience every ``HEADER_REUSE_SECONDS``."""
        url = urlsplit(endpoint)
        audience = f"{url.scheme}://{url.netloc}"
        now = self.clock()
        cached = self._authorization.get(audience)
        if cached is not None and cached[0] > now:
            return cached[1]
        if len(self._authorization) >= MAX_AUDIENCES:
            self._authorization.clear()
        claims = {"sub": self.settings.subject, "aud": audience, "exp": int(now) + JWT_LIFETIME_SECONDS}
        headers = {str(k): str(v) for k, v in self.key.sign(claims).items()}  # a fresh dict per signature
        self._authorization[audience] = (now + HEADER_REUSE_SECONDS, headers)
        return headers

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
            headers.update(self.vapid_headers(str(target["endpoint"])))  # type: ignore[index]
            async with self._limit:
                response = await webpush_async(
                    subscription_info=target,  # type: ignore[arg-type]
                    data=notice.payload(),
                    vapid_claims=None,  # signed above, once per audience; pywebpush would sign per call
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
