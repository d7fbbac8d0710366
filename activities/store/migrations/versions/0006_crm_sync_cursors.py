"""crm sync cursors: where the CRM reconciler stopped reading changes

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 15:35:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "crm_sync_cursors",
        sa.Column("crm", sa.String(length=16), nullable=False),
        sa.Column("cursor", sa.String(length=200), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("crm"),
    )


def downgrade() -> None:
    op.drop_table("crm_sync_cursors")
