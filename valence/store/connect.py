"""Create the store's one SQLAlchemy engine for a URL (SQLite or PostgreSQL).

SQLite gets a private database file (mode 0600, in a 0700 directory), WAL
journaling, ``synchronous=NORMAL``, a long busy timeout and foreign keys. Its
driver's own transaction handling is switched off so that valence emits
``BEGIN`` itself: write transactions use ``BEGIN IMMEDIATE`` (see
:data:`WRITE_OPTION`), which takes the write lock up front, so a writer never
fails half-way with "database is locked" because another process wrote first.

A database file that SQLite finds damaged (not a database, a malformed page)
raises :class:`StoreDamagedError`, naming the file and how to recover, instead
of a driver traceback.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url

from valence.errors import StoreDamagedError, StoreError

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
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    engine = create_engine(
        parsed,
        connect_args={"timeout": BUSY_TIMEOUT_S},
        pool_size=5,
        max_overflow=20,
    )
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    event.listen(engine, "handle_error", lambda ctx: _damaged(path, ctx.original_exception))
    return engine


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL given as a plain path; None for anything else."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or (parsed.database or "").startswith("file:"):
        return None
    return _sqlite_path(parsed)


_DAMAGE = ("file is not a database", "database disk image is malformed")


def _damaged(path: Path, exc: BaseException | None) -> StoreDamagedError | None:
    """The clear error for a driver error that means the file is damaged, else None."""
    message = str(exc)
    if not isinstance(exc, sqlite3.DatabaseError) or not message.startswith(_DAMAGE):
        return None
    return damaged_error(path, message)


def damaged_error(path: Path, what: str) -> StoreDamagedError:
    return StoreDamagedError(
        f"the valence database {path} is damaged ({what}). Stop every valence process using "
        "it and keep a copy of the file; then restore a backup, or salvage what is readable "
        f"with the sqlite3 shell (`sqlite3 {path} .recover | sqlite3 recovered.db`) and point "
        "VALENCE_DATABASE_URL at recovered.db, or move the file away to start an empty store"
    )


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
