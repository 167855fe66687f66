"""Questionnaire responses: the answers as given, the instrument version, and the scored result."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from companion.db import Base, UTCDateTime, new_code, utcnow


class QuestionnaireResponse(Base):
    """Append-only. ``answers`` maps item keys to values (None = not answered, never 0).

    ``total``/``band`` are set for complete PHQ-9 and GAD-7; ``result`` holds the ASQ outcome or
    the C-SSRS risk level (and the band for the others), so lists need no re-scoring.
    """

    __tablename__ = "questionnaire_response"
    __table_args__ = (
        Index("ix_questionnaire_response_patient_instrument_time", "patient_id", "instrument", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, default=new_code)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinic.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"))
    instrument: Mapped[str] = mapped_column(String(16))
    instrument_version: Mapped[str] = mapped_column(String(40))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    total: Mapped[int | None] = mapped_column(SmallInteger)
    band: Mapped[str | None] = mapped_column(String(24))
    result: Mapped[str | None] = mapped_column(String(24))
    complete: Mapped[bool] = mapped_column(Boolean, default=True)
    trigger: Mapped[str | None] = mapped_column(String(24))
    local_date: Mapped[date] = mapped_column(Date)
    timezone: Mapped[str] = mapped_column(String(64))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
