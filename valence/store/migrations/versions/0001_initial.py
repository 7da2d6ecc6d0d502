"""Initial schema: dispatches, nodes, edges, blobs.

Revision ID: 0001
Revises:
Create Date: 2026-11-26

A migration is a frozen snapshot: it spells out its own columns instead of
importing ``valence.store.tables``, which will move on.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _json() -> sa.JSON:
    return sa.JSON(none_as_null=True)


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "dispatches",
        sa.Column("dispatch_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("root_dispatch_id", sa.String(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("lattice_digest", sa.String(), nullable=True),
        sa.Column("lattice_source", sa.Text(), nullable=False),
        sa.Column("inputs_digest", sa.String(), nullable=True),
        sa.Column("graph", _json(), nullable=False),
        sa.Column("parent_dispatch_id", sa.String(), nullable=True),
        sa.Column("parent_node_id", sa.Integer(), nullable=True),
        sa.Column("redispatched_from", sa.String(), nullable=True),
        sa.Column("start_time", _time(), nullable=True),
        sa.Column("end_time", _time(), nullable=True),
        sa.Column("result_digest", sa.String(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("python_version", sa.String(), nullable=False),
        sa.Column("environment", _json(), nullable=False),
        sa.Column("metadata", _json(), nullable=False),
        sa.Column("owner", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("dispatch_id", name="pk_dispatches"),
    )
    for column in ("created_at", "status", "redispatched_from", "parent_dispatch_id"):
        op.create_index(f"ix_dispatches_{column}", "dispatches", [column])

    op.create_table(
        "nodes",
        sa.Column("dispatch_id", sa.String(), nullable=False),
        sa.Column("node_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("key", sa.String(), nullable=True),
        sa.Column("not_reusable", sa.Text(), nullable=True),
        sa.Column("function_digest", sa.String(), nullable=True),
        sa.Column("source_digest", sa.String(), nullable=True),
        sa.Column("value_digest", sa.String(), nullable=True),
        sa.Column("metadata", _json(), nullable=False),
        sa.Column("executor", sa.String(), nullable=True),
        sa.Column("start_time", _time(), nullable=True),
        sa.Column("end_time", _time(), nullable=True),
        sa.Column("output_digest", sa.String(), nullable=True),
        sa.Column("stdout", sa.Text(), nullable=False),
        sa.Column("stderr", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("traceback", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sub_dispatch_id", sa.String(), nullable=True),
        sa.Column("reused_from_dispatch", sa.String(), nullable=True),
        sa.Column("reused_from_node", sa.Integer(), nullable=True),
        sa.Column("reason", _json(), nullable=True),
        sa.ForeignKeyConstraint(
            ["dispatch_id"],
            ["dispatches.dispatch_id"],
            name="fk_nodes_dispatch_id_dispatches",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dispatch_id", "node_id", name="pk_nodes"),
    )
    op.create_index("ix_nodes_key", "nodes", ["key"])

    op.create_table(
        "edges",
        sa.Column("dispatch_id", sa.String(), nullable=False),
        sa.Column("edge_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=False),
        sa.Column("child_id", sa.Integer(), nullable=False),
        sa.Column("edge_name", sa.String(), nullable=False),
        sa.Column("param_type", sa.String(), nullable=False),
        sa.Column("arg_index", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["dispatch_id"],
            ["dispatches.dispatch_id"],
            name="fk_edges_dispatch_id_dispatches",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dispatch_id", "edge_index", name="pk_edges"),
    )

    op.create_table(
        "blobs",
        sa.Column("digest", sa.String(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("location", sa.String(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("digest", name="pk_blobs"),
    )


def downgrade() -> None:
    op.drop_table("blobs")
    op.drop_table("edges")
    op.drop_index("ix_nodes_key", table_name="nodes")
    op.drop_table("nodes")
    for column in ("created_at", "status", "redispatched_from", "parent_dispatch_id"):
        op.drop_index(f"ix_dispatches_{column}", table_name="dispatches")
    op.drop_table("dispatches")
