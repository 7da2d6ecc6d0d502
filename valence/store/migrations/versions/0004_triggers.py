"""Add the triggers table.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

A trigger (``valence.triggers``) is stored with its dispatch so that a server
that restarts observes it again, with its firing count and the dispatches it
started.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "triggers",
        sa.Column("trigger_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dispatch_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("spec", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("owner", sa.String()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True)),
        sa.Column("fired", sa.Integer(), nullable=False),
        sa.Column("new_dispatch_ids", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.PrimaryKeyConstraint("trigger_id", name="pk_triggers"),
    )
    op.create_index("ix_triggers_dispatch_id", "triggers", ["dispatch_id"])
    op.create_index("ix_triggers_status", "triggers", ["status"])


def downgrade() -> None:
    op.drop_index("ix_triggers_status", table_name="triggers")
    op.drop_index("ix_triggers_dispatch_id", table_name="triggers")
    op.drop_table("triggers")
