"""break-glass grants (AC-06); the audit copy (LOG-03) needs no table

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 18:30:00

A grant lets one clinician read one patient's record of their own clinic, not on their care team,
until ``expires_at``; the clinic's admins mark it reviewed. The grant and every view under it are
rows of the (append-only) audit trail; the grant table itself is not append-only, since review
sets ``reviewed_at``.

The separate copy of the audit trail is a directory of JSON-lines files (COMPANION_AUDIT_COPY_DIR)
with its own high-water mark, kept outside the database on purpose.
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "break_glass_grant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("clinician_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reviewed_by_id", sa.Integer(), nullable=True),
        sa.Column("review_outcome", sa.String(length=16), nullable=True),
        sa.CheckConstraint("expires_at > created_at", name=op.f("ck_break_glass_grant_expires_after_created")),
        sa.ForeignKeyConstraint(["clinic_id"], ["clinic.id"], name=op.f("fk_break_glass_grant_clinic_id_clinic")),
        sa.ForeignKeyConstraint(
            ["clinician_id"], ["user_account.id"], name=op.f("fk_break_glass_grant_clinician_id_user_account")
        ),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], name=op.f("fk_break_glass_grant_patient_id_patient")),
        sa.ForeignKeyConstraint(
            ["reviewed_by_id"], ["user_account.id"], name=op.f("fk_break_glass_grant_reviewed_by_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_break_glass_grant")),
        sa.UniqueConstraint("code", name=op.f("uq_break_glass_grant_code")),
    )
    with op.batch_alter_table("break_glass_grant", schema=None) as batch_op:
        batch_op.create_index(
            "ix_break_glass_grant_clinician_patient_expires", ["clinician_id", "patient_id", "expires_at"], unique=False
        )
        batch_op.create_index(
            "ix_break_glass_grant_clinic_reviewed", ["clinic_id", "reviewed_at", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("break_glass_grant", schema=None) as batch_op:
        batch_op.drop_index("ix_break_glass_grant_clinic_reviewed")
        batch_op.drop_index("ix_break_glass_grant_clinician_patient_expires")
    op.drop_table("break_glass_grant")
