"""The backend that works on a store and dispatcher in this process.

The embedded mode uses it with the process-wide runtime; the server uses it
with its own, so both modes share every rule below (what cancel, delete and
purge may touch).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from valence import status as st
from valence.backends import PurgeReport, RedispatchRequest, check_task_ids
from valence.engine.dispatcher import Dispatcher
from valence.engine.ownership import is_alive
from valence.engine.prepare import Prepared, prepare_dispatch, utcnow
from valence.engine.redispatch import Plan, plan_redispatch, reuse_from_store
from valence.engine.reuse import Scope
from valence.errors import DispatchTimeoutError, StoreError
from valence.ids import dispatch_prefix
from valence.results import Result
from valence.store import Store
from valence.store.records import DispatchRecord, EdgeRecord, NodeRecord, TriggerRecord
from valence.workflow.lattice import Lattice


class SharedLock:
    """Many holders in shared mode (recording dispatches) or one exclusive (collecting blobs)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._exclusive)
            self._shared += 1
        try:
            yield
        finally:
            with self._cond:
                self._shared -= 1
                self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._exclusive and self._shared == 0)
            self._exclusive = True
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()


CANCEL_WAIT_S = 60.0  # how long ct.cancel waits for the dispatcher to apply it
_RECORDING = SharedLock()  # process-wide: blob collection never overlaps a new dispatch


