"""pre-session checklist: one answer set per treatment session

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 18:00:00

The patient answers the checklist from the day before a session until it starts; a later answer
replaces the earlier one in place (``answered_at`` records when). The clinic's fasting window per
route lives in ``clinic.settings["session_prep"]`` (JSON), so it needs no column here.
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_prep",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("treatment_session_id", sa.Integer(), nullable=False),
        sa.Column("fasting_ok", sa.Boolean(), nullable=False),
        sa.Column("ride_home", sa.Boolean(), nullable=False),
        sa.Column("medication_changes", sa.Boolean(), nullable=False),
        sa.Column("medication_note", sa.String(length=200), nullable=False),
        sa.Column("bp_systolic", sa.SmallInteger(), nullable=True),
        sa.Column("bp_diastolic", sa.SmallInteger(), nullable=True),
        sa.Column("nasal_spray", sa.String(length=16), nullable=True),
        sa.Column("answered_by_id", sa.Integer(), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(bp_systolic IS NULL AND bp_diastolic IS NULL) OR (bp_systolic IS NOT NULL AND bp_diastolic IS NOT NULL)",
            name=op.f("ck_session_prep_bp_pair"),
        ),
        sa.CheckConstraint(
            "nasal_spray IS NULL OR nasal_spray IN ('not_used', 'on_time', 'not_on_time')",
            name=op.f("ck_session_prep_nasal_spray_value"),
        ),
        sa.ForeignKeyConstraint(
            ["answered_by_id"], ["user_account.id"], name=op.f("fk_session_prep_answered_by_id_user_account")
        ),
        sa.ForeignKeyConstraint(["clinic_id"], ["clinic.id"], name=op.f("fk_session_prep_clinic_id_clinic")),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], name=op.f("fk_session_prep_patient_id_patient")),
        sa.ForeignKeyConstraint(
            ["treatment_session_id"],
            ["treatment_session.id"],
            name=op.f("fk_session_prep_treatment_session_id_treatment_session"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_prep")),
        sa.UniqueConstraint("code", name=op.f("uq_session_prep_code")),
        sa.UniqueConstraint("treatment_session_id", name=op.f("uq_session_prep_treatment_session_id")),
    )
    with op.batch_alter_table("session_prep", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_session_prep_clinic_id"), ["clinic_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_session_prep_patient_id"), ["patient_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("session_prep", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_prep_patient_id"))
        batch_op.drop_index(batch_op.f("ix_session_prep_clinic_id"))
    op.drop_table("session_prep")
