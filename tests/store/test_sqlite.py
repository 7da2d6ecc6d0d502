"""The store contract on a real SQLite file, plus what only SQLite has."""

from __future__ import annotations

import importlib.resources
import stat
from pathlib import Path

import pytest

from tests.contracts import StoreContract, make_dispatch
from valence.errors import StoreError
from valence.store import Store


class TestSQLiteStore(StoreContract):
    @pytest.fixture
    def store_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'home' / 'db' / 'valence.db'}"


def test_database_file_is_private(tmp_path: Path) -> None:
    db = tmp_path / "new" / "dir" / "valence.db"
    with Store.open(f"sqlite:///{db}", tmp_path / "blobs") as store:
        store.record_dispatch(make_dispatch("d"), [], [])
        assert stat.S_IMODE(db.stat().st_mode) == 0o600
        assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
        for side in db.parent.glob("valence.db-*"):  # WAL and shared-memory files
            assert stat.S_IMODE(side.stat().st_mode) == 0o600


def test_connection_settings(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'v.db'}"
    with Store.open(url, tmp_path / "blobs") as store, store._engine.connect() as conn:
        pragma = lambda name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
        assert pragma("journal_mode") == "wal"
        assert pragma("synchronous") == 1  # NORMAL
        assert pragma("busy_timeout") >= 30_000
        assert pragma("foreign_keys") == 1


def test_in_memory_database_is_refused(tmp_path: Path) -> None:
    for url in ("sqlite://", "sqlite:///:memory:"):
        with pytest.raises(StoreError, match="in-memory SQLite"):
            Store.open(url, tmp_path / "blobs")


def test_foreign_tables_without_revision_are_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'v.db'}"
    with Store.open(url, tmp_path / "blobs") as store, store._engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE alembic_version")
    with pytest.raises(StoreError, match="no alembic_version"):
        Store.open(url, tmp_path / "blobs")


def test_migrations_ship_inside_the_package() -> None:
    store_pkg = importlib.resources.files("valence.store")
    assert store_pkg.joinpath("alembic.ini").is_file()
    assert store_pkg.joinpath("migrations", "env.py").is_file()
    assert store_pkg.joinpath("migrations", "script.py.mako").is_file()
    assert store_pkg.joinpath("migrations", "versions", "0001_initial.py").is_file()
    assert store_pkg.joinpath("migrations", "versions", "0002_drop_node_key_index.py").is_file()
