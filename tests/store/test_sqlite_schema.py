"""A new SQLite store gets the schema the migrations make, without running them."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from valence.store import Store, migrate, sqlite_schema
from valence.store.sqlite_schema import migrated_with_alembic, normalised


def master(path: Path) -> set[tuple[str, str, str, str | None]]:
    """Every schema object of a database: type, name, table, SQL (whitespace normalised)."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
    finally:
        conn.close()
    return {(kind, name, table, sql and normalised(sql)) for kind, name, table, sql in rows}


def test_the_statements_make_what_the_migrations_make(tmp_path: Path) -> None:
    migrated_with_alembic(tmp_path / "migrated.db")
    with Store.open(f"sqlite:///{tmp_path / 'new.db'}", tmp_path / "blobs") as store:
        assert store.schema_revision() == migrate.HEAD_REVISION == sqlite_schema.REVISION
    expected = master(tmp_path / "migrated.db")
    assert len(expected) > 10
    assert master(tmp_path / "new.db") == expected, (
        "valence/store/sqlite_schema.py is out of date: python -m valence.store.sqlite_schema"
    )


def test_a_new_store_is_in_wal_mode_with_no_leftovers(tmp_path: Path) -> None:
    Store.open(f"sqlite:///{tmp_path / 'new.db'}", tmp_path / "blobs").close()
    conn = sqlite3.connect(tmp_path / "new.db")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (migrate.HEAD_REVISION,)
        ]
    finally:
        conn.close()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_new_store_is_made_without_alembic(tmp_path: Path) -> None:
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from valence.store import Store\n"
        "Store.open(sys.argv[1], Path(sys.argv[2])).close()\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic')))\n"
    )
    url, blobs = f"sqlite:///{tmp_path / 'new.db'}", str(tmp_path / "blobs")
    done = subprocess.run(
        [sys.executable, "-c", code, url, blobs], capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == []
    assert (tmp_path / "new.db").exists()


def test_a_stale_snapshot_falls_back_to_the_migrations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_schema, "REVISION", "0005")
    monkeypatch.setattr(sqlite_schema, "STATEMENTS", ("CREATE TABLE wrong (x)",))
    with Store.open(f"sqlite:///{tmp_path / 'new.db'}", tmp_path / "blobs") as store:
        assert store.schema_revision() == migrate.HEAD_REVISION
    assert ("table", "wrong", "wrong", "CREATE TABLE wrong (x)") not in master(tmp_path / "new.db")


def test_a_failed_creation_leaves_no_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_schema, "STATEMENTS", (*sqlite_schema.STATEMENTS, "NOT SQL"))
    with pytest.raises(sqlite3.OperationalError):
        Store.open(f"sqlite:///{tmp_path / 'new.db'}", tmp_path / "blobs")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "blobs") == []
