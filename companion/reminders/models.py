"""Reminder schedules and their occurrences.

A schedule is a local wall time plus an IANA zone (security.md REL-08) with a derived next-due
instant the sweep indexes on. Each firing is recorded once as a ``ReminderOccurrence`` under the
unique (schedule, local date) key, whatever the clocks, the workers or the restarts do: that key is
what makes a reminder "never twice".
"""

from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum

from sqlalchemy import Boolean, Date, ForeignKey, Index, String, Time, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from companion.db import Base, UTCDateTime, utcnow


class ReminderKind(StrEnum):
    CHECKIN = "checkin"  # daily, at the patient's reminder time
    QUESTIONNAIRE = "questionnaire"  # daily at the reminder time, sent only when PHQ-9 or GAD-7 is due
    SESSION_PREP = "session_prep"  # the day before a session, at the reminder time
    SESSION_SOON = "session_soon"  # two hours before a session
    JOURNAL = "journal"  # same evening, +1, +3, +7 days after a session
    SIDE_EFFECTS = "side_effects"  # the day after a session


DAILY_KINDS = (ReminderKind.CHECKIN, ReminderKind.QUESTIONNAIRE)


class OccurrenceStatus(StrEnum):
    SENT = "sent"  # queued for delivery on time
    SENT_LATE = "sent_late"  # queued late, within the grace window, after downtime
    MISSED = "missed"  # too late after downtime: recorded, never sent
    SKIPPED = "skipped"  # paused, already done, or no channel to send on


class ReminderSchedule(Base):
    __tablename__ = "reminder_schedule"
    __table_args__ = (
        UniqueConstraint("patient_id", "kind"),
        Index("ix_reminder_schedule_due", "enabled", "next_due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinic.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"))
    kind: Mapped[str] = mapped_column(String(24))
    local_time: Mapped[time] = mapped_column(Time)
    zone: Mapped[str] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Daily kinds only: the next occurrence (its local date is its de-duplication key).
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_local_date: Mapped[date | None] = mapped_column(Date)
    last_local_date: Mapped[date | None] = mapped_column(Date)
    quiet_start: Mapped[time | None] = mapped_column(Time)
    quiet_end: Mapped[time | None] = mapped_column(Time)
    paused_until: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReminderOccurrence(Base):
    __tablename__ = "reminder_occurrence"
    __table_args__ = (UniqueConstraint("schedule_id", "local_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinic.id"))
    schedule_id: Mapped[int] = mapped_column(ForeignKey("reminder_schedule.id"))
    local_date: Mapped[date] = mapped_column(Date)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
