"""Rebuilding a stored, unfinished dispatch so a dispatcher can finish it.

The lattice and inputs are stored by value, so the graph is traced again and
checked against the stored nodes (same names and keys). Completed nodes keep
their stored outputs and are not executed again; nodes that were in flight run
again; failed and cancelled nodes stay as they were.
"""

from __future__ import annotations

from valence import status as st
from valence.engine.prepare import Prepared, prepare_dispatch
from valence.engine.redispatch import Parent
from valence.engine.reuse import recorded_scope
from valence.errors import ResumeError
from valence.store import Store
from valence.store.records import DispatchRecord


def rebuild(store: Store, record: DispatchRecord) -> Prepared:
    """A Prepared whose graph, node records and completed outputs match the store."""
    stored = Parent(store, record)  # lattice, inputs and replacements, by value
    parent = None
    if record.parent_dispatch_id is not None and record.parent_node_id is not None:
        parent = (record.parent_dispatch_id, record.parent_node_id)
    prepared = prepare_dispatch(
        stored.lattice,
        stored.args,
        stored.kwargs,
        replacements=stored.replacements,
        dispatch_id=record.dispatch_id,
        root_dispatch_id=record.root_dispatch_id,
        parent=parent,
        redispatched_from=record.redispatched_from,
        lattice_digest=record.lattice_digest,
    )
    nodes = stored.nodes
    fresh = [(n.name, n.key) for n in prepared.nodes]
    if fresh != [(n.name, n.key) for n in nodes]:
        raise ResumeError(
            f"dispatch {record.dispatch_id} traces to a different graph now "
            f"({len(fresh)} nodes vs {len(nodes)} stored); it cannot be resumed"
        )
    prepared.record = record
    prepared.reuse_scope = recorded_scope(store, record.metadata)  # early cutoff goes on
    prepared.nodes = nodes
    prepared.blobs = {}
    prepared.fn_blobs = {n.node_id: n.function_digest for n in nodes if n.function_digest}
    prepared.done = {
        n.node_id: n.output_digest for n in nodes if n.status == st.COMPLETED and n.output_digest
    }
    return prepared
