"""Push subscriptions, delivery attempts and per-user notification preferences.

Kept beside ``notify.models`` (the outbox, written by the safety loop) so the two can change apart.
A ``Delivery`` row is written before each attempt and completed after it: a sender that dies
mid-attempt leaves a row with no ``finished_at``, which is how a crash shows up afterwards.
Error text is the transport's summary (status code and reason), never a payload or a key.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from companion.db import Base, UTCDateTime, new_code, utcnow


class DeliveryOutcome(StrEnum):
    SENT = "sent"
    RETRY = "retry"
    PERMANENT_FAILURE = "permanent_failure"


class PushSubscription(Base):
    """One browser's push endpoint for one user. Disabled (never deleted) when the service says 404/410."""

    __tablename__ = "push_subscription"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, default=new_code)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinic.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    endpoint: Mapped[str] = mapped_column(String(1000), unique=True)
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(100))
    label: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(200))
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def info(self) -> dict[str, object]:
        """The ``subscription_info`` pywebpush takes."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


class Delivery(Base):
    """One attempt to deliver one outbox message over one transport target."""

    __tablename__ = "delivery"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinic.id"))
    outbox_message_id: Mapped[int] = mapped_column(ForeignKey("outbox_message.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(16))
    subscription_id: Mapped[int | None] = mapped_column(ForeignKey("push_subscription.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(24))
    status_code: Mapped[int | None] = mapped_column(SmallInteger)
    error: Mapped[str | None] = mapped_column(Text)


class NotificationPreference(Base):
    """Per-user channel switches. No row means the defaults: push on, e-mail on for staff, off for patients."""

    __tablename__ = "notification_preference"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinic.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), unique=True)
    push_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    email_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
