"""The outbox: messages waiting to be delivered, written in the transaction that caused them.

Senders (the delivery issue) claim ``pending`` rows with a lease and record each attempt. The
``dedupe_key`` is unique, so an alert is queued at most once per channel and recipient
("alert:<alert id>:<channel>:<recipient user id>", escalation steps add ":step<n>"). Alert rows
are written by ``notify.service.queue_alert_messages``: push for every recipient, e-mail beside it
for staff whose e-mail is on. Rows carry ids only, never health data.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from companion.db import Base, UTCDateTime, utcnow


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    # Neither a delivery nor a failure: an alert's e-mail row on an install without SMTP. Such rows
    # do not count when deciding whether an alert reached anyone (``sender.undelivered_alerts``).
    SKIPPED = "skipped"


class OutboxMessage(Base):
    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_message_status_available", "status", "available_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinic.id"))
    kind: Mapped[str] = mapped_column(String(24))  # "alert", later "reminder"
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alert.id"), index=True)
    # Reminders (migration 0003): the occurrence this message announces.
    reminder_occurrence_id: Mapped[int | None] = mapped_column(ForeignKey("reminder_occurrence.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # "push", "email"
    recipient_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
