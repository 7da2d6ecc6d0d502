"""Add ``dispatchers``: the heartbeat rows of dispatcher processes sharing a store.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

A dispatcher on a network database (PostgreSQL) renews its row every few
seconds; a dispatcher on another host takes over its unfinished dispatches once
the row's ``beats`` count has stopped growing for a whole lease, or at once when
``stopped_at`` says it stopped.
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
        "dispatchers",
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("host", sa.String(), nullable=False),
        sa.Column("beats", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("beat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("owner", name="pk_dispatchers"),
    )


def downgrade() -> None:
    op.drop_table("dispatchers")
