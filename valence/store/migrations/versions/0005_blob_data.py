"""Add the blob_data table.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

With ``VALENCE_BLOB_URL=db://`` the large blobs (over the inline limit) live in
this table of the store's own database instead of files, so several hosts that
share a PostgreSQL store share every value without a shared file system.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blob_data",
        sa.Column("digest", sa.String(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name="pk_blob_data"),
    )


def downgrade() -> None:
    op.drop_table("blob_data")
