"""``SQLiteTrigger`` and ``DatabaseTrigger``: fire while a table has rows matching conditions.

As in Covalent, every ``poll_interval`` seconds the trigger selects the rows
of ``table_name`` matching all ``where_clauses``; each poll that finds rows
counts one event, and every ``trigger_after_n`` events it fires. A poll that
fails (the table does not exist yet, the database is locked) is logged and
retried at the next interval.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from valence.triggers.base import BaseTrigger

log = logging.getLogger("valence.triggers")


class _PollingTrigger(BaseTrigger):
    def __init__(
        self,
        db_path: str,
        table_name: str,
        poll_interval: float = 1,
        where_clauses: list[str] | None = None,
        trigger_after_n: int = 1,
        lattice_dispatch_id: str | None = None,
        dispatcher_addr: str | None = None,
        triggers_server_addr: str | None = None,
    ) -> None:
        super().__init__(lattice_dispatch_id, dispatcher_addr, triggers_server_addr)
        if isinstance(poll_interval, bool) or not isinstance(poll_interval, int | float):
            raise ValueError(f"poll_interval takes seconds > 0, not {poll_interval!r}")
        if poll_interval <= 0:
            raise ValueError(f"poll_interval takes seconds > 0, not {poll_interval!r}")
        if not isinstance(trigger_after_n, int) or trigger_after_n < 1:
            raise ValueError(f"trigger_after_n takes a whole number >= 1, not {trigger_after_n!r}")
        self.db_path = db_path
        self.table_name = table_name
        self.poll_interval = poll_interval
        self.where_clauses = where_clauses
        self.trigger_after_n = trigger_after_n

    def query(self) -> str:
        sql = f"SELECT * FROM {self.table_name}"
        if self.where_clauses:
            sql += " WHERE " + " AND ".join(self.where_clauses)
        return sql

    def _poll(self, connection: Any) -> bool:
        raise NotImplementedError

    def _connect(self) -> Any:
        raise NotImplementedError

    def observe(self) -> None:
        flag = self.stop_flag
        assert flag is not None
        events = 0
        connection = self._connect()
        try:
            while not flag.is_set():
                try:
                    found = self._poll(connection)
                except Exception as exc:  # retried at the next interval, never silent
                    log.warning("%r: polling failed: %s", self, exc)
                    found = False
                if found:
                    events += 1
                    if events == self.trigger_after_n:
                        events = 0
                        self.trigger()
                flag.wait(self.poll_interval)
        finally:
            connection.close()


class SQLiteTrigger(_PollingTrigger):
    """Fires while the SQLite file ``db_path`` has rows in ``table_name`` matching the clauses."""

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.db_path, check_same_thread=False)

    def _poll(self, connection: sqlite3.Connection) -> bool:
        return bool(connection.execute(self.query()).fetchall())


class DatabaseTrigger(_PollingTrigger):
    """Like ``SQLiteTrigger`` for any database SQLAlchemy reaches (``db_path`` is its URL)."""

    def _connect(self) -> Any:
        from sqlalchemy import create_engine

        engine = create_engine(self.db_path)
        return _EngineConnection(engine)

    def _poll(self, connection: Any) -> bool:
        from sqlalchemy import text

        with connection.engine.connect() as conn:
            return bool(conn.execute(text(self.query())).first())


class _EngineConnection:
    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def close(self) -> None:
        self.engine.dispose()
