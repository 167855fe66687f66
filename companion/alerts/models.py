"""Alerts raised by the risk rules, every transition of them, and "I need help now" presses.

An alert is written in the same transaction as the entry that caused it (architecture.md, "Writing
an entry"), so a committed entry can never be missing its alert. Reasons are plain sentences from
the rules and never quote a patient's free text.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from companion.db import Base, UTCDateTime, new_code, utcnow


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class AlertOutcome(StrEnum):
    CONTACTED_PATIENT = "contacted_patient"
    VISIT_SCHEDULED = "visit_scheduled"
    REFERRED_EMERGENCY = "referred_emergency"
    NO_ACTION_NEEDED = "no_action_needed"


OUTCOME_LABELS = {
    AlertOutcome.CONTACTED_PATIENT: "Contacted the patient",
    AlertOutcome.VISIT_SCHEDULED: "Visit scheduled",
    AlertOutcome.REFERRED_EMERGENCY: "Referred to emergency care",
    AlertOutcome.NO_ACTION_NEEDED: "No action needed",
}


class AlertEventKind(StrEnum):
    CREATED = "created"
    FINDING_ATTACHED = "finding_attached"
    SEVERITY_RAISED = "severity_raised"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    REOPENED = "reopened"


class Alert(Base):
    __tablename__ = "alert"
    __table_args__ = (
        # The inbox reads a clinic's alerts by status; attaching looks up a patient's unresolved rule.
        Index("ix_alert_clinic_status", "clinic_id", "status"),
        Index("ix_alert_patient_rule_status", "patient_id", "rule_id", "status"),
        CheckConstraint("status IN ('open', 'acknowledged', 'resolved')", name="status_value"),
        CheckConstraint("severity IN ('critical', 'high', 'medium', 'low')", name="severity_value"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, default=new_code)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinic.id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"))
    rule_id: Mapped[str] = mapped_column(String(8))
    severity: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    source_kind: Mapped[str] = mapped_column(String(24))
    source_code: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default=AlertStatus.OPEN)
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(24))
    note: Mapped[str] = mapped_column(Text, default="")


class AlertEvent(Base):
    """One transition of an alert: who (None = the system) and when. Append-only."""

    __tablename__ = "alert_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinic.id"))
    alert_id: Mapped[int] = mapped_column(ForeignKey("alert.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    severity: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    source_kind: Mapped[str | None] = mapped_column(String(24))
    source_code: Mapped[str | None] = mapped_column(String(32))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    alert: Mapped[Alert] = relationship()


class HelpPress(Base):
    """The patient pressed "I need help now" (rule A7): the entry its Critical alert points at."""

    __tablename__ = "help_press"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, default=new_code)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinic.id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
