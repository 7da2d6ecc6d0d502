"""The store's trigger rows: register, claim, record a firing, stop (a mixin of ``Store``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import fields
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from valence.clock import utcnow
from valence.store.records import TriggerRecord
from valence.store.tables import triggers as triggers_t

ACTIVE = "ACTIVE"
STOPPED = "STOPPED"
_FIELDS = tuple(f.name for f in fields(TriggerRecord))


class TriggerRows:
    """Trigger rows; ``Store`` provides ``_engine`` and ``_write``."""

    _engine: Engine
    _write: Callable[[], AbstractContextManager[Connection]]

    def add_trigger(self, dispatch_id: str, name: str, spec: bytes, owner: str | None) -> int:
        """Record an ACTIVE trigger of ``dispatch_id`` run by ``owner``; its id."""
        row: dict[str, Any] = {
            "dispatch_id": dispatch_id,
            "name": name,
            "spec": spec,
            "status": ACTIVE,
            "owner": owner,
            "created_at": utcnow(),
            "fired": 0,
            "new_dispatch_ids": [],
        }
        with self._write() as conn:
            result = conn.execute(insert(triggers_t).values(**row))
            key = result.inserted_primary_key
            assert key is not None  # an INSERT of one row
            return int(key[0])

    def get_triggers(
        self, dispatch_ids: Sequence[str] | None = None, *, status: str | None = None
    ) -> list[TriggerRecord]:
        """Triggers (of ``dispatch_ids``, with ``status``), oldest first."""
        query = select(*(triggers_t.c[name] for name in _FIELDS)).order_by(triggers_t.c.trigger_id)
        if dispatch_ids is not None:
            query = query.where(triggers_t.c.dispatch_id.in_(list(dispatch_ids)))
        if status is not None:
            query = query.where(triggers_t.c.status == status)
        with self._engine.connect() as conn:
            return [TriggerRecord(*row) for row in conn.execute(query)]

    def get_trigger(self, trigger_id: int) -> TriggerRecord | None:
        query = select(*(triggers_t.c[name] for name in _FIELDS)).where(
            triggers_t.c.trigger_id == trigger_id
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else TriggerRecord(*row)

    def claim_trigger(self, trigger_id: int, owner: str, *, expected_owner: str | None) -> bool:
        """Make ``owner`` run an ACTIVE trigger if ``expected_owner`` still does; say if so."""
        column = triggers_t.c.owner
        condition = column.is_(None) if expected_owner is None else column == expected_owner
        statement = (
            update(triggers_t)
            .where(triggers_t.c.trigger_id == trigger_id, triggers_t.c.status == ACTIVE, condition)
            .values(owner=owner)
        )
        with self._write() as conn:
            return conn.execute(statement).rowcount == 1

    def record_trigger_fired(
        self, trigger_id: int, new_dispatch_id: str | None, error: str | None = None
    ) -> None:
        """Count one firing, with the dispatch it started or the error it met."""
        with self._write() as conn:
            row = conn.execute(
                select(triggers_t.c.fired, triggers_t.c.new_dispatch_ids).where(
                    triggers_t.c.trigger_id == trigger_id
                )
            ).first()
            if row is None:
                return
            started = list(row.new_dispatch_ids or [])
            if new_dispatch_id is not None:
                started.append(new_dispatch_id)
            conn.execute(
                update(triggers_t)
                .where(triggers_t.c.trigger_id == trigger_id)
                .values(fired=row.fired + 1, new_dispatch_ids=started, last_error=error)
            )

    def stop_triggers(self, dispatch_ids: Sequence[str]) -> list[int]:
        """Mark every ACTIVE trigger of ``dispatch_ids`` STOPPED; their ids."""
        with self._write() as conn:
            ids = list(
                conn.execute(
                    select(triggers_t.c.trigger_id).where(
                        triggers_t.c.dispatch_id.in_(list(dispatch_ids)),
                        triggers_t.c.status == ACTIVE,
                    )
                ).scalars()
            )
            if ids:
                conn.execute(
                    update(triggers_t)
                    .where(triggers_t.c.trigger_id.in_(ids))
                    .values(status=STOPPED, stopped_at=utcnow())
                )
        return ids