class LocalBackend:
    """Dispatches in ``store``, run by ``dispatcher`` (None: read and delete only).

    ``before_run`` is called before each dispatch is started (the embedded mode
    resumes dead processes' dispatches then, so that reading never starts work).
    """

    def __init__(
        self,
        store: Store,
        dispatcher: Dispatcher | None = None,
        *,
        before_run: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.dispatcher = dispatcher
        self.where = store.where
        self._before_run = before_run

    @classmethod
    def embedded(cls) -> LocalBackend:
        """The backend over this process's embedded runtime (started on first use)."""
        from valence.engine.embedded import get_embedded

        runtime = get_embedded()
        return cls(runtime.store, runtime.dispatcher, before_run=runtime.resume_dead)

    # ---- writes -----------------------------------------------------------------------
    def prepare(
        self,
        lattice: Lattice,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        lattice_digest: str | None = None,
        *,
        reuse: bool = False,
    ) -> Prepared:
        """Bind, trace and serialize a new dispatch; raises on bad input, writes nothing.

        With ``lattice_digest`` the caller supplies the workflow's blob itself;
        with ``reuse`` nodes are reused by key from the whole store.
        """
        prepared = prepare_dispatch(
            lattice, tuple(args), dict(kwargs), lattice_digest=lattice_digest
        )
        if reuse:
            prepared = reuse_from_store(self.store, prepared, Scope("any"))
        return prepared

    def start(self, prepared: Prepared, *, disable_run: bool = False) -> str:
        """Record ``prepared`` and (unless ``disable_run``) run it; return its id."""
        with _RECORDING.shared():
            if disable_run:
                record = prepared.record
                self.store.record_dispatch(record, prepared.nodes, prepared.edges, prepared.blobs)
            else:
                dispatcher = self._dispatcher()
                if self._before_run is not None:
                    self._before_run()
                dispatcher.submit(prepared)
        return prepared.record.dispatch_id

    def submit(
        self,
        lattice: Lattice,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        disable_run: bool = False,
        reuse: bool = False,
    ) -> str:
        prepared = self.prepare(lattice, args, kwargs, reuse=reuse)
        return self.start(prepared, disable_run=disable_run)

    def plan(self, dispatch_id: str, request: RedispatchRequest) -> Plan:
        """The per-node decisions of a redispatch, computed without writing anything."""
        return plan_redispatch(
            self.store,
            dispatch_id,
            args=tuple(request.args),
            kwargs=dict(request.kwargs),
            replace=dict(request.replace_electrons),
            reuse=request.reuse_previous_results,
            force_rerun=tuple(request.force_rerun),
            reuse_from=request.reuse_from,
        )

    def redispatch(self, dispatch_id: str, request: RedispatchRequest) -> str:
        return self.start(self.plan(dispatch_id, request).prepared)

    def cancel(self, dispatch_id: str, task_ids: list[int] | None = None) -> str:
        """Stop scheduling a dispatch (or only ``task_ids``); completed results stay."""
        dispatch_id = self.store.resolve_id(dispatch_id)
        task_ids = list(task_ids) if task_ids else None  # [] means the whole dispatch
        if task_ids:
            counts = self.store.node_counts([dispatch_id]).get(dispatch_id, {})  # every node
            check_task_ids(dispatch_id, task_ids, sum(counts.values()))
        status = self.status(dispatch_id)
        if status in st.TERMINAL:
            return f"Dispatch {dispatch_id} is already {status}; nothing to cancel."
        if self.dispatcher is None or not self.dispatcher.owns(dispatch_id):
            owner = self.store.get_dispatch(dispatch_id).owner or "nobody (never started)"
            raise RuntimeError(
                f"dispatch {dispatch_id} is run by another process ({owner}); cancel it from "
                "that process, or run workflows on a valence server (`valence start`)"
            )
        applied = self.dispatcher.cancel(dispatch_id, task_ids)
        if not applied.wait(CANCEL_WAIT_S):
            raise RuntimeError(
                f"the dispatcher did not apply the cancellation of {dispatch_id} within "
                f"{CANCEL_WAIT_S:g} s; it is still requested"
            )
        what = f"tasks {task_ids} of dispatch" if task_ids else "dispatch"
        return f"Cancellation of {what} {dispatch_id} requested."

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

    def delete(self, dispatch_id: str, *, dry_run: bool = False) -> PurgeReport:
        """Delete one finished top-level dispatch and its sublattice runs; collect blobs.

        ``dry_run`` only reports what would be deleted.
        """
        record = self.store.get_dispatch(self.store.resolve_id(dispatch_id))
        if record.parent_dispatch_id is not None:
            raise ValueError(
                f"dispatch {record.dispatch_id} is a sublattice run of "
                f"{record.parent_dispatch_id}; delete that dispatch instead"
            )
        running = record.owner is not None and is_alive(record.owner)
        if st.as_status(record.status) not in st.TERMINAL and running:
            raise RuntimeError(
                f"dispatch {record.dispatch_id} is {record.status}; cancel it (or wait for it) "
                "before deleting it"
            )
        return self._delete([record.dispatch_id], [], dry_run=dry_run)

    def purge(self, older_than: timedelta, *, dry_run: bool = False) -> PurgeReport:
        """Delete finished top-level dispatches created before now - ``older_than``.

        Sublattice runs go with their dispatch, except those a remaining dispatch
        reuses; such a run is deleted by a later purge once nothing reuses it.
        """
        cutoff = utcnow() - older_than
        records = self._all()
        ids = {record.dispatch_id for record in records}
        finished = [r for r in records if st.as_status(r.status) in st.TERMINAL]
        roots = [
            r.dispatch_id for r in finished if not r.parent_dispatch_id and r.created_at < cutoff
        ]
        orphans = [r for r in finished if r.parent_dispatch_id and r.parent_dispatch_id not in ids]
        return self._delete(roots, orphans, dry_run=dry_run)

    def _delete(
        self, roots: list[str], orphans: list[DispatchRecord], *, dry_run: bool
    ) -> PurgeReport:
        doomed, kept = self._deletion_set(roots, orphans)
        report = PurgeReport(doomed, kept, dry_run=dry_run)
        if dry_run:
            report.blobs_deleted = self.store.blobs_freed_by(doomed)
            return report
        for dispatch_id in doomed:
            self.store.delete_dispatch(dispatch_id)
        report.blobs_deleted, report.note = self.collect_blobs()
        return report

    def collect_blobs(self) -> tuple[int, str | None]:
        """Delete blobs no dispatch refers to, unless a dispatch is running; (count, why not)."""
        with _RECORDING.exclusive():
            running = self._running()
            if running:
                return 0, (
                    f"blobs not collected: {len(running)} dispatch(es) running "
                    f"(e.g. {running[0]}); purge again when they are done"
                )
            return self.store.delete_blobs(self.store.unreferenced_blobs()), None

    def _running(self) -> list[str]:
        mine = self.dispatcher.active() if self.dispatcher is not None else []
        others = [
            record.dispatch_id
            for record in self.store.unfinished()
            if record.owner is not None and is_alive(record.owner)
        ]
        return sorted({*mine, *others})

    def _deletion_set(
        self, roots: list[str], orphans: list[DispatchRecord]
    ) -> tuple[list[str], list[str]]:
        """``roots`` + their sublattice runs (+ orphaned runs), except runs still reused.

        A reused sublattice node points at the run of the dispatch it was reused
        from, which with reuse from the whole store may be any dispatch; a run
        stays while a dispatch that is not deleted points at it.
        """
        orphan_ids = [o.dispatch_id for o in orphans]
        runs = [*self._descendants(roots, _sublattice_of), *orphan_ids]
        runs += self._descendants(orphan_ids, _sublattice_of)
        runs = list(dict.fromkeys(runs))
        keep = self._reused_runs(set(roots), runs)
        doomed = [*roots, *(run for run in runs if run not in keep)]
        return doomed, sorted(keep)

    def _descendants(
        self, roots: list[str], linked: Callable[[DispatchRecord, str], bool]
    ) -> list[str]:
        found: list[str] = []
        stack = list(roots)
        while stack:
            parent = stack.pop()
            for child in self.store.children(parent):
                if linked(child, parent) and child.dispatch_id not in found:
                    found.append(child.dispatch_id)
                    stack.append(child.dispatch_id)
        return found

    def _reused_runs(self, roots: set[str], runs: list[str]) -> set[str]:
        """Those of ``runs`` a remaining dispatch points at, directly or through a kept run."""
        referrers = self.store.sublattice_referrers(runs)
        keep: set[str] = set()
        while True:
            deleting = roots | (set(runs) - keep)
            newly = {run for run in runs if run not in keep and referrers[run] - deleting}
            if not newly:
                return keep
            keep |= newly

    def _all(self, **filters: Any) -> list[DispatchRecord]:
        found: list[DispatchRecord] = []
        while True:
            page = self.store.list_dispatches(limit=500, offset=len(found), **filters)
            found += page
            if len(page) < 500:
                return found

    def _dispatcher(self) -> Dispatcher:
        if self.dispatcher is None:
            raise StoreError("this backend only reads the store; it cannot run dispatches")
        return self.dispatcher

    # ---- reads ------------------------------------------------------------------------
    def resolve_id(self, prefix: str) -> str:
        return self.store.resolve_id(dispatch_prefix(prefix))

    def status(self, dispatch_id: str) -> st.Status:
        if self._unwritten_failure(dispatch_id) is not None:
            return st.FAILED
        return st.as_status(self.store.get_status(dispatch_id))

    def _unwritten_failure(self, dispatch_id: str) -> str | None:
        """The error of a dispatch our dispatcher failed but could not yet record (disk full)."""
        dispatcher = self.dispatcher
        return None if dispatcher is None else dispatcher.unwritten_failure(dispatch_id)

    def wait(self, dispatch_id: str, timeout: float | None) -> bool:
        """Block until the dispatch is finished; False if ``timeout`` ran out first."""
        dispatcher = self.dispatcher
        if dispatcher is not None and not dispatcher.owns(dispatch_id):
            self._adopt_orphan(dispatcher, dispatch_id)
        if dispatcher is not None and dispatcher.owns(dispatch_id):
            return dispatcher.wait(dispatch_id, timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.005  # run by another process: poll the store, backing off to 0.25 s
        while self.status(dispatch_id) not in st.TERMINAL:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            time.sleep(delay if left is None else min(delay, left))
            delay = min(delay * 2, 0.25)
        return True

    def _adopt_orphan(self, dispatcher: Dispatcher, dispatch_id: str) -> None:
        """Waiting for a dispatch whose process died would never end: resume that one.

        Embedded only (a server resumes at start); reading without waiting resumes nothing.
        """
        if self._before_run is None:
            return
        record = self.store.get_dispatch(dispatch_id)
        owner = record.owner
        if st.as_status(record.status) in st.TERMINAL or record.parent_dispatch_id or not owner:
            return
        if not is_alive(owner):
            dispatcher.resume_unfinished(only=dispatch_id)

    def wait_or_raise(self, dispatch_id: str, timeout: float | None) -> None:
        if not self.wait(dispatch_id, timeout):
            raise timeout_error(dispatch_id, timeout)

    def get_dispatch(self, dispatch_id: str) -> DispatchRecord:
        """The stored dispatch, FAILED with its error if it failed here unrecorded."""
        record = self.store.get_dispatch(dispatch_id)
        error = self._unwritten_failure(dispatch_id)
        if error is not None:
            record = dataclasses.replace(record, status=st.FAILED, error=error)
        return record

    def get_nodes(self, dispatch_id: str, *, streams: bool = True) -> list[NodeRecord]:
        return self.store.get_nodes(dispatch_id, streams=streams)

    def get_node(self, dispatch_id: str, node_id: int) -> NodeRecord:
        return self.store.get_node(dispatch_id, node_id)

    def get_edges(self, dispatch_id: str) -> list[EdgeRecord]:
        return self.store.get_edges(dispatch_id)

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
        return self.store.node_counts(dispatch_ids, tasks_only=True)

    def list_with_progress(self, **filters: Any) -> list[tuple[DispatchRecord, dict[str, int]]]:
        """``list_dispatches`` with each dispatch's node count per status."""
        records = self.list_dispatches(**filters)
        counts = self.node_counts([r.dispatch_id for r in records])
        return [(r, counts.get(r.dispatch_id, {})) for r in records]


def _sublattice_of(child: DispatchRecord, parent: str) -> bool:
    return child.parent_dispatch_id == parent


def timeout_error(dispatch_id: str, timeout: float | None) -> DispatchTimeoutError:
    return DispatchTimeoutError(
        f"dispatch {dispatch_id} did not finish within {timeout} s; it keeps running — "
        "call get_result again later or raise the timeout"
    )
