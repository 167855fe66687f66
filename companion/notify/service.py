"""Push subscriptions, notification preferences, test sends, and building the transports.

Each function that writes runs one transaction and says so. Subscriptions are per user and
clinic; a user sees and removes only their own (the queries filter by user id).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from companion.accounts.auth import CurrentUser
from companion.db import Database, utcnow
from companion.notify.delivery_models import Delivery, NotificationPreference, PushSubscription
from companion.notify.models import OutboxMessage
from companion.notify.transports import Transport
from companion.settings import Settings

MAX_SUBSCRIPTIONS_PER_USER = 10


class SubscriptionError(ValueError):
    """The subscription JSON is not what ``PushSubscription.toJSON()`` gives."""


@dataclass(frozen=True)
class SubscriptionInput:
    endpoint: str
    p256dh: str
    auth: str

    @classmethod
    def parse(cls, data: Any, allowed_origins: tuple[str, ...] = ()) -> SubscriptionInput:
        if not isinstance(data, dict):
            raise SubscriptionError("subscription must be an object")
        endpoint, keys = data.get("endpoint"), data.get("keys")
        if not isinstance(endpoint, str) or not (
            endpoint.startswith("https://") or endpoint.startswith(allowed_origins or ("https://",))
        ):
            raise SubscriptionError("endpoint must be an https URL")
        if len(endpoint) > 1000 or not isinstance(keys, dict):
            raise SubscriptionError("endpoint too long or keys missing")
        p256dh, auth = keys.get("p256dh"), keys.get("auth")
        if not _b64url(p256dh, 80, 100) or not _b64url(auth, 16, 32):
            raise SubscriptionError("keys.p256dh and keys.auth must be base64url")
        return cls(endpoint, p256dh, auth)  # type: ignore[arg-type]


def _b64url(value: Any, low: int, high: int) -> bool:
    import re

    return isinstance(value, str) and low <= len(value) <= high and re.fullmatch(r"[A-Za-z0-9_-]+=*", value) is not None


async def subscribe(
    db: Database, user: CurrentUser, data: SubscriptionInput, *, label: str = "", old_endpoint: str | None = None
) -> PushSubscription:
    """Store (or re-enable and re-own) a subscription; ``old_endpoint`` of the same user is dropped. One transaction."""
    async with db.writing() as session:
        if old_endpoint and old_endpoint != data.endpoint:
            await session.execute(
                update(PushSubscription)
                .where(PushSubscription.user_id == user.id, PushSubscription.endpoint == old_endpoint)
                .values(disabled_at=utcnow(), last_error="replaced by a new subscription")
            )
        row = (
            await session.execute(select(PushSubscription).where(PushSubscription.endpoint == data.endpoint))
        ).scalar_one_or_none()
        if row is None:
            count = await session.scalar(
                select(func.count())
                .select_from(PushSubscription)
                .where(PushSubscription.user_id == user.id, PushSubscription.disabled_at.is_(None))
            )
            if (count or 0) >= MAX_SUBSCRIPTIONS_PER_USER:
                raise SubscriptionError("too many devices; remove one first")
            row = PushSubscription(clinic_id=user.clinic_id, user_id=user.id, endpoint=data.endpoint)
            session.add(row)
        # A browser shared by two accounts keeps one endpoint: the latest login owns it.
        row.user_id, row.clinic_id = user.id, user.clinic_id
        row.p256dh, row.auth, row.label = data.p256dh, data.auth, label[:80]
        row.disabled_at = None
        await session.flush()
    return row


async def unsubscribe(db: Database, user: CurrentUser, *, endpoint: str | None = None, code: str | None = None) -> bool:
    """Disable one of the user's own subscriptions. One transaction. False: none of theirs matched."""
    condition = PushSubscription.endpoint == endpoint if endpoint else PushSubscription.code == code
    async with db.writing() as session:
        result = await session.execute(
            update(PushSubscription)
            .where(condition, PushSubscription.user_id == user.id, PushSubscription.disabled_at.is_(None))
            .values(disabled_at=utcnow(), last_error="removed by the user")
        )
    return bool(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Device:
    code: str
    label: str
    created_at: datetime
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    active: bool

    def as_json(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "code": self.code,
            "label": self.label,
            "created_at": iso(self.created_at),
            "last_success_at": iso(self.last_success_at),
            "last_error": self.last_error,
            "last_error_at": iso(self.last_error_at),
            "active": self.active,
        }


async def devices(db: Database, user: CurrentUser) -> list[Device]:
    async with db.reading() as session:
        rows = (
            await session.execute(
                select(PushSubscription)
                .where(PushSubscription.user_id == user.id)
                .order_by(PushSubscription.disabled_at.is_not(None), PushSubscription.created_at.desc())
                .limit(20)
            )
        ).scalars()
        return [
            Device(
                r.code, r.label, r.created_at, r.last_success_at, r.last_error, r.last_error_at, r.disabled_at is None
            )
            for r in rows
        ]


async def preferences(db: Database, user: CurrentUser) -> tuple[bool, bool]:
    """(push on, e-mail on) with the defaults of ``sender.email_enabled``."""
    async with db.reading() as session:
        pref = (
            await session.execute(select(NotificationPreference).where(NotificationPreference.user_id == user.id))
        ).scalar_one_or_none()
    if pref is None:
        return True, user.role != "patient"
    return pref.push_enabled, pref.email_enabled


async def set_preferences(db: Database, user: CurrentUser, *, push: bool, email: bool) -> None:
    async with db.writing() as session:
        pref = (
            await session.execute(select(NotificationPreference).where(NotificationPreference.user_id == user.id))
        ).scalar_one_or_none()
        if pref is None:
            pref = NotificationPreference(clinic_id=user.clinic_id, user_id=user.id)
            session.add(pref)
        pref.push_enabled, pref.email_enabled, pref.updated_at = push, email, utcnow()


async def queue_alert_messages(
    session: Any,
    *,
    clinic_id: int,
    alert_id: int,
    recipient_ids: list[int],
    kind: str = "alert",
    key_suffix: str = "",
    available_at: datetime | None = None,
) -> list[OutboxMessage]:
    """Outbox rows for one alert, one per recipient and channel, in the caller's transaction.

    The de-duplication key is ``alert:<alert>:<channel>:<recipient><key_suffix>``."""
    return await _queue_for_staff(
        session,
        clinic_id=clinic_id,
        recipient_ids=recipient_ids,
        kind=kind,
        key=lambda channel, user_id: f"alert:{alert_id}:{channel}:{user_id}{key_suffix}",
        alert_id=alert_id,
        available_at=available_at,
    )


async def queue_access_review(session: Any, *, clinic_id: int, grant_code: str, admin_ids: list[int]) -> None:
    """Tell the clinic's admins that emergency (break-glass) access was used and awaits their
    review (AC-06), in the grant's transaction. The message names no patient and no reason."""
    await _queue_for_staff(
        session,
        clinic_id=clinic_id,
        recipient_ids=admin_ids,
        kind="access_review",
        key=lambda channel, user_id: f"access_review:{grant_code}:{channel}:{user_id}",
    )


async def _queue_for_staff(
    session: Any,
    *,
    clinic_id: int,
    recipient_ids: list[int],
    kind: str,
    key: Callable[[str, int], str],
    alert_id: int | None = None,
    available_at: datetime | None = None,
) -> list[OutboxMessage]:
    """One row per recipient and channel: push for every recipient (the sender records "no device"
    as a failure, which the inbox shows); e-mail too for each active recipient with an address
    whose e-mail is on (staff: on unless switched off), so push is never the only channel
    (REL-03). One query for the recipients' preferences."""
    from companion.accounts.models import User

    recipient_ids = list(dict.fromkeys(recipient_ids))
    if not recipient_ids:
        return []
    emailable = {
        user_id
        for user_id, role, active, email, pref in (
            await session.execute(
                select(User.id, User.role, User.active, User.email, NotificationPreference.email_enabled)
                .outerjoin(NotificationPreference, NotificationPreference.user_id == User.id)
                .where(User.id.in_(recipient_ids))
            )
        ).all()
        if active and email and (pref if pref is not None else role != "patient")
    }
    when = available_at or utcnow()
    rows = [
        OutboxMessage(
            clinic_id=clinic_id,
            kind=kind,
            alert_id=alert_id,
            channel=channel,
            recipient_id=user_id,
            dedupe_key=key(channel, user_id),
            available_at=when,
        )
        for user_id in recipient_ids
        for channel in ("push", "email")
        if channel == "push" or user_id in emailable
    ]
    session.add_all(rows)
    return rows


async def queue_test(db: Database, user: CurrentUser) -> None:
    """ "Send me a test": one push message to every device of the user, delivered by the sender. One transaction."""
    async with db.writing() as session:
        session.add(
            OutboxMessage(
                clinic_id=user.clinic_id,
                kind="test",
                channel="push",
                recipient_id=user.id,
                dedupe_key=f"test:{user.id}:{secrets.token_urlsafe(8)}",
            )
        )


async def last_delivery(db: Database, subscription_codes: list[str]) -> dict[str, datetime]:
    async with db.reading() as session:
        rows = await session.execute(
            select(PushSubscription.code, func.max(Delivery.finished_at))
            .join(Delivery, Delivery.subscription_id == PushSubscription.id)
            .where(PushSubscription.code.in_(subscription_codes))
            .group_by(PushSubscription.code)
        )
        return {code: at for code, at in rows if at}


def build_transports(settings: Settings) -> dict[str, Transport]:
    """The process's transports: push with its one key and session, e-mail when configured."""
    from companion.notify.email import EmailTransport
    from companion.notify.messages import environment
    from companion.notify.vapid import VapidKeyMissing, load_vapid
    from companion.notify.webpush import WebPushTransport

    transports: dict[str, Transport] = {}
    try:
        transports["push"] = WebPushTransport(settings.push, load_vapid(settings))
    except VapidKeyMissing:
        import logging

        logging.getLogger("companion.notify").error("no VAPID key configured: push notifications are off")
    transports["email"] = EmailTransport(settings.email, environment(), settings.web.base_url)
    return transports


async def without_working_push(session: Any, user_ids: list[int]) -> set[int]:
    """Of ``user_ids``, those with no enabled push subscription (REL-09: staff see who cannot be reached)."""
    if not user_ids:
        return set()
    reachable = set(
        (
            await session.execute(
                select(PushSubscription.user_id).where(
                    PushSubscription.user_id.in_(user_ids), PushSubscription.disabled_at.is_(None)
                )
            )
        ).scalars()
    )
    return set(user_ids) - reachable


async def undelivered_alerts(session: Any, alert_ids: list[int]) -> set[int]:
    """Alerts whose every notification failed (for the inbox); see ``notify.sender``."""
    from companion.notify.sender import undelivered_alerts as query

    return await query(session, alert_ids)
