"""The store's dispatcher heartbeat rows (a mixin of ``Store``).

A dispatcher renews its row while it lives (:meth:`LeaseRows.beat`) and marks it
stopped when it shuts down cleanly (:meth:`LeaseRows.retire`). Peers read the rows
(:meth:`LeaseRows.beats`) to judge dispatchers on other hosts, whose process ids
mean nothing here: see :mod:`valence.engine.lease`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Connection, Engine, insert, select, update

from valence.store.tables import dispatchers as dispatchers_t


@dataclass(frozen=True)
class Heartbeat:
    """What a peer sees of a dispatcher: how often it renewed, and whether it stopped."""

    owner: str
    host: str
    beats: int
    stopped: bool


class LeaseRows:
    """Dispatcher rows; ``Store`` provides ``_engine`` and ``_write``."""

    _engine: Engine
    _write: Callable[[], AbstractContextManager[Connection]]

    def shares_work(self) -> bool:
        """Whether dispatchers on other hosts may use this store (a network database)."""
        return self._engine.dialect.name != "sqlite"

    def beat(self, owner: str, host: str) -> None:
        """Renew ``owner``'s row (create it on the first beat)."""
        now = datetime.now(timezone.utc)
        c = dispatchers_t.c
        renew = (
            update(dispatchers_t)
            .where(c.owner == owner)
            .values(beats=c.beats + 1, beat_at=now, stopped_at=None)
        )
        with self._write() as conn:
            if conn.execute(renew).rowcount == 0:
                row = {"owner": owner, "host": host, "beats": 1, "started_at": now, "beat_at": now}
                conn.execute(insert(dispatchers_t).values(**row))

    def retire(self, owner: str) -> None:
        """Say ``owner`` stopped cleanly: peers may take its dispatches at once."""
        statement = (
            update(dispatchers_t)
            .where(dispatchers_t.c.owner == owner)
            .values(stopped_at=datetime.now(timezone.utc))
        )
        with self._write() as conn:
            conn.execute(statement)

    def beats(self, owners: Sequence[str]) -> dict[str, Heartbeat]:
        """The rows of ``owners`` that exist (a dispatcher that never beat has none)."""
        if not owners:
            return {}
        c = dispatchers_t.c
        query = select(c.owner, c.host, c.beats, c.stopped_at).where(c.owner.in_(list(owners)))
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return {
            owner: Heartbeat(owner, host, int(beats), stopped is not None)
            for owner, host, beats, stopped in rows
        }
