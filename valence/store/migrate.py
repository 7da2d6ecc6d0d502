"""Schema versions: check the database's Alembic revision on open, upgrade if older.

The revisions ship inside the package (``migrations/versions``). A database at
:data:`HEAD_REVISION` is accepted after one ``SELECT`` (no Alembic import); an
empty or older one is upgraded under a lock (SQLite ``BEGIN IMMEDIATE``,
PostgreSQL advisory lock) so two processes opening a new database at once do
not both create it; a revision this valence does not know is taken to be newer
and refused with :class:`SchemaVersionError`, leaving the database untouched.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

from valence.errors import SchemaVersionError, StoreError
from valence.store.connect import WRITE_OPTION, describe

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory

HEAD_REVISION = "0006"
"""The newest revision in ``migrations/versions``; a test keeps the two in step."""

VERSION_TABLE = "alembic_version"
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_PG_LOCK_KEY = 0x76616C656E6365  # "valence": serialises migrations on one server


def read_revision(conn: Connection) -> str | None:
    """The revision stamped in the database, or None for a database never migrated."""
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    revisions = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    if len(revisions) > 1:
        raise StoreError(f"{VERSION_TABLE} holds several revisions {revisions}; expected one")
    return revisions[0] if revisions else None


def ensure_schema(engine: Engine) -> None:
    """Bring the database to :data:`HEAD_REVISION`, or refuse a newer one."""
    with engine.connect() as conn:
        if read_revision(conn) == HEAD_REVISION:
            return
    with engine.execution_options(**{WRITE_OPTION: True}).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        current = read_revision(conn)  # again, now that we hold the lock
        if current == HEAD_REVISION:
            return
        if current is None and inspect(conn).has_table("dispatches"):
            raise StoreError(
                f"database {describe(engine.url)} has valence tables but no {VERSION_TABLE}; "
                "it was not created by valence's migrations: point VALENCE_DATABASE_URL elsewhere"
            )
        if current is not None and current not in known_revisions():
            raise SchemaVersionError(
                f"database {describe(engine.url)} has schema revision {current}, newer than "
                f"this valence understands ({HEAD_REVISION}); upgrade valence or point "
                "VALENCE_HOME/VALENCE_DATABASE_URL elsewhere"
            )
        _upgrade(conn)


def known_revisions() -> set[str]:
    """Every revision id shipped with this valence."""
    return {script.revision for script in _script_directory().walk_revisions()}


def script_head() -> str | None:
    """The head revision according to Alembic (tests compare it to HEAD_REVISION)."""
    return _script_directory().get_current_head()


def _script_directory() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS_DIR))


def _upgrade(conn: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.attributes["connection"] = conn
    command.upgrade(config, "head")
