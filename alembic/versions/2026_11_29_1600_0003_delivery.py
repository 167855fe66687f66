"""delivery: push subscriptions, delivery attempts, notification preferences, reminder schedules

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notification_preference",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("push_enabled", sa.Boolean(), nullable=False),
        sa.Column("email_enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["clinic_id"], ["clinic.id"], name=op.f("fk_notification_preference_clinic_id_clinic")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_notification_preference_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_preference")),
        sa.UniqueConstraint("user_id", name=op.f("uq_notification_preference_user_id")),
    )
    op.create_table(
        "push_subscription",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("endpoint", sa.String(length=1000), nullable=False),
        sa.Column("p256dh", sa.String(length=200), nullable=False),
        sa.Column("auth", sa.String(length=100), nullable=False),
        sa.Column("label", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["clinic_id"], ["clinic.id"], name=op.f("fk_push_subscription_clinic_id_clinic")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_push_subscription_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_subscription")),
        sa.UniqueConstraint("code", name=op.f("uq_push_subscription_code")),
        sa.UniqueConstraint("endpoint", name=op.f("uq_push_subscription_endpoint")),
    )
    with op.batch_alter_table("push_subscription", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_push_subscription_clinic_id"), ["clinic_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_push_subscription_user_id"), ["user_id"], unique=False)
    op.create_table(
        "reminder_schedule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("local_time", sa.Time(), nullable=False),
        sa.Column("zone", sa.String(length=64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_local_date", sa.Date(), nullable=True),
        sa.Column("last_local_date", sa.Date(), nullable=True),
        sa.Column("quiet_start", sa.Time(), nullable=True),
        sa.Column("quiet_end", sa.Time(), nullable=True),
        sa.Column("paused_until", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["clinic_id"], ["clinic.id"], name=op.f("fk_reminder_schedule_clinic_id_clinic")),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], name=op.f("fk_reminder_schedule_patient_id_patient")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminder_schedule")),
        sa.UniqueConstraint("patient_id", "kind", name=op.f("uq_reminder_schedule_patient_id_kind")),
    )
    with op.batch_alter_table("reminder_schedule", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reminder_schedule_clinic_id"), ["clinic_id"], unique=False)
        batch_op.create_index("ix_reminder_schedule_due", ["enabled", "next_due_at"], unique=False)
    op.create_table(
        "reminder_occurrence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["clinic_id"], ["clinic.id"], name=op.f("fk_reminder_occurrence_clinic_id_clinic")),
        sa.ForeignKeyConstraint(
            ["schedule_id"], ["reminder_schedule.id"], name=op.f("fk_reminder_occurrence_schedule_id_reminder_schedule")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminder_occurrence")),
        sa.UniqueConstraint("schedule_id", "local_date", name=op.f("uq_reminder_occurrence_schedule_id_local_date")),
    )
    op.create_table(
        "delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("outbox_message_id", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=24), nullable=True),
        sa.Column("status_code", sa.SmallInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["clinic_id"], ["clinic.id"], name=op.f("fk_delivery_clinic_id_clinic")),
        sa.ForeignKeyConstraint(
            ["outbox_message_id"], ["outbox_message.id"], name=op.f("fk_delivery_outbox_message_id_outbox_message")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"], ["push_subscription.id"], name=op.f("fk_delivery_subscription_id_push_subscription")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery")),
    )
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_delivery_outbox_message_id"), ["outbox_message_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_delivery_subscription_id"), ["subscription_id"], unique=False)
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reminder_occurrence_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_outbox_message_reminder_occurrence_id"), ["reminder_occurrence_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_outbox_message_reminder_occurrence_id_reminder_occurrence"),
            "reminder_occurrence",
            ["reminder_occurrence_id"],
            ["id"],
        )

    # ### end Alembic commands ###


def downgrade() -> None:
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_outbox_message_reminder_occurrence_id_reminder_occurrence"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_outbox_message_reminder_occurrence_id"))
        batch_op.drop_column("reminder_occurrence_id")
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_subscription_id"))
        batch_op.drop_index(batch_op.f("ix_delivery_outbox_message_id"))
    op.drop_table("delivery")
    op.drop_table("reminder_occurrence")
    with op.batch_alter_table("reminder_schedule", schema=None) as batch_op:
        batch_op.drop_index("ix_reminder_schedule_due")
        batch_op.drop_index(batch_op.f("ix_reminder_schedule_clinic_id"))
    op.drop_table("reminder_schedule")
    with op.batch_alter_table("push_subscription", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_push_subscription_user_id"))
        batch_op.drop_index(batch_op.f("ix_push_subscription_clinic_id"))
    op.drop_table("push_subscription")
    op.drop_table("notification_preference")
    # ### end Alembic commands ###
