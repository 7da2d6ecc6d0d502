"""The backend over an in-process :class:`~valence.engine.runtime.Runtime`.

The embedded mode uses it with the process-wide runtime; the server's routes
call the runtime directly. Every rule (what cancel, delete and purge may touch,
how waiting works) lives in the runtime; this class adapts it to
:class:`~valence.backends.Backend` and adds what sits above the engine
(``Result``, triggers).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from valence import status as st
from valence.backends import RedispatchRequest
from valence.engine.dispatcher import Dispatcher
from valence.engine.purge import PurgeReport
from valence.engine.redispatch import Plan
from valence.engine.runtime import Runtime
from valence.errors import DispatchTimeoutError
from valence.results import Result
from valence.store import Store
from valence.store.records import DispatchRecord, NodeRecord, TriggerRecord
from valence.workflow.lattice import Lattice


class LocalBackend:
    """Dispatches of ``runtime`` (its store; its dispatcher runs them, if it has one)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.where = runtime.where

    @classmethod
    def embedded(cls) -> LocalBackend:
        """The backend over this process's embedded runtime (started on first use)."""
        from valence.engine.embedded import get_embedded

        return cls(get_embedded())

    @classmethod
    def reading(cls, store: Store) -> LocalBackend:
        """A backend that reads and deletes in ``store`` but runs nothing."""
        return cls(Runtime(store))

    @property
    def store(self) -> Store:
        return self.runtime.store

    @property
    def dispatcher(self) -> Dispatcher | None:
        return self.runtime.dispatcher

    # ---- writes: the runtime's rules ----------------------------------------------------
    def submit(
        self,
        lattice: Lattice,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        disable_run: bool = False,
        reuse: bool = False,
    ) -> str:
        prepared = self.runtime.prepare(lattice, args, kwargs, reuse=reuse)
        return self.runtime.start(prepared, disable_run=disable_run)

    def plan(self, dispatch_id: str, request: RedispatchRequest) -> Plan:
        """The per-node decisions of a redispatch, computed without writing anything."""
        return self.runtime.plan(dispatch_id, **request.plan_options())

    def redispatch(self, dispatch_id: str, request: RedispatchRequest) -> str:
        return self.runtime.start(self.plan(dispatch_id, request).prepared)

    def cancel(self, dispatch_id: str, task_ids: list[int] | None = None) -> str:
        return self.runtime.cancel(dispatch_id, task_ids)

    def delete(self, dispatch_id: str, *, dry_run: bool = False) -> PurgeReport:
        return self.runtime.delete(dispatch_id, dry_run=dry_run)

    def purge(self, older_than: timedelta, *, dry_run: bool = False) -> PurgeReport:
        return self.runtime.purge(older_than, dry_run=dry_run)

    # ---- triggers (valence.triggers.runner runs them in this process) ---------------
    def register_trigger(self, trigger: Any) -> int:
        from valence.triggers.runner import runner_for

        return runner_for(self).register(trigger)

    def stop_triggers(self, dispatch_ids: list[str]) -> int:
        if self.dispatcher is None:
            return len(self.store.stop_triggers(dispatch_ids))
        from valence.triggers.runner import runner_for

        return runner_for(self).stop(dispatch_ids)

    def list_triggers(self, dispatch_ids: list[str] | None = None) -> list[TriggerRecord]:
        return self.store.get_triggers(dispatch_ids)

    # ---- reads ------------------------------------------------------------------------
    def resolve_id(self, prefix: str) -> str:
        return self.runtime.resolve_id(prefix)

    def status(self, dispatch_id: str) -> st.Status:
        return self.runtime.status(dispatch_id)

    def wait(self, dispatch_id: str, timeout: float | None) -> bool:
        """Block until the dispatch is finished; False if ``timeout`` ran out first."""
        return self.runtime.wait(dispatch_id, timeout)

    def get_dispatch(self, dispatch_id: str) -> DispatchRecord:
        return self.runtime.get_dispatch(dispatch_id)

    def get_nodes(self, dispatch_id: str, *, streams: bool = True) -> list[NodeRecord]:
        return self.store.get_nodes(dispatch_id, streams=streams)

    def get_blob(self, digest: str) -> bytes:
        return self.store.get_blob(digest)

    def result(self, dispatch_id: str) -> Result:
        return Result(self.store, self.get_dispatch(dispatch_id))

    def list_dispatches(
        self,
        *,
        status: str | None = None,
        name: str | None = None,
        name_contains: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[DispatchRecord]:
        return self.store.list_dispatches(
            status=status,
            name=name,
            name_contains=name_contains,
            since=since,
            until=until,
            limit=limit,
            offset=offset,
        )

    def node_counts(self, dispatch_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Tasks (electrons and sublattices) per status; helper nodes are not counted."""
        return self.runtime.progress(dispatch_ids)

    def list_with_progress(self, **filters: Any) -> list[tuple[DispatchRecord, dict[str, int]]]:
        """``list_dispatches`` with each dispatch's node count per status."""
        records = self.list_dispatches(**filters)
        counts = self.node_counts([r.dispatch_id for r in records])
        return [(r, counts.get(r.dispatch_id, {})) for r in records]


def timeout_error(dispatch_id: str, timeout: float | None) -> DispatchTimeoutError:
    return DispatchTimeoutError(
        f"dispatch {dispatch_id} did not finish within {timeout} s; it keeps running — "
        "call get_result again later or raise the timeout"
    )
