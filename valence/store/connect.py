"""Create the store's one SQLAlchemy engine for a URL (SQLite or PostgreSQL).

SQLite gets a private database file (mode 0600, in a 0700 directory), WAL
journaling, ``synchronous=NORMAL``, a long busy timeout and foreign keys. Its
driver's own transaction handling is switched off so that valence emits
``BEGIN`` itself: write transactions use ``BEGIN IMMEDIATE`` (see
:data:`WRITE_OPTION`), which takes the write lock up front, so a writer never
fails half-way with "database is locked" because another process wrote first.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url

from valence.errors import StoreError

BUSY_TIMEOUT_S = 60
"""How long a SQLite connection waits for another writer's lock, in seconds."""

WRITE_OPTION = "valence_write"
"""Execution option marking a connection that will write (``BEGIN IMMEDIATE``)."""


def describe(url: str | URL) -> str:
    """The URL as it may be shown to a user (password hidden)."""
    return make_url(url).render_as_string(hide_password=True)


def create_store_engine(url: str) -> Engine:
    """An engine for ``url``, with the SQLite settings above when it is SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True)
    path = _sqlite_path(parsed)
    _create_private_file(path)
    engine = create_engine(
        parsed,
        connect_args={"timeout": BUSY_TIMEOUT_S},
        pool_size=5,
        max_overflow=20,
    )
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def _sqlite_path(url: URL) -> Path:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or "mode=memory" in database
    if in_memory or url.query.get("mode") == "memory":
        raise StoreError(
            f"{describe(url)} is an in-memory SQLite database, which each connection sees "
            "separately; use a file, e.g. sqlite:///path/to/valence.db"
        )
    if database.startswith("file:"):
        database = database[len("file:") :].split("?", 1)[0]
    return Path(database).expanduser()


def _create_private_file(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def _on_sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
    dbapi_connection.isolation_level = None  # valence issues BEGIN itself
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _on_sqlite_begin(conn: Connection) -> None:
    write = conn.get_execution_options().get(WRITE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
