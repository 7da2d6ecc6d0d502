"""``ct.triggers``: run a dispatch again, with reuse, when something happens.

``BaseTrigger`` (subclass it), ``DirTrigger`` (file-system events, watchdog),
``TimeTrigger`` (every N seconds), ``SQLiteTrigger`` and ``DatabaseTrigger``
(rows appear in a table). Triggers run in the valence server, or in the
embedded dispatcher of the process that registered them while it lives; they
are stored with their dispatch, and a server that starts resumes every active
trigger whose process is gone. ``ct.stop_triggers(dispatch_ids)`` stops them.
"""

from __future__ import annotations

from typing import Any

from valence.triggers.base import BaseTrigger
from valence.triggers.dir_trigger import DirTrigger
from valence.triggers.sql_triggers import DatabaseTrigger, SQLiteTrigger
from valence.triggers.time_trigger import TimeTrigger

__all__ = [
    "BaseTrigger",
    "DatabaseTrigger",
    "DirTrigger",
    "SQLiteTrigger",
    "TimeTrigger",
    "available_triggers",
    "stop_triggers",
]

available_triggers: dict[str, type[BaseTrigger]] = {
    cls.__name__: cls
    for cls in (BaseTrigger, DatabaseTrigger, DirTrigger, TimeTrigger, SQLiteTrigger)
}


def stop_triggers(dispatch_ids: str | list[str], triggers_server_addr: str | None = None) -> int:
    """Stop every trigger of these dispatches (stored as stopped); how many were active."""
    from valence.backends import choose_backend

    ids = [dispatch_ids] if isinstance(dispatch_ids, str) else list(dispatch_ids)
    backend = choose_backend(triggers_server_addr)
    return backend.stop_triggers([backend.resolve_id(i) for i in ids])


def _as_list(triggers: Any) -> list[BaseTrigger]:
    """``triggers=`` of ``@ct.lattice``: one trigger or a list of them."""
    items = [triggers] if isinstance(triggers, BaseTrigger) else list(triggers)
    for item in items:
        if not isinstance(item, BaseTrigger):
            raise TypeError(
                f"triggers= takes BaseTrigger instances (ct.triggers.TimeTrigger(...), ...), "
                f"not {type(item).__name__}"
            )
    return items
