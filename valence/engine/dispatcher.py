"""The dispatcher: rounds, one at a time, own all scheduling state and all writes.

Executor callbacks only enqueue events (``engine.events``); a round drains
whatever has arrived, applies the transitions in ``engine.state`` (the only code
that changes scheduling state), starts newly ready nodes (helper nodes are
resolved inline, tasks go to their executor, sublattices become child
dispatches, see ``engine.sublattices``) and then writes the changes to the
store in one batch (group-committed). Rounds run in the loop thread, or in a
thread-pool thread whose task just ended (``_help``): a lock lets one round run
at a time, so either way the state has one writer. Inputs are loaded by
``engine.values``. Waiters are woken only after their dispatch's final state is
durable. ``step()`` runs one round, so tests can drive the loop without a thread.

A batch the store refuses (a full disk, an I/O error) is never dropped: it is
kept, later changes merge into it, and it is retried with backoff while
nothing new starts. Once writes have failed for ``write_retry`` seconds, every
dispatch this dispatcher runs is failed (in memory at once, so every waiter
wakes with the error; in the store as soon as it accepts writes again).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from valence import serialize
from valence import status as st
from valence.clock import utcnow
from valence.config import write_retry_seconds
from valence.engine import collector, sublattices, values
from valence.engine import state as transitions
from valence.engine.completion import Completion
from valence.engine.events import (
    Cancel,
    DispatchEvent,
    Event,
    Freeze,
    Live,
    Start,
    TaskDone,
)
from valence.engine.lease import Lease, Peers, lease_seconds
from valence.engine.ownership import new_owner
from valence.engine.prepare import AllReused, Prepared
from valence.engine.redispatch import record_new_dispatch
from valence.engine.resume import rebuild
from valence.engine.reuse import early_cutoff, index_keys, may_cut_off
from valence.engine.run import Batch, Lazy, Run, format_exception, helper_value
from valence.errors import LeaseLostError, StoreWriteError
from valence.executors.base import Outcome, TaskSpec
from valence.executors.outputs import blob_target, read_stored
from valence.executors.policy import canceller, error_text, submit_with_policy, task_options
from valence.executors.poolthread import after_call, in_call
from valence.store import INLINE_LIMIT, Store
from valence.workflow.graph import Node, NodeKind

log = logging.getLogger("valence.dispatcher")

# Index rows (node_keys) wait for this many, or for a round that changes a dispatch
# (a start or a finish): one statement per round would cost a chain ~10 %. Rows lost
# in a crash only make reuse from the store miss those results.
KEY_BATCH = 4096
# Group commit: node transitions are written at most once per GROUP_COMMIT_S (at once
# when nothing was written for that long), so a fast chain commits once per many tasks.
# A dispatch's start, finish, a cancel, a freeze and an output too large to be inline
# (a file to write) are written at once, before anything else starts; waiters wake
# only after their dispatch's final state is written, and readers (any process) see
# only what is written: nothing unwritten is ever reported. A crash loses at most the
# last GROUP_COMMIT_S of results, which run again on resume (at-least-once, as before).
GROUP_COMMIT_S = 0.05
# While dispatches run, the loop thread wakes at least this often: a task's start seen by
# a pool thread is queued without waking it (see _listener), and is written by then.
QUIET_WAKE_S = 0.25
FIRST_RETRY_S = 0.05
MAX_RETRY_S = 2.0


@dataclass
class _Stall:
    """The store refuses writes: since when, the last error, when to try again."""

    since: float
    error: str
    next_try: float
    delay: float = FIRST_RETRY_S
    gave_up: bool = False


class Dispatcher:
    """Runs dispatches on executors, recording every transition in ``store``."""

    def __init__(
        self,
        store: Store,
        *,
        default_executor: str = "local",
        executors: Callable[..., Any] | None = None,
        clock: Callable[[], datetime] = utcnow,
        write_retry: float | None = None,
        thread: bool = True,
    ) -> None:
        """``executors(name, default=...)`` resolves a task's executor, ``clock`` stamps
        times; with ``thread`` False no loop thread starts and the caller drives ``step()``."""
        if executors is None:
            from valence.executors import get_executor

            executors = get_executor
        self.store = store
        self.default_executor = default_executor
        self._executors = executors
        self._clock = clock
        self._queue: queue.SimpleQueue[Event] = queue.SimpleQueue()
        # One token per wake-up wanted: the loop blocks on the bell, never on the queue, so
        # events posted by a pool thread that applies them itself (_help) wake nobody.
        self._bell: queue.SimpleQueue[None] = queue.SimpleQueue()
        self._round_lock = threading.Lock()  # held by whichever thread runs a round
        self._sleep_until = 0.0  # time.monotonic() the loop thread's wait ends at the latest
        self._runs: dict[str, Run] = {}
        self._events: dict[str, Completion] = {}
        self._batch = Batch()
        self._touched: set[str] = set()
        self._finished: list[str] = []
        self._retired: list[Run] = []
        self._live: dict[tuple[str, int], dict[str, str]] = {}  # output of running tasks
        self._frozen = False
        self._thread: threading.Thread | None = None
        self._threaded = thread
        self._lock = threading.Lock()
        self._write_retry = write_retry_seconds() if write_retry is None else write_retry
        self._stall: _Stall | None = None
        self._unwritten: dict[str, str] = {}  # failed here, not yet durable: id -> error
        self._committed = 0.0  # time.monotonic() of the last write (group commit)
        self._urgent = False  # this round must be written now (a cancel or a freeze)
        self.owner = new_owner()
        self.peers = Peers(store, lease_seconds())
        self.lease: Lease | None = None  # held on a shared store (hold_lease)

    # ---- public, thread-safe ----------------------------------------------------
    def submit(self, prepared: Prepared | AllReused) -> None:
        """Record ``prepared`` durably, then schedule it."""
        if self.lease is not None and self.lease.lost:
            raise LeaseLostError(
                "this process's dispatcher lost its lease on the shared store (it could not "
                "renew it in time: the database was unreachable or the process paused); "
                "restart the process to dispatch again"
            )
        prepared.record.owner = self.owner
        if isinstance(prepared, AllReused):  # everything reused: finished on arrival
            self.store.record_reused_dispatch(
                prepared.record,
                prepared.source_id,
                when=prepared.record.end_time or self._clock(),
                reason=prepared.reason,
            )
            return
        prepared.record.status = st.RUNNING  # accepted to run: NEW_OBJECT means disable_run
        large = len(prepared.graph.nodes) >= collector.LARGE
        if large:
            collector.hold()  # from here: recording it allocates as much as running it
        try:
            record_new_dispatch(self.store, prepared)
        except BaseException:
            if large:
                collector.release()
            raise
        self._track(prepared.record.dispatch_id)
        self._post(Start(prepared, held=large))
        self._ensure_thread()

    def resume_unfinished(self, only: str | None = None) -> list[str]:
        """Take over dispatches (or only the one ``only``) whose owning process is gone."""
        resumed: list[str] = []
        if self.lease is not None and not self.lease.valid():
            return resumed
        records = [
            r
            for r in self.store.unfinished()
            if (only is None or r.dispatch_id == only)
            and not r.parent_dispatch_id
            and r.owner not in (None, self.owner)
        ]
        dead = self.peers.dead(r.owner for r in records if r.owner is not None)
        for record in records:
            owner = record.owner
            if owner not in dead:
                continue
            if not self.store.claim_dispatch(record.dispatch_id, self.owner, expected_owner=owner):
                continue
            record.owner = self.owner
            try:
                prepared = rebuild(self.store, record)
            except Exception as exc:
                log.exception("cannot resume dispatch %s", record.dispatch_id)
                self.store.record_transitions(
                    dispatches=[
                        (
                            record.dispatch_id,
                            {
                                "status": st.FAILED,
                                "end_time": self._clock(),
                                "error": f"could not be resumed after its dispatcher died: {exc}",
                            },
                        )
                    ]
                )
                continue
            log.info("resuming dispatch %s", record.dispatch_id)
            self._track(record.dispatch_id)
            self._post(Start(prepared, resume=True))
            resumed.append(record.dispatch_id)
        if resumed:
            self._ensure_thread()
        return resumed

    def hold_lease(self, *, sweep: bool) -> None:
        """On a shared store, renew a lease; with ``sweep``, take over dead peers' work."""
        if self.lease is not None or not self.store.shares_work():
            return
        self.lease = Lease(
            self.store,
            self.owner,
            expiry=self.peers.expiry,
            on_lost=self.freeze,
            sweep=self.resume_unfinished if sweep else None,
        )
        self.lease.start()

    def release_lease(self) -> None:
        """Stop renewing and say so: peers take this dispatcher's unfinished work at once.

        Call it after :meth:`freeze`, so nothing is recorded once peers may own it.
        """
        if self.lease is not None:
            self.lease.stop(retire=True)

    def start_pending(self, dispatch_id: str) -> bool:
        """Run a dispatch recorded with ``disable_run`` (NEW_OBJECT, no owner); False if
        another dispatcher took it first."""
        if not self.store.claim_dispatch(dispatch_id, self.owner, expected_owner=None):
            return False
        record = self.store.get_dispatch(dispatch_id)
        record.owner = self.owner
        prepared = rebuild(self.store, record)
        self._track(dispatch_id)
        self._post(Start(prepared, resume=True))
        self._ensure_thread()
        return True

    def freeze(self, drain: float = 0.0) -> None:
        """Stop recording anything: for a graceful shutdown that leaves dispatches resumable.

        After this, outcomes (including the failures of workers being stopped)
        are dropped, so every running dispatch stays RUNNING in the store and is
        resumed by the next dispatcher that opens it. With ``drain`` (seconds),
        outcomes that arrived before the call are recorded first.
        """
        thread = self._thread
        if (
            drain
            and thread is not None
            and thread.is_alive()
            and thread is not threading.current_thread()
        ):
            drained = threading.Event()
            self._post(Freeze(drained))
            drained.wait(drain)
        self._frozen = True

    def cancel(self, dispatch_id: str, task_ids: list[int] | None = None) -> threading.Event:
        """Request a cancellation; the event is set once it is applied and written."""
        applied = threading.Event()
        self._post(Cancel(dispatch_id, task_ids, applied))
        self._ensure_thread()
        return applied

    def _post(self, event: Event) -> None:
        """Queue ``event`` for the loop and wake it (any thread)."""
        self._queue.put(event)
        self._bell.put(None)

    def _track(self, dispatch_id: str) -> None:
        """Waiters of ``dispatch_id`` block until this dispatcher has finished it."""
        with self._lock:
            self._events[dispatch_id] = Completion()

    def owns(self, dispatch_id: str) -> bool:
        with self._lock:
            return dispatch_id in self._events

    def completion(self, dispatch_id: str) -> Completion | None:
        """The event set once ``dispatch_id`` is finished here; None if not run here (now)."""
        with self._lock:
            return self._events.get(dispatch_id)

    def wait(self, dispatch_id: str, timeout: float | None = None) -> bool:
        """Block until this dispatcher finished ``dispatch_id``; False on timeout."""
        with self._lock:
            event = self._events.get(dispatch_id)
        return True if event is None else event.wait(timeout)

    def active(self) -> list[str]:
        with self._lock:
            return [d for d, e in self._events.items() if not e.is_set()]

    def wait_all(self, timeout: float | None = None) -> bool:
        return all(self.wait(dispatch_id, timeout) for dispatch_id in self.active())

    @property
    def write_error(self) -> str | None:
        """Why the store currently refuses this dispatcher's writes; None when it accepts them."""
        stall = self._stall
        return None if stall is None else stall.error

    def unwritten_failure(self, dispatch_id: str) -> str | None:
        """The error of a dispatch failed here whose FAILED state is not yet in the store."""
        return self._unwritten.get(dispatch_id)

    # ---- the loop --------------------------------------------------------------
    def _ensure_thread(self) -> None:
        if not self._threaded:
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="valence-dispatcher", daemon=True
                )
                self._thread.start()

    def _loop(self) -> None:
        while True:
            try:
                self.step(timeout=1.0)  # idle wake-ups free finished runs
            except BaseException:  # the loop must survive anything one dispatch raises
                log.exception("valence dispatcher loop error")

    def step(self, timeout: float | None = 0.0) -> int:
        """Apply queued events, start ready work, write one batch; return events seen."""
        stall = self._stall
        wake = stall.next_try if stall is not None else self._commit_due()
        if wake is not None and timeout != 0.0:  # wake up for the next write (attempt)
            left = max(0.0, wake - time.monotonic())
            timeout = left if timeout is None else min(timeout, left)
        if self._threaded and self._runs and timeout != 0.0:  # events posted without a ring
            timeout = QUIET_WAKE_S if timeout is None else min(timeout, QUIET_WAKE_S)
        self._sleep_until = time.monotonic() + (timeout if timeout is not None else 1e9)
        try:
            self._bell.get(timeout=timeout) if timeout != 0.0 else self._bell.get_nowait()
        except queue.Empty:
            if not self._threaded:
                return self._idle()
        while True:  # one round answers every ring so far
            try:
                self._bell.get_nowait()
            except queue.Empty:
                break
        with self._round_lock:
            events = self._drain()
            if not events:
                return self._idle()
            # A round driven by hand (step() without a timeout) is written at once; the
            # loop's rounds are group-committed (GROUP_COMMIT_S).
            return self._round(events, urgent=timeout == 0.0)

    def _idle(self) -> int:
        """A round without events: write the pending batch once it is due."""
        self._free_retired()
        if (self._stall is not None or self._commit_due() is not None) and not self._frozen:
            self._pump_and_flush()
        return 0

    def _drain(self) -> list[Event]:
        events: list[Event] = []
        while len(events) < 50_000:
            try:
                events.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return events

    def _round(self, events: list[Event], *, urgent: bool) -> int:
        """Apply ``events`` in order, start what became ready, write (group commit)."""
        # Runs finished last round are torn down now, not before their waiters
        # woke: freeing a big graph holds the GIL for milliseconds.
        self._free_retired()
        self._urgent = urgent or any(isinstance(e, (Cancel, Freeze)) for e in events)
        if not self._frozen:
            for event in events:
                if isinstance(event, Freeze):  # record what came before, then nothing
                    self._pump_and_flush()
                    self._frozen = True
                    break
                self._apply(event)
            else:
                self._pump_and_flush()
        for event in events:
            if isinstance(event, Cancel):
                event.applied.set()  # applied and written (or dropped by a frozen dispatcher)
            elif isinstance(event, Freeze):
                event.drained.set()
        return len(events)

    def _help(self, able: bool) -> None:
        """A pool thread whose task just ended applies the queued events itself.

        Called by ``executors.local`` after the task's future resolved (its TaskDone
        is queued, unrung). If another thread runs a round (or the thread cannot help,
        ``able`` False), the loop is rung instead. A chain thus runs without waking the
        loop thread: the task the round starts is run next by this same thread.
        """
        if not able or not self._round_lock.acquire(blocking=False):
            self._bell.put(None)
            return
        ring = False
        try:
            events = self._drain()
            if events:
                self._round(events, urgent=False)
            stall = self._stall
            due = stall.next_try if stall is not None else self._commit_due()
            ring = due is not None and due < self._sleep_until  # the loop writes it then
        except BaseException:  # the pool thread must survive anything a round raises
            log.exception("valence dispatcher round error")
            ring = True
        finally:
            self._round_lock.release()
        if ring:
            self._bell.put(None)

    def _apply(self, event: DispatchEvent) -> None:
        try:
            match event:  # most frequent first; class patterns without captures are cheapest
                case TaskDone():
                    self._on_outcome(event.dispatch_id, event.node_id, event.future)
                case Live():
                    self._on_live(event.dispatch_id, event.node_id, event.kind, event.value)
                case Start(resume=True):
                    self._resume(event.prepared)
                case Start():
                    self._start(event.prepared, held=event.held)
                case Cancel():
                    self._on_cancel(event.dispatch_id, event.task_ids)
        except BaseException as exc:  # user code (a value's methods) may raise anything
            self._crash(event.dispatch_id, exc)

    def _pump_and_flush(self) -> None:
        if not self._write():  # earlier changes first: nothing starts while the store refuses
            return
        while self._touched:
            touched, self._touched = self._touched, set()
            for did in touched:
                run = self._runs.get(did)
                if run is not None:
                    self._guarded(run, self._pump)
            if not self._write():
                self._touched |= touched  # checked for completion once written
                return
            for did in touched:
                run = self._runs.get(did)
                if run is not None and transitions.is_finished(run.state) and not run.children:
                    self._guarded(run, self._finish)  # never before its sublattice runs end
            if not self._write():
                return

    def _guarded(self, run: Run, action: Callable[[Run], None]) -> None:
        try:
            action(run)
        except BaseException as exc:  # user code (a value's methods) may raise anything
            self._crash(run.dispatch_id, exc)

    def _crash(self, dispatch_id: str, exc: BaseException) -> None:
        """An internal error: fail the dispatch loudly instead of hanging waiters.

        The running nodes are failed with the error (their late outcomes are
        dropped) and the dispatch's error carries the real exception.
        """
        log.error("valence internal error in dispatch %s", dispatch_id, exc_info=exc)
        run = self._runs.get(dispatch_id)
        if run is None:
            return
        error = f"valence internal error: {type(exc).__name__}: {exc}"
        if run.internal_error is not None:  # failing again while finishing: stop here
            self._batch.dispatch(dispatch_id, status=st.FAILED, end_time=self._clock())
            self._retire(run)
            return
        run.internal_error = f"{error}\n{format_exception(exc)}".rstrip()
        now = self._clock()
        for node_id in transitions.abort(run.state):
            entry = run.futures.pop(node_id, None)
            if entry is not None:
                entry[0].cancel(entry[1])
            child = run.children.pop(node_id, None)
            if child is not None:
                self._on_cancel(child, None)
            self._batch.node(dispatch_id, node_id, status=st.FAILED, error=error, end_time=now)
        self._touched.add(dispatch_id)

    # ---- transitions with side effects -------------------------------------
    def _start(
        self, prepared: Prepared, parent: tuple[str, int] | None = None, *, held: bool = False
    ) -> None:
        """Run ``prepared``; ``held``: its submit already holds the collector (see collector)."""
        large = len(prepared.graph.nodes) >= collector.LARGE
        if large and not held:
            collector.hold()  # released by _retire
        did = prepared.record.dispatch_id
        try:
            state = transitions.start_state(did, prepared.graph, prepared.done)
        except BaseException:
            if large:
                collector.release()
            raise
        run = Run(prepared, state, parent=parent, holds_collector=large)
        self._runs[did] = run
        start = prepared.record.start_time or self._clock()
        self._batch.dispatch(did, status=st.RUNNING, start_time=start)
        self._touched.add(did)

    def _resume(self, prepared: Prepared, parent: tuple[str, int] | None = None) -> None:
        """Start a rebuilt dispatch, restoring failed, cancelled and sublattice nodes."""
        self._start(prepared, parent)
        run = self._runs[prepared.record.dispatch_id]
        for record in prepared.nodes:
            node_id = record.node_id
            if node_id in prepared.done:
                continue
            if record.status in (st.FAILED, st.CANCELLED):
                transitions.restore(run.state, node_id, record.status)
                if record.status == st.FAILED:
                    run.errors[node_id] = (record.error or "failed", record.traceback)
            elif record.sub_dispatch_id and node_id in run.state.ready:
                self._resume_child(run, node_id, record.sub_dispatch_id)

    def _resume_child(self, run: Run, node_id: int, child_id: str) -> None:
        record = self.store.get_dispatch(child_id)
        if record.status in st.TERMINAL:
            return  # the node simply runs again as a fresh sublattice
        transitions.resume_running(run.state, node_id)
        run.children[node_id] = child_id
        child = sublattices.adopt(self.store, record, self.owner)
        self._track(child_id)
        self._resume(child, parent=(run.dispatch_id, node_id))

    def _pump(self, run: Run) -> None:
        state = run.state
        cutoff = run.prepared.reuse_scope is not None
        while state.ready and self._stall is None:  # nothing starts while the store refuses
            held: list[Node] = []  # may be reused by early cutoff: looked up together
            while state.ready and self._stall is None:
                node = state.graph.nodes[transitions.take_ready(state)]
                if node.kind.is_helper:
                    self._resolve_helper(run, node)
                elif cutoff and may_cut_off(run.prepared.nodes[node.id]):
                    held.append(node)
                else:
                    self._start_task(run, node)
            for node in early_cutoff(self.store, run, self._batch, held, self._clock()):
                if self.write_error is None:  # a start may stall the store (not narrowed)
                    self._start_task(run, node)
                else:
                    transitions.requeue(state, node.id)  # started once the store accepts writes

    def _start_task(self, run: Run, node: Node) -> None:
        if node.kind is NodeKind.SUBLATTICE:
            self._start_sublattice(run, node)
        else:
            self._submit_task(run, node)

    def _resolve_helper(self, run: Run, node: Node) -> None:
        now = self._clock()
        try:
            if node.kind is NodeKind.PARAMETER:
                value = node.value
                digest = run.prepared.nodes[node.id].value_digest
                assert digest is not None
            else:
                args, kwargs = values.inputs(self.store, run, node)
                value = helper_value(node, args, kwargs)
                data = serialize.dumps(value)
                digest = serialize.digest(data)
                self._batch.blobs[digest] = data
        except BaseException as exc:  # user code may raise anything
            self._fail_raised(run, node.id, exc, start_time=now, end_time=now)
            return
        transitions.complete(run.state, node.id, digest, value)
        self._batch.node(
            run.dispatch_id,
            node.id,
            status=st.COMPLETED,
            start_time=now,
            end_time=now,
            output_digest=digest,
        )

    def _submit_task(self, run: Run, node: Node) -> None:
        now = self._clock()
        try:
            metadata = node.metadata or node.electron.metadata  # inherited at trace time
            known = run.submits.get(id(metadata))
            if known is None or known[0] is not metadata:
                executor = self._executors(
                    metadata.get("executor") or self._lattice_executor(run),
                    default=self.default_executor,
                )
                known = run.submits[id(metadata)] = (metadata, executor, task_options(metadata))
            executor, options = known[1], known[2]
            args, kwargs = values.inputs(self.store, run, node)
            key = (run.dispatch_id, node.id)
            fn_digest = run.prepared.fn_blobs[node.id]
            fn_bytes = (
                None if executor.in_process else values.function_bytes(self.store, run, fn_digest)
            )
            spec = TaskSpec(
                run.dispatch_id,
                node.id,
                node.name,
                node.electron.function,
                fn_bytes,
                fn_digest,
                tuple(args),
                kwargs,
                options,  # shared by the tasks of one electron: read, never changed
                blob_target(self.store.blob_location) if executor.writes_blobs else None,
                self._listener(key) if executor.reports_start else None,
            )
            future = submit_with_policy(executor, spec)
        except BaseException as exc:  # user code may raise anything
            self._fail_raised(run, node.id, exc, start_time=now, end_time=now)
            return
        transitions.mark_running(run.state, node.id)
        run.futures[node.id] = (canceller(executor, future), future)
        if executor.reports_start:  # queued until a worker starts it ("started" below)
            self._batch.node(
                run.dispatch_id, node.id, status=st.PENDING_BACKEND, executor=executor.name
            )
        else:
            self._batch.node(
                run.dispatch_id, node.id, status=st.RUNNING, start_time=now, executor=executor.name
            )
        future.add_done_callback(self._on_done(run.dispatch_id, node.id))

    def _on_done(self, dispatch_id: str, node_id: int) -> Callable[[Future[Outcome]], None]:
        """Where a task's resolved future goes: the loop, as an event."""

        def done(future: Future[Outcome]) -> None:
            self._queue.put(TaskDone(dispatch_id, node_id, future))
            if not (self._threaded and after_call(self._help)):
                self._bell.put(None)

        return done

    def _listener(self, key: tuple[str, int]) -> Callable[[str, Any], None]:
        """Where a task's start and live output go: the loop, as events."""

        def heard(kind: str, value: Any) -> None:
            self._queue.put(Live(key[0], key[1], kind, value))
            # A start seen by a pool thread is applied by its _help, or by the loop within
            # QUIET_WAKE_S: waking the loop for it would cost every short task a thread hop.
            if not (kind == "started" and self._threaded and in_call()):
                self._bell.put(None)

        return heard

    def _lattice_executor(self, run: Run) -> Any:
        return run.prepared.lattice.metadata.get("executor")

    def _on_live(self, dispatch_id: str, node_id: int, kind: str, value: Any) -> None:
        """A worker started a task, or a running task printed: record it (batched)."""
        run = self._runs.get(dispatch_id)
        if run is None or run.state.status[node_id] != st.RUNNING:
            return  # finished or cancelled meanwhile: the outcome has the final word
        if kind == "started":
            self._batch.node(dispatch_id, node_id, status=st.RUNNING, start_time=value)
        elif kind in ("stdout", "stderr"):
            streams = self._live.setdefault((dispatch_id, node_id), {"stdout": "", "stderr": ""})
            streams[kind] += value
            self._batch.node(dispatch_id, node_id, **{kind: streams[kind]})
        self._touched.add(dispatch_id)

    def _on_outcome(self, dispatch_id: str, node_id: int, future: Future[Outcome]) -> None:
        self._live.pop((dispatch_id, node_id), None)
        run = self._runs.get(dispatch_id)
        if run is None:
            return
        run.futures.pop(node_id, None)
        self._touched.add(dispatch_id)
        if run.state.status[node_id] != st.RUNNING:
            return  # cancelled (or aborted) while it ran: its outcome is discarded
        if future.cancelled():
            transitions.cancel_running(run.state, node_id)
            self._batch.node(dispatch_id, node_id, status=st.CANCELLED, end_time=self._clock())
            return
        outcome = future.result()
        common: dict[str, Any] = dict(
            start_time=outcome.start_time,
            end_time=outcome.end_time,
            stdout=outcome.stdout,
            stderr=outcome.stderr,
            attempts=outcome.attempts,
        )
        if not outcome.ok:
            self._fail(run, node_id, error_text(outcome), outcome.traceback, **common)
            return
        assert outcome.output_digest is not None
        data = outcome.output_bytes
        if outcome.output_stored:  # the worker wrote the blob file itself
            try:
                data = read_stored(self.store.blob_location, outcome.output_digest)
            except Exception as exc:
                self._fail_raised(run, node_id, exc, **common)
                return
        assert data is not None
        value = outcome.output if outcome.has_output else Lazy(data)
        self._batch.blobs[outcome.output_digest] = data
        if len(data) > INLINE_LIMIT:  # a file to write: costly anyway, and may meet a full disk
            self._urgent = True  # written before anything else starts (group commit aside)
        transitions.complete(run.state, node_id, outcome.output_digest, value)
        index_keys(run, node_id, self._batch)
        self._batch.node(
            dispatch_id, node_id, status=st.COMPLETED, output_digest=outcome.output_digest, **common
        )

    def _fail(
        self,
        run: Run,
        node_id: int,
        error: str,
        tb: str | None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        **extra: Any,
    ) -> None:
        transitions.fail(run.state, node_id)
        run.errors[node_id] = (error, tb)
        self._batch.node(
            run.dispatch_id,
            node_id,
            status=st.FAILED,
            error=error,
            traceback=tb,
            start_time=start_time,
            end_time=end_time or self._clock(),
            **extra,
        )
        self._touched.add(run.dispatch_id)

    def _fail_raised(self, run: Run, node_id: int, exc: BaseException, **fields: Any) -> None:
        """Fail a node with an exception raised while starting it or storing its output."""
        self._fail(run, node_id, f"{type(exc).__name__}: {exc}", format_exception(exc), **fields)

    def _on_cancel(self, dispatch_id: str, task_ids: list[int] | None) -> None:
        run = self._runs.get(dispatch_id)
        if run is None:
            return
        for node_id in transitions.cancel(run.state, task_ids):
            self._batch.node(dispatch_id, node_id, status=st.CANCELLED)
        targets = (
            run.futures
            if task_ids is None
            else {i: run.futures[i] for i in task_ids if i in run.futures}
        )
        for executor, future in list(targets.values()):
            if task_ids is None:
                executor.cancel_pending(future)  # running tasks finish and are kept
            else:
                executor.cancel(future)
        for node_id, child in run.children.items():
            if task_ids is None or node_id in task_ids:
                self._on_cancel(child, None)
        self._touched.add(dispatch_id)

    # ---- sublattices (see engine.sublattices) -------------------------------------
    def _start_sublattice(self, run: Run, node: Node) -> None:
        now = self._clock()
        try:
            child = sublattices.prepare_child(self.store, run, node, self.owner)
        except StoreWriteError as exc:  # not the node's fault: start it once the store recovers
            transitions.requeue(run.state, node.id, first=True)
            self._write_failed(exc)
            return
        except BaseException as exc:  # user code may raise anything
            self._fail_raised(run, node.id, exc, start_time=now, end_time=now)
            return
        child_id = child.record.dispatch_id
        transitions.mark_running(run.state, node.id)
        run.children[node.id] = child_id
        self._batch.node(
            run.dispatch_id, node.id, status=st.RUNNING, start_time=now, sub_dispatch_id=child_id
        )
        self._track(child_id)
        self._start(child, parent=(run.dispatch_id, node.id))

    def _child_finished(self, child: Run, end: sublattices.Ended) -> None:
        assert child.parent is not None
        parent_id, node_id = child.parent
        parent = self._runs.get(parent_id)
        if parent is None:
            return
        parent.children.pop(node_id, None)
        self._touched.add(parent_id)  # it may have been waiting for this child to end
        now = self._clock()
        error = sublattices.settle(parent, node_id, child, end, self._batch, now)
        if error is not None:
            self._fail(parent, node_id, error, None, None, now)

    # ---- finishing -------------------------------------------------------------
    def _finish(self, run: Run) -> None:
        did = run.dispatch_id
        status, never_started = transitions.finish(run.state)
        fields: dict[str, Any] = {"end_time": self._clock()}
        value, digest, error = None, None, None
        if status == st.COMPLETED:
            try:
                value = values.lattice_output(self.store, run)
                data = serialize.dumps(value)
                digest = serialize.digest(data)
                self._batch.blobs[digest] = data
                fields["result_digest"] = digest
            except BaseException as exc:  # user code may raise anything
                status, error = st.FAILED, f"the lattice's return value could not be stored: {exc}"
        if status == st.FAILED:
            error = (
                error or self._batch.dispatches.get(did, {}).get("error") or self._failure_text(run)
            )
            fields["error"] = error
        for node_id in never_started:
            self._batch.node(did, node_id, status=st.CANCELLED)
        self._batch.dispatch(did, status=status, **fields)
        self._retire(run)
        if run.parent is not None:
            self._child_finished(run, sublattices.Ended(status, digest, value, error))

    def _retire(self, run: Run) -> None:
        """Forget a finished run; its waiters wake once its final state is durable."""
        self._retired.append(self._runs.pop(run.dispatch_id))  # freed after waiters woke
        self._finished.append(run.dispatch_id)

    def _free_retired(self) -> None:
        """Free the runs finished last round, then let the collector run fully again.

        In that order: a full collection while a large run is still referenced would
        walk all of it, and one started just after its end would delay its waiters.
        """
        if not self._retired:
            return
        large = sum(run.holds_collector for run in self._retired)
        self._retired.clear()
        for _ in range(large):
            collector.release()

    def _failure_text(self, run: Run) -> str:
        lines = [] if run.internal_error is None else [run.internal_error]
        for node_id in run.state.failed:
            node = run.state.graph.nodes[node_id]
            error, tb = run.errors.get(node_id, ("failed", None))
            tb = tb or ""
            lines.append(f"Node {node_id} ({node.name}) failed: {error}\n{tb}".rstrip())
        return "\n\n".join(lines)

    def _signal(self) -> None:
        if not self._finished:
            return
        finished, self._finished = self._finished, []
        with self._lock:
            for did in finished:
                event = self._events.pop(did, None)
                if event is not None:
                    event.set()

    def _write(self) -> bool:
        """Write the batch and wake the finished runs' waiters; False while the store refuses.

        A refused batch stays (later changes merge into it) and is retried with
        exponential backoff; see the module docstring for when dispatches fail.
        """
        stall = self._stall
        if stall is not None and time.monotonic() < stall.next_try:
            return False
        try:
            self._flush()
        except Exception as exc:
            self._write_failed(exc)
            return False
        if stall is not None:
            log.warning("valence: the store accepts writes again; resuming")
            self._stall = None
            self._unwritten.clear()
        self._signal()
        return True

    def _commit_due(self) -> float | None:
        """When the pending batch must be written (time.monotonic()); None if none is pending."""
        batch = self._batch  # index rows alone wait for KEY_BATCH or a dispatch change
        pending = batch.nodes or batch.dispatches or batch.blobs
        return self._committed + GROUP_COMMIT_S if pending and not self._frozen else None

    def _flush(self) -> None:
        if not self._batch or self._frozen:
            return
        urgent = self._urgent or self._batch.dispatches or self._stall is not None
        if not urgent and time.monotonic() < self._committed + GROUP_COMMIT_S:
            return  # group commit: written with later changes, by the deadline
        if self.lease is not None and not self.lease.valid():  # fenced: a peer may own it now
            return
        batch = self._batch  # replaced only once written: a refused batch is kept
        defer = bool(batch.keys) and not batch.dispatches and len(batch.keys) < KEY_BATCH
        self.store.record_transitions(
            nodes=[(d, n, f) for (d, n), f in batch.nodes.items()],
            dispatches=list(batch.dispatches.items()),
            blobs=batch.blobs,
            keys=[] if defer else batch.keys,
        )
        self._committed = time.monotonic()
        self._batch = Batch(keys=batch.keys if defer else [])  # deferred: a later round

    def _write_failed(self, exc: Exception) -> None:
        now = time.monotonic()
        error = f"{type(exc).__name__}: {exc}"
        stall = self._stall
        if stall is None:
            log.error("valence: cannot write to the store; pausing and retrying: %s", error)
            stall = self._stall = _Stall(since=now, error=error, next_try=now)
        stall.error = error
        stall.next_try = now + stall.delay
        stall.delay = min(stall.delay * 2, MAX_RETRY_S)
        if not stall.gave_up and now - stall.since >= self._write_retry:
            stall.gave_up = True
            self._give_up(now - stall.since, error)

    def _give_up(self, seconds: float, error: str) -> None:
        """Fail every running dispatch: the store has refused writes for too long."""
        text = (
            f"valence stopped this dispatch: its store refused writes for {seconds:.0f} s "
            f"({error}). Results already stored are kept; free space (or repair the file "
            "system) and redispatch it"
        )
        log.error("valence: failing %d dispatch(es): %s", len(self._runs), text)
        now = self._clock()
        for run in list(self._runs.values()):
            for executor, future in run.futures.values():
                executor.cancel(future)
            run.futures.clear()
            for node_id in transitions.abort(run.state):
                self._batch.node(
                    run.dispatch_id, node_id, status=st.FAILED, error=text, end_time=now
                )
            self._batch.dispatch(run.dispatch_id, status=st.FAILED, end_time=now, error=text)
            self._unwritten[run.dispatch_id] = text
            self._retire(run)
        self._signal()  # wake every waiter now; the FAILED rows are written when possible
