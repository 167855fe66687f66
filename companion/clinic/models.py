"""The clinician workspace's own tables: the audit trail and treatment plans.

``AuditEvent`` is append-only: the migration installs triggers that refuse UPDATE and DELETE on
both engines, and every row carries the hash of the previous row of its clinic (see
``companion.clinic.audit``). ``TreatmentPlan`` is append-only too: a changed plan is a new row;
the newest row is the patient's current plan.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from companion.checkins.models import CheckIn
from companion.db import Base, UTCDateTime, new_code, utcnow
from companion.questionnaires.models import QuestionnaireResponse
from companion.treatments.models import TreatmentSession


class AuditAction(StrEnum):
    VIEW_RECORD = "view_record"  # a patient's record page
    VIEW_DASHBOARD = "view_dashboard"  # the triage dashboard (many patients, summary data)
    VIEW_ALERT = "view_alert"
    VIEW_ALERT_FEED = "view_alert_feed"  # new alerts pushed into the dashboard
    VIEW_AUDIT = "view_audit"
    EXPORT = "export"
    PLAN_CHANGE = "plan_change"
    SESSION_CHANGE = "session_change"
    ROLE_CHANGE = "role_change"
    STAFF_CHANGE = "staff_change"
    CARE_TEAM_CHANGE = "care_team_change"
    INVITATION = "invitation"
    SETTINGS_CHANGE = "settings_change"
    ALERT_ACTION = "alert_action"
    BREAK_GLASS = "break_glass"  # emergency access to a patient not on the clinician's care team (AC-06)
    BREAK_GLASS_REVIEW = "break_glass_review"  # an admin reviewed an emergency access


class AuditPurpose(StrEnum):
    TREATMENT = "treatment"
    ADMIN_TASK = "admin task"


BREAK_GLASS_WHY = "break-glass: "  # audit ``why`` of emergency access: this prefix and the stated reason


class AuditEvent(Base):
    __tablename__ = "audit_event"
    __table_args__ = (
        # seq numbers a clinic's chain 1, 2, 3...: a gap or a fork is visible, and the unique
        # index makes two writers racing for the same place fail instead of forking the chain.
        UniqueConstraint("clinic_id", "seq"),
        Index("ix_audit_event_clinic_patient_at", "clinic_id", "patient_id", "at"),
        Index("ix_audit_event_clinic_actor_at", "clinic_id", "actor_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinic.id"))
    seq: Mapped[int] = mapped_column(Integer)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    actor_role: Mapped[str] = mapped_column(String(16))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patient.id"))
    action: Mapped[str] = mapped_column(String(32))
    what: Mapped[str] = mapped_column(String(400))
    why: Mapped[str] = mapped_column(String(400))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64))


class BreakGlassGrant(Base):
    """Emergency ("break-glass") access, AC-06: a clinician opened a patient of their clinic who is
    not on their care team, stating a reason.

    The record is readable (never writable) by that clinician until ``expires_at``; the grant and
    every view under it are audited with the reason; the clinic's admins review each grant
    (``reviewed_at``, ``reviewed_by_id``). See ``companion.clinic.break_glass``.
    """

    __tablename__ = "break_glass_grant"
    __table_args__ = (
        Index("ix_break_glass_grant_clinician_patient_expires", "clinician_id", "patient_id", "expires_at"),
        Index("ix_break_glass_grant_clinic_reviewed", "clinic_id", "reviewed_at", "created_at"),
        CheckConstraint("expires_at > created_at", name="expires_after_created"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, default=new_code)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinic.id"))
    clinician_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"))
    reason: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    review_outcome: Mapped[str | None] = mapped_column(String(16))  # "appropriate" or "follow_up"


class TreatmentPlan(Base):
    __tablename__ = "treatment_plan"
    __table_args__ = (
        Index("ix_treatment_plan_patient_time", "patient_id", "created_at"),
        CheckConstraint("phase IN ('induction', 'optimisation', 'maintenance')", name="phase_value"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, default=new_code)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinic.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"))
    phase: Mapped[str] = mapped_column(String(16))
    route: Mapped[str] = mapped_column(String(24))
    frequency: Mapped[str] = mapped_column(String(120))  # as the clinician words it: "twice weekly"
    sessions_per_week: Mapped[float | None] = mapped_column(Numeric(3, 1, asdecimal=False))
    start_date: Mapped[date] = mapped_column(Date)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# Covering indexes for the triage dashboard's per-patient aggregates (companion.clinic.dashboard):
# each lets one query answer for every patient of a care team from the index alone, without a
# table lookup per row. Declared here (and created in migration 0004) because the dashboard is
# what needs them; the tables belong to their own domains.
Index(
    "ix_checkin_dashboard",
    CheckIn.patient_id,
    CheckIn.local_date,
    CheckIn.revision,
    CheckIn.mood,
    CheckIn.bp_systolic,
    CheckIn.bp_diastolic,
)
Index(
    "ix_treatment_session_patient_status_time",
    TreatmentSession.patient_id,
    TreatmentSession.status,
    TreatmentSession.scheduled_at,
)
# The dashboard's recent and upcoming sessions for a whole care team: a range of days, not one
# patient's (migration 0007).
Index("ix_treatment_session_scheduled_at", TreatmentSession.scheduled_at)
Index(
    "ix_questionnaire_response_dashboard",
    QuestionnaireResponse.patient_id,
    QuestionnaireResponse.instrument,
    QuestionnaireResponse.created_at,
    QuestionnaireResponse.total,
    QuestionnaireResponse.band,
)
