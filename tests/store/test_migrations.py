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
        assert store.schema_revision() == HEAD_REVISION == "0003"
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
