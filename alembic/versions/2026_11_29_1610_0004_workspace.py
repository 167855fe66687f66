"""clinician workspace: append-only audit trail and treatment plans

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 16:10:00

The audit table refuses UPDATE and DELETE for everyone who goes through the database engine's
normal paths: on SQLite with triggers that RAISE(ABORT); on PostgreSQL with a trigger function
that raises. Production should also grant the application's role only INSERT/SELECT on it
(LOG-03); the triggers make the rule hold on a single-role deployment and on SQLite.
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SQLITE_TRIGGERS = {
    "audit_event_no_update": "BEFORE UPDATE",
    "audit_event_no_delete": "BEFORE DELETE",
}


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_role", sa.String(length=16), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("what", sa.String(length=400), nullable=False),
        sa.Column("why", sa.String(length=400), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["user_account.id"], name=op.f("fk_audit_event_actor_id_user_account")),
        sa.ForeignKeyConstraint(["clinic_id"], ["clinic.id"], name=op.f("fk_audit_event_clinic_id_clinic")),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], name=op.f("fk_audit_event_patient_id_patient")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
        sa.UniqueConstraint("clinic_id", "seq", name=op.f("uq_audit_event_clinic_id_seq")),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index("ix_audit_event_clinic_actor_at", ["clinic_id", "actor_id", "at"], unique=False)
        batch_op.create_index("ix_audit_event_clinic_patient_at", ["clinic_id", "patient_id", "at"], unique=False)

    op.create_table(
        "treatment_plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("route", sa.String(length=24), nullable=False),
        sa.Column("frequency", sa.String(length=120), nullable=False),
        sa.Column("sessions_per_week", sa.Numeric(precision=3, scale=1, asdecimal=False), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "phase IN ('induction', 'optimisation', 'maintenance')", name=op.f("ck_treatment_plan_phase_value")
        ),
        sa.ForeignKeyConstraint(["clinic_id"], ["clinic.id"], name=op.f("fk_treatment_plan_clinic_id_clinic")),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["user_account.id"], name=op.f("fk_treatment_plan_created_by_id_user_account")
        ),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], name=op.f("fk_treatment_plan_patient_id_patient")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_treatment_plan")),
        sa.UniqueConstraint("code", name=op.f("uq_treatment_plan_code")),
    )
    with op.batch_alter_table("treatment_plan", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_treatment_plan_clinic_id"), ["clinic_id"], unique=False)
        batch_op.create_index("ix_treatment_plan_patient_time", ["patient_id", "created_at"], unique=False)

    # Covering indexes for the triage dashboard (see companion/clinic/models.py).
    with op.batch_alter_table("checkin", schema=None) as batch_op:
        batch_op.create_index(
            "ix_checkin_dashboard",
            ["patient_id", "local_date", "revision", "mood", "bp_systolic", "bp_diastolic"],
            unique=False,
        )
    with op.batch_alter_table("treatment_session", schema=None) as batch_op:
        batch_op.create_index(
            "ix_treatment_session_patient_status_time", ["patient_id", "status", "scheduled_at"], unique=False
        )
    with op.batch_alter_table("questionnaire_response", schema=None) as batch_op:
        batch_op.create_index(
            "ix_questionnaire_response_dashboard",
            ["patient_id", "instrument", "created_at", "total", "band"],
            unique=False,
        )

    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'audit_event is append-only (% refused)', TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END;
            $$
            """
        )
        op.execute(
            "CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event "
            "FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()"
        )
    else:
        for name, when in SQLITE_TRIGGERS.items():
            op.execute(
                f"CREATE TRIGGER {name} {when} ON audit_event "
                "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event")
        op.execute("DROP FUNCTION IF EXISTS audit_event_append_only()")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    for table, index in (
        ("questionnaire_response", "ix_questionnaire_response_dashboard"),
        ("treatment_session", "ix_treatment_session_patient_status_time"),
        ("checkin", "ix_checkin_dashboard"),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(index)
    with op.batch_alter_table("treatment_plan", schema=None) as batch_op:
        batch_op.drop_index("ix_treatment_plan_patient_time")
        batch_op.drop_index(batch_op.f("ix_treatment_plan_clinic_id"))
    op.drop_table("treatment_plan")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_event_clinic_patient_at")
        batch_op.drop_index("ix_audit_event_clinic_actor_at")
    op.drop_table("audit_event")
