"""Scheduler state for one dispatch, as plain data, and its transitions.

A dispatch's state is a few arrays indexed by node id:

* ``waiting[i]``  parents of node ``i`` that have not completed yet
* ``status[i]``   its status string
* ``consumers[i]`` children (plus the return value) that still need its output

Policy: a node becomes *ready* when ``waiting`` reaches zero; the dispatcher
takes ready nodes in order (:func:`take_ready`) and starts them (a task is
:func:`mark_running` until its outcome arrives; a helper completes at once).
A completed node's output is kept in ``values`` until its last consumer has
read it (then released, as dask's ``release_data`` does). A failed or
cancelled node's descendants never become ready; they stay NEW_OBJECT and are
reported as not run. The dispatch is *finished* when nothing is ready or
running; it is FAILED if any node failed or valence itself failed it
(:func:`abort`), CANCELLED if any node was cancelled, else COMPLETED.

This module is the only code that changes a :class:`DispatchState`. Each
transition is a small function that mutates the state and does no I/O, so
tests assert whole states before and after. A transition asked of a node that
is not in the graph, or of a node in a status it cannot leave that way (a
second completion, say), raises ``ValueError`` and changes nothing: the
dispatcher treats that as an internal error and fails the dispatch loudly.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from valence import status as st
from valence.workflow.graph import Edge, TransportGraph
from valence.workflow.tracing import template_refs

STARTABLE = (st.NEW_OBJECT,)
"""Statuses a node may be started (or resolved inline) from."""
ENDABLE = (st.NEW_OBJECT, st.RUNNING)
"""Statuses a node may complete or fail from (a helper completes without running)."""


@dataclass
class DispatchState:
    """Everything the dispatcher tracks for one running dispatch."""

    dispatch_id: str
    graph: TransportGraph
    incoming: list[list[Edge]]
    children: list[list[int]]
    waiting: list[int]
    consumers: list[int]
    status: list[str]
    ready: deque[int] = field(default_factory=deque)
    running: set[int] = field(default_factory=set)
    values: dict[int, Any] = field(default_factory=dict)
    digests: dict[int, str] = field(default_factory=dict)
    failed: list[int] = field(default_factory=list)
    cancelled: bool = False
    aborted: bool = False


def start_state(dispatch_id: str, graph: TransportGraph, done: Mapping[int, str]) -> DispatchState:
    """Initial state; ``done`` maps already-completed node ids to output digests."""
    n = len(graph.nodes)
    incoming: list[list[Edge]] = [[] for _ in range(n)]
    children: list[list[int]] = [[] for _ in range(n)]
    consumers = [0] * n
    for edge in graph.edges:
        incoming[edge.child].append(edge)
        children[edge.parent].append(edge.child)
        if edge.param_type != "wait":
            consumers[edge.parent] += 1
    for ref in template_refs(graph.output):
        consumers[ref] += 1
    state = DispatchState(
        dispatch_id=dispatch_id,
        graph=graph,
        incoming=incoming,
        children=children,
        waiting=[len(parents) for parents in incoming],
        consumers=consumers,
        status=[st.NEW_OBJECT] * n,
    )
    for node_id, digest in sorted(done.items()):
        _check(state, node_id, "start as done", STARTABLE)
        state.status[node_id] = st.COMPLETED
        state.digests[node_id] = digest
        for child in children[node_id]:
            state.waiting[child] -= 1
    state.ready.extend(i for i in range(n) if state.waiting[i] == 0 and i not in done)
    return state


def _check(state: DispatchState, node_id: int, action: str, allowed: tuple[str, ...]) -> None:
    """Refuse a transition on a node that does not exist or cannot take it."""
    if not 0 <= node_id < len(state.status) or state.status[node_id] not in allowed:
        _refuse(state, node_id, action)


def _refuse(state: DispatchState, node_id: int, action: str) -> NoReturn:
    if not 0 <= node_id < len(state.status):  # a negative id would silently index from the end
        raise ValueError(
            f"cannot {action} node {node_id!r} of dispatch {state.dispatch_id}: "
            f"it has nodes 0..{len(state.status) - 1}"
        )
    raise ValueError(
        f"cannot {action} node {node_id} of dispatch {state.dispatch_id}: "
        f"it is {state.status[node_id]}"
    )


# ---- starting work ------------------------------------------------------------
def take_ready(state: DispatchState) -> int:
    """The next ready node, no longer ready (the caller starts it or puts it back)."""
    return state.ready.popleft()


def requeue(state: DispatchState, node_id: int, *, first: bool = False) -> None:
    """Put back a node taken by :func:`take_ready` that could not start yet."""
    _check(state, node_id, "requeue", STARTABLE)
    if first:
        state.ready.appendleft(node_id)
    else:
        state.ready.append(node_id)


def mark_running(state: DispatchState, node_id: int) -> None:
    """A node taken from ``ready`` was handed to an executor (or became a sub-dispatch)."""
    status = state.status
    if not 0 <= node_id < len(status) or status[node_id] != st.NEW_OBJECT:  # _check, inlined
        _refuse(state, node_id, "run")
    status[node_id] = st.RUNNING
    state.running.add(node_id)


def resume_running(state: DispatchState, node_id: int) -> None:
    """A resumed dispatch's ready node is already running elsewhere (its sub-dispatch)."""
    _check(state, node_id, "resume", STARTABLE)
    state.ready.remove(node_id)
    state.status[node_id] = st.RUNNING
    state.running.add(node_id)


