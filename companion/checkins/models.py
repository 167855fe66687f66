"""Daily check-ins. Append-only: a second check-in on the same local day is a new revision."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from companion.db import Base, UTCDateTime, new_code, utcnow


class SafetyAnswer(StrEnum):
    """Thoughts of death or self-harm since the last check-in."""

    NONE = "none"
    PASSIVE = "passive"
    ACTIVE = "active"


class CheckIn(Base):
    __tablename__ = "checkin"
    __table_args__ = (
        # One row per (patient, local day, revision): the latest revision is the day's check-in.
        Index("uq_checkin_patient_day_revision", "patient_id", "local_date", "revision", unique=True),
        CheckConstraint("mood BETWEEN 0 AND 10", name="mood_range"),
        CheckConstraint("anxiety BETWEEN 0 AND 10", name="anxiety_range"),
        CheckConstraint("energy BETWEEN 0 AND 10", name="energy_range"),
        CheckConstraint("sleep_quality BETWEEN 0 AND 4", name="sleep_quality_range"),
        CheckConstraint("sleep_hours BETWEEN 0 AND 24", name="sleep_hours_range"),
        CheckConstraint("safety IN ('none', 'passive', 'active')", name="safety_value"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, default=new_code)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinic.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"))
    local_date: Mapped[date] = mapped_column(Date)
    timezone: Mapped[str] = mapped_column(String(64))
    revision: Mapped[int] = mapped_column(Integer, default=1)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("checkin.id"))
    mood: Mapped[int] = mapped_column(SmallInteger)
    anxiety: Mapped[int] = mapped_column(SmallInteger)
    energy: Mapped[int] = mapped_column(SmallInteger)
    sleep_hours: Mapped[float | None] = mapped_column(Numeric(4, 1, asdecimal=False))
    sleep_quality: Mapped[int | None] = mapped_column(SmallInteger)
    safety: Mapped[str] = mapped_column(String(16))
    bp_systolic: Mapped[int | None] = mapped_column(SmallInteger)
    bp_diastolic: Mapped[int | None] = mapped_column(SmallInteger)
    note: Mapped[str] = mapped_column(Text, default="")
    # Warning-symptom codes ticked (checkins.side_effects.SYMPTOM_CODES).
    symptoms: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=text("'[]'"))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    side_effects: Mapped[list[CheckInSideEffect]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="CheckInSideEffect.id"
    )


class CheckInSideEffect(Base):
    __tablename__ = "checkin_side_effect"
    __table_args__ = (CheckConstraint("severity BETWEEN 1 AND 3", name="severity_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    checkin_id: Mapped[int] = mapped_column(ForeignKey("checkin.id"), index=True)
    effect: Mapped[str] = mapped_column(String(40))
    severity: Mapped[int] = mapped_column(SmallInteger)
