"""Drop the index on nodes.key.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26

Reuse is decided against the parent dispatch's own nodes (read by dispatch id),
so nothing looks nodes up by key; the index only slowed every node insert
(about 40% of the cost of copying rows for a fully reused redispatch).
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_nodes_key", table_name="nodes")


def downgrade() -> None:
    op.create_index("ix_nodes_key", "nodes", ["key"])
