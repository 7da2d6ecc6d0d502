"""The schema Alembic's migrations give a new SQLite database, as plain statements.

A new SQLite store is made from these statements instead of by running every
migration: no Alembic import and no DDL compiling on a new user's first dispatch.
``tests/store/test_sqlite_schema.py`` migrates a database to head with Alembic and
checks that its ``sqlite_master`` matches the one these statements make (same
objects, same SQL up to whitespace); after adding a migration, print the new
statements with ``python -m valence.store.sqlite_schema`` and paste them here.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

REVISION = "0006"
"""The migration these statements stand for: they are used only while it is the head."""

STATEMENTS: tuple[str, ...] = (
    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
    "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))",
    "CREATE TABLE dispatches (dispatch_id VARCHAR NOT NULL, name VARCHAR NOT NULL, "
    "status VARCHAR NOT NULL, root_dispatch_id VARCHAR NOT NULL, created_at DATETIME NOT NULL, "
    "lattice_digest VARCHAR, lattice_source TEXT NOT NULL, inputs_digest VARCHAR, "
    "graph JSON NOT NULL, parent_dispatch_id VARCHAR, parent_node_id INTEGER, "
    "redispatched_from VARCHAR, start_time DATETIME, end_time DATETIME, "
    "result_digest VARCHAR, error TEXT, python_version VARCHAR NOT NULL, "
    "environment JSON NOT NULL, metadata JSON NOT NULL, owner VARCHAR, "
    "CONSTRAINT pk_dispatches PRIMARY KEY (dispatch_id))",
    "CREATE INDEX ix_dispatches_created_at ON dispatches (created_at)",
    "CREATE INDEX ix_dispatches_status ON dispatches (status)",
    "CREATE INDEX ix_dispatches_redispatched_from ON dispatches (redispatched_from)",
    "CREATE INDEX ix_dispatches_parent_dispatch_id ON dispatches (parent_dispatch_id)",
    "CREATE TABLE nodes (dispatch_id VARCHAR NOT NULL, node_id INTEGER NOT NULL, "
    'name VARCHAR NOT NULL, kind VARCHAR NOT NULL, status VARCHAR NOT NULL, "key" VARCHAR, '
    "not_reusable TEXT, function_digest VARCHAR, source_digest VARCHAR, value_digest VARCHAR, "
    "metadata JSON NOT NULL, executor VARCHAR, start_time DATETIME, end_time DATETIME, "
    "output_digest VARCHAR, stdout TEXT NOT NULL, stderr TEXT NOT NULL, error TEXT, "
    "traceback TEXT, attempts INTEGER NOT NULL, sub_dispatch_id VARCHAR, "
    "reused_from_dispatch VARCHAR, reused_from_node INTEGER, reason JSON, "
    "CONSTRAINT pk_nodes PRIMARY KEY (dispatch_id, node_id), "
    "CONSTRAINT fk_nodes_dispatch_id_dispatches FOREIGN KEY(dispatch_id) "
    "REFERENCES dispatches (dispatch_id) ON DELETE CASCADE)",
    "CREATE TABLE edges (dispatch_id VARCHAR NOT NULL, edge_index INTEGER NOT NULL, "
    "parent_id INTEGER NOT NULL, child_id INTEGER NOT NULL, edge_name VARCHAR NOT NULL, "
    "param_type VARCHAR NOT NULL, arg_index INTEGER, "
    "CONSTRAINT pk_edges PRIMARY KEY (dispatch_id, edge_index), "
    "CONSTRAINT fk_edges_dispatch_id_dispatches FOREIGN KEY(dispatch_id) "
    "REFERENCES dispatches (dispatch_id) ON DELETE CASCADE)",
    "CREATE TABLE blobs (digest VARCHAR NOT NULL, size BIGINT NOT NULL, "
    "location VARCHAR NOT NULL, data BLOB, CONSTRAINT pk_blobs PRIMARY KEY (digest))",
    "CREATE TABLE node_keys (hash VARCHAR NOT NULL, dispatch_id VARCHAR NOT NULL, "
    "node_id INTEGER NOT NULL, CONSTRAINT pk_node_keys PRIMARY KEY (hash, dispatch_id, node_id), "
    "CONSTRAINT fk_node_keys_dispatch_id_dispatches FOREIGN KEY(dispatch_id) "
    "REFERENCES dispatches (dispatch_id) ON DELETE CASCADE) WITHOUT ROWID",
    "CREATE TABLE triggers (trigger_id INTEGER NOT NULL, dispatch_id VARCHAR NOT NULL, "
    "name VARCHAR NOT NULL, spec BLOB NOT NULL, status VARCHAR NOT NULL, owner VARCHAR, "
    "created_at DATETIME NOT NULL, stopped_at DATETIME, fired INTEGER NOT NULL, "
    "new_dispatch_ids JSON NOT NULL, last_error TEXT, "
    "CONSTRAINT pk_triggers PRIMARY KEY (trigger_id))",
    "CREATE INDEX ix_triggers_dispatch_id ON triggers (dispatch_id)",
    "CREATE INDEX ix_triggers_status ON triggers (status)",
    "CREATE TABLE blob_data (digest VARCHAR NOT NULL, data BLOB NOT NULL, "
    "CONSTRAINT pk_blob_data PRIMARY KEY (digest))",
    "CREATE TABLE dispatchers (owner VARCHAR NOT NULL, host VARCHAR NOT NULL, "
    "beats BIGINT NOT NULL, started_at DATETIME NOT NULL, beat_at DATETIME NOT NULL, "
    "stopped_at DATETIME, CONSTRAINT pk_dispatchers PRIMARY KEY (owner))",
)


def create(conn: sqlite3.Connection) -> None:
    """Make the schema and stamp :data:`REVISION` in an empty database, in one transaction.

    ``conn`` must be in autocommit mode (``isolation_level=None``).
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in STATEMENTS:
            conn.execute(statement)
        conn.execute("INSERT INTO alembic_version (version_num) VALUES (?)", (REVISION,))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def normalised(sql: str) -> str:
    """``sql`` with every run of whitespace one space, and none inside parentheses' edges."""
    return " ".join(sql.split()).replace("( ", "(").replace(" )", ")")


def migrated_with_alembic(path: Path) -> None:
    """Make a new SQLite database at ``path`` by running every migration (tests, ``_main``)."""
    from sqlalchemy import create_engine

    from valence.store.migrate import _upgrade

    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:
            _upgrade(conn)
    finally:
        engine.dispose()


def _main() -> None:
    """Print the statements of a database migrated to head (to paste into this file)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "new.db")
        migrated_with_alembic(path)
        conn = sqlite3.connect(path)
        try:
            query = "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid"
            for (sql,) in conn.execute(query).fetchall():
                print(f"    {normalised(sql)!r},")
        finally:
            conn.close()


if __name__ == "__main__":
    _main()
