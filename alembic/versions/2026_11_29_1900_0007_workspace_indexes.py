"""clinician workspace indexes: sessions by time, for the triage dashboard

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 19:00:00

The dashboard lists the care team's sessions from two weeks back to two days ahead; with the
whole team in scope, PostgreSQL read the entire ``treatment_session`` table for it (a sequential
scan growing with every session ever held). Declared in ``companion/clinic/models.py``.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("treatment_session", schema=None) as batch_op:
        batch_op.create_index("ix_treatment_session_scheduled_at", ["scheduled_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("treatment_session", schema=None) as batch_op:
        batch_op.drop_index("ix_treatment_session_scheduled_at")
