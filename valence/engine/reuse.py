"""Where reused results may come from, and early cutoff.

A dispatch with reuse has a :class:`Scope`: the parent's lineage (the default of
a redispatch), the whole store (``reuse_from="any"``, and
``ct.dispatch(..., reuse_previous_results=True)``), or listed dispatches. Keys
are looked up in the store's ``node_keys`` index, which holds the Merkle key and
the data key of every task and sublattice node that ran to completion
(:func:`index_keys`; reused nodes add nothing).

Early cutoff: a task's *data key* hashes its own code token (what its Merkle key
hashes besides its parents) with the output digests of its parents, so it is
known only when the parents have finished. A task whose Merkle key matched
nothing, but whose parents produced byte-identical outputs to those some earlier
run of the same code consumed, gets that run's output (:func:`early_cutoff`,
when the node becomes ready).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from valence import status as st
from valence.engine import state as transitions
from valence.engine.run import Batch, Run
from valence.fingerprint import hash_flat
from valence.store import Store
from valence.store.records import NodeRecord
from valence.workflow.graph import TASK_KINDS, Edge, Node

NO_CUTOFF = ("forced", "reuse_off", "not_reusable", "blob_missing", "blob_damaged")
"""Reason codes early cutoff never overrides (a damaged output must be recomputed)."""


@dataclass(frozen=True)
class Scope:
    """The dispatches reuse may draw on: ``dispatches`` None means the whole store."""

    name: str  # "parent", "any" or "listed"
    dispatches: frozenset[str] | None = None
    roots: tuple[str, ...] = ()  # the parent or the listed ids, before closing over lineage

    @property
    def store_wide(self) -> bool:
        """Whether keys are looked up beyond the parent (any, or listed dispatches)."""
        return self.name != "parent"

    def as_metadata(self) -> dict[str, Any]:
        """What a dispatch records, so that a resumed dispatch keeps its scope."""
        return {"scope": self.name, "roots": list(self.roots)}

    def describe(self) -> str:
        if self.dispatches is None:
            return "the store"
        return "the parent's lineage" if self.name == "parent" else "the listed dispatches"


def check_reuse_from(value: Any) -> str | tuple[str, ...] | None:
    """``None``/"parent", "any", or dispatch ids; one clear error otherwise."""
    if value is None or value in ("parent", "any"):
        return value
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError(
        f"reuse_from must be 'parent', 'any' or a non-empty list of dispatch ids, got {value!r}"
    )


def resolve_scope(store: Store, reuse_from: str | Sequence[str] | None, parent_id: str) -> Scope:
    """The scope of a redispatch of ``parent_id`` (unknown dispatch ids raise)."""
    if reuse_from == "any":
        return Scope("any")
    if reuse_from is None or reuse_from == "parent":
        return Scope("parent", lineage(store, [parent_id]), (parent_id,))
    ids = tuple(store.resolve_id(prefix) for prefix in reuse_from)
    return Scope("listed", lineage(store, ids), ids)


def recorded_scope(store: Store, metadata: dict[str, Any]) -> Scope | None:
    """The scope a dispatch recorded (:meth:`Scope.as_metadata`), or None."""
    found = metadata.get("reuse_scope")
    if not isinstance(found, dict) or found.get("scope") not in ("parent", "any", "listed"):
        return None
    if found["scope"] == "any":
        return Scope("any")
    roots = tuple(str(root) for root in found.get("roots", ()))
    return Scope(found["scope"], lineage(store, roots), roots)


def lineage(store: Store, roots: Iterable[str]) -> frozenset[str]:
    """``roots`` with their sublattice runs and the dispatches their nodes reused, closed."""
    found = set(roots)
    pending = list(found)
    while pending:
        step = set(store.reuse_sources(pending))
        for dispatch_id in pending:
            step.update(
                c.dispatch_id
                for c in store.children(dispatch_id)
                if c.parent_dispatch_id == dispatch_id
            )
        pending = sorted(step - found)
        found.update(pending)
    return frozenset(found)


def candidates(store: Store, nodes: Sequence[NodeRecord], scope: Scope) -> dict[str, NodeRecord]:
    """COMPLETED nodes in ``scope`` with the keys of ``nodes``, by key.

    Task keys come from the index; helper nodes (parameters, getitem, ...) are
    not indexed, so they are matched among the nodes of the dispatches the tasks
    were found in (and every node of listed dispatches). Every candidate's output
    blob is still stored.
    """
    keys = [n.key for n in nodes if n.key and n.kind in TASK_KINDS]
    located = store.locate_completed(keys, scope.dispatches)
    sources = {dispatch_id for dispatch_id, _ in located.values()}
    if scope.name == "listed" and scope.dispatches is not None:
        sources.update(scope.dispatches)
    wanted = {n.key for n in nodes if n.key}
    found: dict[str, NodeRecord] = {}
    others: dict[str, NodeRecord] = {}
    for dispatch_id in sorted(sources):
        for node in store.get_nodes(dispatch_id):
            key = node.key or ""
            if key not in wanted or node.status != st.COMPLETED or not node.output_digest:
                continue
            if located.get(key) == (dispatch_id, node.node_id):
                found[key] = node  # the indexed node itself (its blob was checked)
            elif node.kind not in TASK_KINDS or scope.name == "listed":
                others.setdefault(key, node)
    stored = store.stored_digests(n.output_digest or "" for n in others.values())
    for key, node in others.items():
        if node.output_digest in stored:
            found.setdefault(key, node)
    return found


def data_key(record: NodeRecord, edges: Iterable[Edge], digests: Mapping[int, str]) -> str | None:
    """The node's data key from its parents' output digests; None if it has none.

    Only nodes with a Merkle key get one: a task that is not reusable, or is
    downstream of one, is never reused by early cutoff either.
    """
    code = record.metadata.get("code")
    if record.key is None or not code or record.kind not in TASK_KINDS:
        return None
    parts = []
    for edge in edges:
        digest = digests.get(edge.parent)
        if digest is None:
            return None
        parts.append((edge.name, edge.param_type, edge.arg_index, digest))
    if len(parts) > 1:
        parts.sort(key=repr)
    return hash_flat(("Data", record.kind, code, record.metadata.get("op"), tuple(parts)))


def may_cut_off(record: NodeRecord) -> bool:
    """Whether a node about to run may still be reused by early cutoff."""
    reason = record.reason or {}
    return (
        record.key is not None
        and record.kind in TASK_KINDS
        and reason.get("decision") == "run"
        and reason.get("code") not in NO_CUTOFF
    )


def cutoff_reason(match: NodeRecord) -> dict[str, Any]:
    text = (
        f"same code and byte-identical inputs as node {match.node_id} of "
        f"{match.dispatch_id[:8]} (an upstream output was reproduced)"
    )
    return {"decision": "reuse", "code": "early_cutoff", "text": text}


def early_cutoff(
    store: Store, run: Run, batch: Batch, held: list[Node], now: datetime
) -> list[Node]:
    """Reuse those ready ``held`` nodes whose data key has a result in scope; return the rest.

    One query for all of them; a reused node is COMPLETED in ``run`` and ``batch``.
    """
    if not held:
        return held
    state, records = run.state, run.prepared.nodes
    keys = {
        n.id: None
        if downstream_of_not_reusable(run, n.id)
        else data_key(records[n.id], state.incoming[n.id], state.digests)
        for n in held
    }
    found = store.find_completed(
        [k for k in keys.values() if k], run.prepared.reuse_scope.dispatches
    )
    rest = []
    for node in held:
        match = found.get(keys[node.id] or "")
        if match is None or match.output_digest is None or match.not_reusable:
            rest.append(node)
            continue
        reason = records[node.id].reason = cutoff_reason(match)
        transitions.complete_stored(state, node.id, match.output_digest)  # read when needed
        batch.node(
            run.dispatch_id,
            node.id,
            status=st.COMPLETED,
            start_time=now,
            end_time=now,
            output_digest=match.output_digest,
            stdout=match.stdout,
            stderr=match.stderr,
            executor=match.executor,
            sub_dispatch_id=match.sub_dispatch_id,
            reused_from_dispatch=match.dispatch_id,
            reused_from_node=match.node_id,
            reason=reason,
        )
    return rest


def downstream_of_not_reusable(run: Run, node_id: int) -> bool:
    """Whether an upstream node of ``node_id`` is not reusable (a ``reusable=False`` task, or a
    sublattice that ran one): what depends on it always runs, even on byte-identical inputs.

    Memoised on the run; iterative, so a chain of 100,000 nodes costs one walk.
    """
    memo, records, incoming = run.unsafe, run.prepared.nodes, run.state.incoming
    stack = [node_id]
    while stack:
        current = stack[-1]
        if current in memo:
            stack.pop()
            continue
        parents = [e.parent for e in incoming[current]]
        pending = [p for p in parents if p not in memo]
        if pending:
            stack.extend(pending)
            continue
        memo[current] = any(records[p].not_reusable or memo[p] for p in parents)
        stack.pop()
    return memo[node_id]


def index_keys(run: Run, node_id: int, batch: Batch) -> None:
    """Queue the keys (Merkle and data) under which a node that ran computed its output."""
    record = run.prepared.nodes[node_id]
    if record.key is None:
        return
    batch.keys.append((record.key, run.dispatch_id, node_id))
    if record.not_reusable:  # found by its key only to say so; never by early cutoff
        return
    found = data_key(record, run.state.incoming[node_id], run.state.digests)
    if found is not None:
        batch.keys.append((found, run.dispatch_id, node_id))