def restore(state: DispatchState, node_id: int, status: str) -> None:
    """A resumed dispatch's node that had already FAILED or been CANCELLED stays so."""
    if status not in (st.FAILED, st.CANCELLED):
        raise ValueError(f"cannot restore node {node_id} as {status}: only FAILED or CANCELLED")
    _check(state, node_id, "restore", STARTABLE)
    state.status[node_id] = status
    if status == st.FAILED:
        state.failed.append(node_id)
    if node_id in state.ready:
        state.ready.remove(node_id)


# ---- ending work ----------------------------------------------------------------
def complete(state: DispatchState, node_id: int, digest: str, value: Any) -> list[int]:
    """Record a completed node; return the children that became ready."""
    status = state.status
    if not 0 <= node_id < len(status) or status[node_id] not in ENDABLE:  # _check, inlined
        _refuse(state, node_id, "complete")
    state.running.discard(node_id)
    state.status[node_id] = st.COMPLETED
    state.digests[node_id] = digest
    if state.consumers[node_id] > 0:
        state.values[node_id] = value
    newly = []
    for child in state.children[node_id]:
        state.waiting[child] -= 1
        if state.waiting[child] == 0 and state.status[child] == st.NEW_OBJECT:
            newly.append(child)
    if not (state.cancelled or state.aborted):
        state.ready.extend(newly)
    return newly


def complete_stored(state: DispatchState, node_id: int, digest: str) -> list[int]:
    """Like :func:`complete` for an output that stays in the store until it is read."""
    newly = complete(state, node_id, digest, None)
    state.values.pop(node_id, None)
    return newly


def fail(state: DispatchState, node_id: int) -> None:
    """A node failed (its own error, or it could not be started)."""
    _check(state, node_id, "fail", ENDABLE)
    state.running.discard(node_id)
    state.status[node_id] = st.FAILED
    state.failed.append(node_id)


def cancel_running(state: DispatchState, node_id: int) -> None:
    """A running node ended cancelled (its future, or its sub-dispatch, was cancelled)."""
    _check(state, node_id, "end as cancelled", (st.RUNNING,))
    state.running.discard(node_id)
    state.status[node_id] = st.CANCELLED


def cancel(state: DispatchState, node_ids: list[int] | None) -> list[int]:
    """Cancel nodes; return those cancelled.

    Cancelling the whole dispatch stops what has not started and lets running
    tasks finish (their results are kept). Cancelling named nodes also cancels
    them while they run: whatever they return later is discarded, and their
    dependents never run. Ids that are not nodes of the dispatch are ignored.
    """
    if node_ids is None:
        state.cancelled = True
        targets = list(state.ready)
        state.ready.clear()
    else:
        wanted = {i for i in node_ids if 0 <= i < len(state.status)}  # others: not its nodes
        targets = sorted(i for i in wanted if state.status[i] in (st.NEW_OBJECT, st.RUNNING))
        state.ready = deque(i for i in state.ready if i not in wanted)
        state.running.difference_update(wanted)
    for node_id in targets:
        state.status[node_id] = st.CANCELLED
    return targets


def abort(state: DispatchState) -> list[int]:
    """Stop the dispatch after an internal error; return the running nodes, now FAILED.

    Nothing else becomes ready; the dispatch finishes FAILED. Aborting twice
    returns nothing the second time.
    """
    state.aborted = True
    state.ready.clear()
    running = sorted(state.running)
    state.running.clear()
    for node_id in running:
        state.status[node_id] = st.FAILED
    return running


def finish(state: DispatchState) -> tuple[str, list[int]]:
    """The final status of a finished dispatch, and the nodes it newly marks CANCELLED.

    A cancelled dispatch reports the nodes it never started as CANCELLED.
    """
    if not is_finished(state):
        raise ValueError(f"dispatch {state.dispatch_id} has not finished: work remains")
    status = final_status(state)
    if status != st.CANCELLED:
        return status, []
    never = [i for i, s in enumerate(state.status) if s == st.NEW_OBJECT]
    for node_id in never:
        state.status[node_id] = st.CANCELLED
    return status, never


# ---- values ---------------------------------------------------------------------
def hold(state: DispatchState, values: Mapping[int, Any]) -> None:
    """Keep outputs read ahead of their use (for example all of a node's inputs at once)."""
    state.values.update(values)


def loaded(state: DispatchState, node_id: int, value: Any) -> None:
    """A consumer loaded ``node_id``'s output: keep it if it was held or another needs it."""
    if node_id in state.values or state.consumers[node_id] > 1:
        state.values[node_id] = value


def consumed(state: DispatchState, node_id: int) -> None:
    """A consumer read ``node_id``'s output; release it after the last one."""
    state.consumers[node_id] -= 1
    if state.consumers[node_id] <= 0:
        state.values.pop(node_id, None)


# ---- questions (no change) -------------------------------------------------------
def is_finished(state: DispatchState) -> bool:
    return not state.ready and not state.running


def final_status(state: DispatchState) -> str:
    if state.failed or state.aborted:
        return st.FAILED
    if state.cancelled or st.CANCELLED in state.status:
        return st.CANCELLED
    return st.COMPLETED
