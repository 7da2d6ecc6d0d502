"""Sublattice nodes: each runs as a child dispatch linked to the node that started it.

The dispatcher starts a child when its sublattice node is ready
(:func:`prepare_child` records it), takes over a resumed dispatch's unfinished
child (:func:`adopt`), and when a child finishes applies its end to the parent
node (:func:`settle`). A parent never finishes before its children.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from valence import status as st
from valence.engine import state as transitions
from valence.engine import values
from valence.engine.prepare import Prepared, prepare_dispatch
from valence.engine.redispatch import not_reusable_inside, reuse_in_sublattice
from valence.engine.resume import rebuild
from valence.engine.reuse import index_keys
from valence.engine.run import Batch, Run
from valence.store import Store
from valence.store.records import DispatchRecord
from valence.workflow.graph import Node


@dataclass(frozen=True, slots=True)
class Ended:
    """How a child dispatch ended: its status, and its output or its error."""

    status: str
    digest: str | None = None
    value: Any = None
    error: str | None = None


def prepare_child(store: Store, run: Run, node: Node, owner: str) -> Prepared:
    """Plan and record (not start) the child dispatch of sublattice ``node`` of ``run``.

    Raises what its inputs or tracing raise (the node fails), or ``StoreWriteError``.
    """
    args, kwargs = values.inputs(store, run, node)
    outer = run.prepared
    child = prepare_dispatch(
        node.electron.function.inherit(node.metadata),  # unset options from the caller
        tuple(args[2:]),
        kwargs,
        replacements=outer.replacements,
        root_dispatch_id=outer.record.root_dispatch_id,
        parent=(outer.record.dispatch_id, node.id),
    )
    child.record.owner = owner
    reuse_in_sublattice(store, outer, node.id, child)
    store.record_dispatch(child.record, child.nodes, child.edges, child.blobs)
    return child


def adopt(store: Store, record: DispatchRecord, owner: str) -> Prepared:
    """Claim a resumed dispatch's unfinished child for ``owner`` and rebuild it."""
    store.claim_dispatch(record.dispatch_id, owner, expected_owner=record.owner)
    record.owner = owner
    return rebuild(store, record)


def settle(
    parent: Run, node_id: int, child: Run, end: Ended, batch: Batch, now: datetime
) -> str | None:
    """Apply a finished child to its sublattice node; return the error if the node failed.

    Nothing changes when the node no longer runs (it was cancelled or aborted).
    """
    if parent.state.status[node_id] != st.RUNNING:
        return None
    parent_id = parent.dispatch_id
    if end.status == st.COMPLETED and end.digest is not None:
        transitions.complete(parent.state, node_id, end.digest, end.value)
        fields: dict[str, Any] = {
            "status": st.COMPLETED,
            "end_time": now,
            "output_digest": end.digest,
        }
        inside = not_reusable_inside(child.prepared)
        if inside is not None:  # its output is not a function of its key
            fields["not_reusable"] = parent.prepared.nodes[node_id].not_reusable = inside
        index_keys(parent, node_id, batch)
        batch.node(parent_id, node_id, **fields)
        return None
    if end.status == st.CANCELLED:
        transitions.cancel_running(parent.state, node_id)
        batch.node(parent_id, node_id, status=st.CANCELLED, end_time=now)
        return None
    return f"sublattice {child.prepared.record.name} failed: {end.error}"
