"""The in-process runtime: one store, the dispatcher writing to it, and the rules both modes share.

The embedded mode (:mod:`valence.engine.embedded`, one per process) and the
server (one per ``valence serve``) each run on a :class:`Runtime`; the local
backend and the server's routes call it, so what cancel, delete and purge may
touch, and how a waiter learns that a dispatch is finished, is decided here
once. Waiting blocks on the dispatcher's completion event for dispatches run
in this process (a thread blocks, an asyncio task awaits a callback); only a
dispatch run by another process is polled in the store.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from valence import status as st
from valence.clock import utcnow
from valence.config import Settings, load_settings
from valence.engine import purge as policy
from valence.engine.completion import Completion
from valence.engine.dispatcher import Dispatcher
from valence.engine.ownership import is_alive
from valence.engine.prepare import Prepared, prepare_dispatch
from valence.engine.purge import PurgeReport
from valence.engine.redispatch import Plan, plan_redispatch, reuse_from_store
from valence.engine.reuse import Scope
from valence.errors import StoreError
from valence.ids import dispatch_prefix
from valence.store import Store
from valence.store.records import DispatchRecord
from valence.workflow.lattice import Lattice

CANCEL_WAIT_S = 60.0  # how long a cancel waits for the dispatcher to apply it
FIRST_POLL_S, LAST_POLL_S = 0.005, 0.25  # a dispatch run by another process: store polls


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


_RECORDING = SharedLock()  # process-wide: blob collection never overlaps a new dispatch


@dataclass(eq=False)
class Runtime:
    """Dispatches in ``store``, run by ``dispatcher`` (None: read and delete only).

    ``embedded``: the process-wide runtime of the embedded mode, which takes over
    the dispatches of dead processes on its first dispatch, and a dead process's
    dispatch when it is waited for (a server resumes them when it starts).
    """

    store: Store
    dispatcher: Dispatcher | None = None
    settings: Settings | None = None
    embedded: bool = False
    _resumed: bool = field(default=False, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @classmethod
    def open(
        cls,
        settings: Settings | None = None,
        *,
        workers: int | None = None,
        embedded: bool = False,
    ) -> Runtime:
        """Open the store named by ``settings`` and a dispatcher over it.

        ``workers`` sizes the pools of the ``local`` (process) and ``thread`` executors.
        """
        settings = settings or load_settings()
        store = Store.open(settings.database_url, settings.blobs)
        dispatcher = Dispatcher(
            store, default_executor=settings.executor, executors=executor_resolver(workers)
        )
        return cls(store, dispatcher, settings, embedded)

    @property
    def where(self) -> str:
        return self.store.where

    def close(self) -> None:
        """Wait for running dispatches, then close the store."""
        if self.dispatcher is not None:
            self.dispatcher.wait_all()
        self.store.close()

    def resume_dead(self) -> None:
        """Embedded: take over the dispatches of dead processes, once (first dispatch)."""
        with self._lock:
            if self._resumed or not self.embedded:
                return
            self._resumed = True
        resumed = self._dispatcher().resume_unfinished()
        if resumed:
            print(
                f"valence: resuming {len(resumed)} unfinished dispatch(es) "
                "left by a process that died",
                file=sys.stderr,
            )

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
            reuse_from_store(self.store, prepared, Scope("any"))
        return prepared

    def start(self, prepared: Prepared, *, disable_run: bool = False) -> str:
        """Record ``prepared`` and (unless ``disable_run``) run it; return its id."""
        with _RECORDING.shared():
            if disable_run:
                record = prepared.record
                self.store.record_dispatch(record, prepared.nodes, prepared.edges, prepared.blobs)
            else:
                dispatcher = self._dispatcher()
                self.resume_dead()
                dispatcher.submit(prepared)
        return prepared.record.dispatch_id

    def plan(self, dispatch_id: str, **options: Any) -> Plan:
        """The per-node decisions of a redispatch (options of ``plan_redispatch``)."""
        return plan_redispatch(self.store, dispatch_id, **options)

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

    def delete(self, dispatch_id: str, *, dry_run: bool = False) -> PurgeReport:
        """Delete one finished top-level dispatch and its sublattice runs; collect blobs.

        ``dry_run`` only reports what would be deleted.
        """
        record = policy.deletable(self.store, dispatch_id)
        return self._delete([record.dispatch_id], [], dry_run=dry_run)

    def purge(self, older_than: timedelta, *, dry_run: bool = False) -> PurgeReport:
        """Delete finished top-level dispatches created before now - ``older_than``.

        Sublattice runs go with their dispatch, except those a remaining dispatch
        reuses; such a run is deleted by a later purge once nothing reuses it.
        """
        roots, orphans = policy.expired(self.store, utcnow() - older_than)
        return self._delete(roots, orphans, dry_run=dry_run)

    def _delete(
        self, roots: list[str], orphans: list[DispatchRecord], *, dry_run: bool
    ) -> PurgeReport:
        doomed, kept = policy.deletion_set(self.store, roots, orphans)
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
            mine = self.dispatcher.active() if self.dispatcher is not None else []
            running = sorted({*mine, *policy.running_elsewhere(self.store)})
            if running:
                return 0, (
                    f"blobs not collected: {len(running)} dispatch(es) running "
                    f"(e.g. {running[0]}); purge again when they are done"
                )
            return self.store.delete_blobs(self.store.unreferenced_blobs()), None

    def _dispatcher(self) -> Dispatcher:
        if self.dispatcher is None:
            raise StoreError("this backend only reads the store; it cannot run dispatches")
        return self.dispatcher

    # ---- reads ------------------------------------------------------------------------
    def resolve_id(self, prefix: str) -> str:
        """The full id of the dispatch ``prefix`` names (a unique prefix is enough)."""
        return self.store.resolve_id(dispatch_prefix(prefix))

    def status(self, dispatch_id: str) -> st.Status:
        if self._unwritten_failure(dispatch_id) is not None:
            return st.FAILED
        return st.as_status(self.store.get_status(dispatch_id))

    def get_dispatch(self, dispatch_id: str) -> DispatchRecord:
        """The stored dispatch, FAILED with its error if it failed here unrecorded."""
        record = self.store.get_dispatch(dispatch_id)
        error = self._unwritten_failure(dispatch_id)
        if error is not None:
            record = dataclasses.replace(record, status=st.FAILED, error=error)
        return record

    def progress(self, dispatch_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Tasks (electrons and sublattices) per status; helper nodes are not counted."""
        return self.store.node_counts(dispatch_ids, tasks_only=True)

    def _unwritten_failure(self, dispatch_id: str) -> str | None:
        """The error of a dispatch our dispatcher failed but could not yet record (disk full)."""
        dispatcher = self.dispatcher
        return None if dispatcher is None else dispatcher.unwritten_failure(dispatch_id)

    # ---- the one wait -----------------------------------------------------------------
    def wait(self, dispatch_id: str, timeout: float | None) -> bool:
        """Block until the dispatch is finished; False if ``timeout`` ran out first."""
        done = self._completion(dispatch_id)
        if done is not None:
            return done.wait(timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        for pause in _backoff(deadline):  # run by another process: poll the store
            if self.status(dispatch_id) in st.TERMINAL:
                return True
            time.sleep(pause)
        return self.status(dispatch_id) in st.TERMINAL

    async def wait_async(self, dispatch_id: str, timeout: float) -> bool:
        """:meth:`wait` for an event loop: no thread is held while waiting."""
        done = self._completion(dispatch_id)
        if done is not None:
            return await _awaited(done, timeout)
        for pause in _backoff(time.monotonic() + timeout):
            if await asyncio.to_thread(self.status, dispatch_id) in st.TERMINAL:
                return True
            await asyncio.sleep(pause)
        return await asyncio.to_thread(self.status, dispatch_id) in st.TERMINAL

    def _completion(self, dispatch_id: str) -> Completion | None:
        """The dispatcher's event for a dispatch run here (a dead process's is taken over)."""
        dispatcher = self.dispatcher
        if dispatcher is None:
            return None
        done = dispatcher.completion(dispatch_id)
        if done is None and self.embedded:
            self._adopt_orphan(dispatcher, dispatch_id)
            done = dispatcher.completion(dispatch_id)
        return done

    def _adopt_orphan(self, dispatcher: Dispatcher, dispatch_id: str) -> None:
        """Waiting for a dispatch whose process died would never end: resume that one.

        Embedded only (a server resumes at start); reading without waiting resumes nothing.
        """
        record = self.store.get_dispatch(dispatch_id)
        owner = record.owner
        if st.as_status(record.status) in st.TERMINAL or record.parent_dispatch_id or not owner:
            return
        if not is_alive(owner):
            dispatcher.resume_unfinished(only=dispatch_id)


def _backoff(deadline: float | None) -> Iterator[float]:
    """Pauses between store reads, doubling up to LAST_POLL_S, until ``deadline`` passed."""
    delay = FIRST_POLL_S
    while True:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return
        yield delay if left is None else min(delay, left)
        delay = min(delay * 2, LAST_POLL_S)


async def _awaited(done: Completion, timeout: float) -> bool:
    """Await ``done`` (set by the dispatcher's thread) for at most ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    woken: asyncio.Future[None] = loop.create_future()

    def resolve() -> None:
        if not woken.done():
            woken.set_result(None)

    def wake() -> None:
        try:
            loop.call_soon_threadsafe(resolve)
        except RuntimeError:  # the loop is closed: the server stopped, no waiter is left
            return

    done.add_done_callback(wake)
    try:
        await asyncio.wait_for(woken, timeout)
    except TimeoutError:
        return done.is_set()
    finally:
        done.remove_done_callback(wake)
    return True


def check_task_ids(dispatch_id: str, task_ids: list[int] | None, node_count: int) -> None:
    """ValueError unless every id in ``task_ids`` is a node of the dispatch (0..count-1)."""
    bad = [i for i in task_ids or () if not 0 <= i < node_count]
    if bad:
        shown = ", ".join(str(i) if len(str(i)) < 30 else str(i)[:27] + "..." for i in bad[:5])
        raise ValueError(
            f"dispatch {dispatch_id} has no node(s) {shown}: its node ids are "
            f"0..{node_count - 1}; nothing was cancelled"
        )


def executor_resolver(workers: int | None) -> Callable[..., Any] | None:
    """Executor lookup for the dispatcher: `local`/`thread` pools sized to ``workers``."""
    if workers is None:
        return None
    from valence.executors import get_executor
    from valence.executors.local import LocalExecutor, ThreadExecutor

    sized = {"local": LocalExecutor(workers=workers), "thread": ThreadExecutor(workers=workers)}

    def resolve(spec: Any, default: str = "local") -> Any:
        name = default if spec is None else spec
        if isinstance(name, str) and name in sized:
            return get_executor(sized[name])
        return get_executor(spec, default=default)

    return resolve
