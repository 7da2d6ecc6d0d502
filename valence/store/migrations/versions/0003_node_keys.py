"""Add ``node_keys``: the keys of nodes that ran to completion, for reuse from the whole store.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30

Each row says "node (dispatch_id, node_id) computed the result for ``hash``",
where ``hash`` is the node's Merkle key or its data key (its code with its
parents' output digests, for early cutoff). Rows are written only when a task
or sublattice node *runs* and completes, never for reused nodes, so copying a
reused dispatch pays nothing; an index on ``nodes.key`` would (revision 0002
dropped it for that reason). Existing completed nodes that ran are backfilled
with their Merkle keys (their data keys are unknown).
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
        "node_keys",
        sa.Column("hash", sa.String(), nullable=False),
        sa.Column("dispatch_id", sa.String(), nullable=False),
        sa.Column("node_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(
            ["dispatch_id"],
            ["dispatches.dispatch_id"],
            name="fk_node_keys_dispatch_id_dispatches",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("hash", "dispatch_id", "node_id", name="pk_node_keys"),
        sqlite_with_rowid=False,
    )
    op.execute(
        "INSERT INTO node_keys (hash, dispatch_id, node_id) "
        "SELECT key, dispatch_id, node_id FROM nodes "
        "WHERE status = 'COMPLETED' AND key IS NOT NULL AND output_digest IS NOT NULL "
        "AND reused_from_dispatch IS NULL AND kind IN ('electron', 'sublattice')"
    )


def downgrade() -> None:
    op.drop_table("node_keys")
