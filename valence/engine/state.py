"""Scheduler state for one dispatch, as plain data, and its transitions.

A dispatch's state is a few arrays indexed by node id:

* ``waiting[i]``  parents of node ``i`` that have not completed yet
* ``status[i]``   its status string
* ``consumers[i]`` children (plus the return value) that still need its output

Policy: a node becomes *ready* when ``waiting`` reaches zero. A completed
node's output is kept in ``values`` until its last consumer has read it (then
released, as dask's ``release_data`` does). A failed or cancelled node's
descendants never become ready; they stay NEW_OBJECT and are reported as not
run. The dispatch is *finished* when nothing is ready or running; it is FAILED
if any node failed, CANCELLED if any was cancelled, else COMPLETED.

Transitions are small functions that mutate the state and return the node ids
that became ready; they do no I/O, so tests can assert whole states.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from valence import status as st
from valence.workflow.graph import Edge, TransportGraph
from valence.workflow.tracing import template_refs


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


def start_state(dispatch_id: str, graph: TransportGraph, done: dict[int, str]) -> DispatchState:
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
        state.status[node_id] = st.COMPLETED
        state.digests[node_id] = digest
        for child in children[node_id]:
            state.waiting[child] -= 1
    state.ready.extend(i for i in range(n) if state.waiting[i] == 0 and i not in done)
    return state


def mark_running(state: DispatchState, node_id: int) -> None:
    state.status[node_id] = st.RUNNING
    state.running.add(node_id)


def complete(state: DispatchState, node_id: int, digest: str, value: Any) -> list[int]:
    """Record a completed node; return the children that became ready."""
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


def consumed(state: DispatchState, node_id: int) -> None:
    """A consumer read ``node_id``'s output; release it after the last one."""
    state.consumers[node_id] -= 1
    if state.consumers[node_id] <= 0:
        state.values.pop(node_id, None)


def fail(state: DispatchState, node_id: int) -> None:
    state.running.discard(node_id)
    state.status[node_id] = st.FAILED
    state.failed.append(node_id)


def cancel(state: DispatchState, node_ids: list[int] | None) -> list[int]:
    """Cancel nodes; return those cancelled.

    Cancelling the whole dispatch stops what has not started and lets running
    tasks finish (their results are kept). Cancelling named nodes also cancels
    them while they run: whatever they return later is discarded, and their
    dependents never run.
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

    Nothing else becomes ready; the dispatch finishes FAILED.
    """
    state.aborted = True
    state.ready.clear()
    running = sorted(state.running)
    state.running.clear()
    for node_id in running:
        state.status[node_id] = st.FAILED
    return running


def is_finished(state: DispatchState) -> bool:
    return not state.ready and not state.running


def final_status(state: DispatchState) -> str:
    if state.failed or state.aborted:
        return st.FAILED
    if state.cancelled or st.CANCELLED in state.status:
        return st.CANCELLED
    return st.COMPLETED
