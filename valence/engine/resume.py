"""Rebuilding a stored, unfinished dispatch so a dispatcher can finish it.

The lattice and inputs are stored by value, so the graph is traced again and
checked against the stored nodes (same names and keys). Completed nodes keep
their stored outputs and are not executed again; nodes that were in flight run
again; failed and cancelled nodes stay as they were.
"""

from __future__ import annotations

from dataclasses import replace

from valence import status as st
from valence.engine.prepare import Prepared, prepare_dispatch
from valence.engine.reuse import recorded_scope
from valence.engine.stored import StoredDispatch
from valence.errors import ResumeError
from valence.store import Store
from valence.store.records import DispatchRecord


def rebuild(store: Store, record: DispatchRecord) -> Prepared:
    """A Prepared whose graph, node records and completed outputs match the store."""
    stored = StoredDispatch(store, record)  # lattice, inputs and replacements, by value
    sublattice_of = None
    if record.parent_dispatch_id is not None and record.parent_node_id is not None:
        sublattice_of = (record.parent_dispatch_id, record.parent_node_id)
    traced = prepare_dispatch(
        stored.lattice,
        stored.args,
        stored.kwargs,
        replacements=stored.replacements,
        dispatch_id=record.dispatch_id,
        root_dispatch_id=record.root_dispatch_id,
        sublattice_of=sublattice_of,
        redispatched_from=record.redispatched_from,
        lattice_digest=record.lattice_digest,
    )
    nodes = stored.nodes
    fresh = [(n.name, n.key) for n in traced.nodes]
    if fresh != [(n.name, n.key) for n in nodes]:
        raise ResumeError(
            f"dispatch {record.dispatch_id} traces to a different graph now "
            f"({len(fresh)} nodes vs {len(nodes)} stored); it cannot be resumed"
        )
    return replace(
        traced,
        record=record,
        nodes=nodes,
        blobs={},
        fn_blobs={n.node_id: n.function_digest for n in nodes if n.function_digest},
        done={
            n.node_id: n.output_digest
            for n in nodes
            if n.status == st.COMPLETED and n.output_digest
        },
        reuse_scope=recorded_scope(store, record.metadata),  # early cutoff goes on
    )
