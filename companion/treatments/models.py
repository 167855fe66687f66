"""Treatment sessions the clinic schedules, and the patient's reflections after them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from companion.db import Base, UTCDateTime, new_code, utcnow


class Route(StrEnum):
    ESKETAMINE_NASAL = "esketamine_nasal"
    IV = "iv"
    IM = "im"
    ORAL = "oral"


ROUTE_LABELS = {
    Route.ESKETAMINE_NASAL: "Esketamine nasal spray",
    Route.IV: "Ketamine infusion (IV)",
    Route.IM: "Ketamine injection (IM)",
    Route.ORAL: "Ketamine sublingual / oral",
}


class Phase(StrEnum):
    INDUCTION = "induction"
    OPTIMISATION = "optimisation"
    MAINTENANCE = "maintenance"


class SessionStatus(StrEnum):
    SCHEDULED = "scheduled"
    ATTENDED = "attended"
    MISSED = "missed"
    CANCELLED = "cancelled"


class TreatmentSession(Base):
    __tablename__ = "treatment_session"
    __table_args__ = (
        Index("ix_treatment_session_patient_time", "patient_id", "scheduled_at"),
        CheckConstraint("status IN ('scheduled', 'attended', 'missed', 'cancelled')", name="status_value"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, default=new_code)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinic.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"))
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    route: Mapped[str] = mapped_column(String(24))
    phase: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=SessionStatus.SCHEDULED)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SessionReflection(Base):
    """What the patient noticed after a session; private unless they choose to share it."""

    __tablename__ = "session_reflection"
    __table_args__ = (CheckConstraint("feeling BETWEEN 0 AND 10", name="feeling_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, default=new_code)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinic.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    treatment_session_id: Mapped[int] = mapped_column(ForeignKey("treatment_session.id"), index=True)
    feeling: Mapped[int] = mapped_column(SmallInteger)
    body: Mapped[str] = mapped_column(Text, default="")
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class NasalSpray(StrEnum):
    """Esketamine nasal route only: a nasal corticosteroid or decongestant at least 1 h before."""

    NOT_USED = "not_used"
    ON_TIME = "on_time"
    NOT_ON_TIME = "not_on_time"


class SessionPrep(Base):
    """The patient's pre-session checklist; one row per session, the latest answers win."""

    __tablename__ = "session_prep"
    __table_args__ = (
        UniqueConstraint("treatment_session_id"),
        CheckConstraint(
            "(bp_systolic IS NULL AND bp_diastolic IS NULL) OR (bp_systolic IS NOT NULL AND bp_diastolic IS NOT NULL)",
            name="bp_pair",
        ),
        CheckConstraint(
            "nasal_spray IS NULL OR nasal_spray IN ('not_used', 'on_time', 'not_on_time')", name="nasal_spray_value"
        ),
    )

    MEDICATION_NOTE_MAX = 200

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, default=new_code)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinic.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    treatment_session_id: Mapped[int] = mapped_column(ForeignKey("treatment_session.id"))
    fasting_ok: Mapped[bool] = mapped_column(Boolean)
    ride_home: Mapped[bool] = mapped_column(Boolean)
    medication_changes: Mapped[bool] = mapped_column(Boolean)
    medication_note: Mapped[str] = mapped_column(String(200), default="")
    bp_systolic: Mapped[int | None] = mapped_column(SmallInteger)
    bp_diastolic: Mapped[int | None] = mapped_column(SmallInteger)
    nasal_spray: Mapped[str | None] = mapped_column(String(16))
    answered_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
