"""crm changes and inbox: what people did in the SQL CRM, and CRM webhooks as received

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 15:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "crm_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("source_id", sa.String(length=200), nullable=False),
        sa.Column("account_id", sa.String(length=128), nullable=True),
        sa.Column("task_key", sa.String(length=400), nullable=True),
        sa.Column("by_name", sa.String(length=200), nullable=True),
        sa.Column("by_id", sa.String(length=128), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("contact", sa.String(length=200), nullable=True),
        sa.Column("role", sa.String(length=32), nullable=True),
        sa.Column("owner_id", sa.String(length=128), nullable=True),
        sa.Column("owner_name", sa.String(length=200), nullable=True),
        sa.Column("owner_email", sa.String(length=320), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_crm_changes_account_id"), "crm_changes", ["account_id"], unique=False)
    op.create_table(
        "crm_inbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("crm", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("object_type", sa.String(length=64), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column("change", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("crm", "event_id", name="uq_crm_inbox_event"),
    )
    op.create_index(op.f("ix_crm_inbox_processed_at"), "crm_inbox", ["processed_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_crm_inbox_processed_at"), table_name="crm_inbox")
    op.drop_table("crm_inbox")
    op.drop_index(op.f("ix_crm_changes_account_id"), table_name="crm_changes")
    op.drop_table("crm_changes")
