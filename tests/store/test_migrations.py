"""An older schema is upgraded in place when the store opens it."""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from valence.store import Store
from valence.store.migrate import HEAD_REVISION, MIGRATIONS_DIR
from valence.store.records import DispatchRecord, NodeRecord


def test_database_at_0001_is_upgraded_to_head(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
    with engine.connect() as conn:
        indexes = {ix["name"] for ix in sa.inspect(conn).get_indexes("nodes")}
    assert "ix_nodes_key" in indexes
    engine.dispose()

    with Store.open(url, tmp_path / "blobs") as store:
        assert store.schema_revision() == HEAD_REVISION == "0006"
        assert store.get_triggers() == []
        now = datetime.now(timezone.utc)
        store.record_dispatch(
            DispatchRecord("d1", "flow", "COMPLETED", "d1", now),
            [NodeRecord("d1", 0, "task", "electron", "COMPLETED", key="k")],
            [],
        )
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        indexes = {ix["name"] for ix in sa.inspect(conn).get_indexes("nodes")}
    engine.dispose()
    assert "ix_nodes_key" not in indexes
    with Store.open(url, tmp_path / "blobs") as store:
        assert store.get_nodes("d1")[0].key == "k"


def _at_revision(url: str, revision: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    engine.dispose()


def test_upgrade_to_0003_indexes_the_keys_of_nodes_that_ran(tmp_path):
    """Completed task nodes that ran are backfilled; reused, helper and failed ones are not."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    _at_revision(url, "0002")
    now = datetime.now(timezone.utc)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO dispatches (dispatch_id, name, status, root_dispatch_id, created_at, "
                "lattice_source, graph, python_version, environment, metadata) VALUES "
                "('d1', 'flow', 'COMPLETED', 'd1', :now, '', '{}', '3', '{}', '{}')"
            ),
            {"now": now},
        )
        rows = [
            (0, "electron", "COMPLETED", "k-ran", "o" * 64, None),
            (1, "electron", "COMPLETED", "k-reused", "o" * 64, "d0"),
            (2, "parameter", "COMPLETED", "k-param", "o" * 64, None),
            (3, "electron", "FAILED", "k-failed", None, None),
            (4, "sublattice", "COMPLETED", "k-sub", "o" * 64, None),
        ]
        for node_id, kind, status, key, output, reused in rows:
            conn.execute(
                sa.text(
                    "INSERT INTO nodes (dispatch_id, node_id, name, kind, status, key, metadata, "
                    "output_digest, stdout, stderr, attempts, reused_from_dispatch) VALUES "
                    "('d1', :i, 'n', :kind, :status, :key, '{}', :out, '', '', 1, :reused)"
                ),
                {
                    "i": node_id,
                    "kind": kind,
                    "status": status,
                    "key": key,
                    "out": output,
                    "reused": reused,
                },
            )
    engine.dispose()
    with Store.open(url, tmp_path / "blobs") as store:
        assert store.schema_revision() == HEAD_REVISION  # through 0003, then later ones
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        indexed = sorted(conn.execute(sa.text("SELECT hash, node_id FROM node_keys")).all())
    engine.dispose()
    assert indexed == [("k-ran", 0), ("k-sub", 4)]
