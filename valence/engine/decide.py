"""The reuse rule, as a pure function: which nodes of a new dispatch are reused, and why.

A node is reused exactly when its Merkle key equals the key of a COMPLETED node
with a stored, intact output: a node of the dispatch being redispatched (the
*previous* dispatch), or one found elsewhere in the store. Every other node runs
and carries the reason. Nothing here reads the store: :class:`Context` holds
what was read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from valence import status as st
from valence.engine.plan import Code, Decision
from valence.store.records import NodeRecord
from valence.workflow.graph import Edge, Node, NodeKind, TransportGraph


@dataclass(frozen=True)
class Context:
    """Everything :func:`decide` reads.

    ``previous`` holds the nodes of the dispatch redispatched, or is None for a
    new dispatch that reuses from the store only (then a node without a match
    runs as ``no_match``, described by ``scope_text``). ``found`` holds COMPLETED
    nodes from elsewhere in the store by key (the previous dispatch's win);
    ``problems`` says which of their outputs are missing or damaged
    (:func:`outputs_to_check`).
    """

    nodes: Sequence[NodeRecord]  # the new dispatch's records, by node id
    graph: TransportGraph
    previous: Sequence[NodeRecord] | None
    previous_id: str | None = None
    reuse: bool = True
    force: frozenset[str] = frozenset()
    found: Mapping[str, NodeRecord] = field(default_factory=dict)
    problems: Mapping[str, str] = field(default_factory=dict)
    scope_text: str = "the store"


def usable(
    previous: Sequence[NodeRecord] | None, found: Mapping[str, NodeRecord]
) -> tuple[dict[str, NodeRecord], dict[str, NodeRecord]]:
    """(reusable COMPLETED node by key, any node by key); previous nodes come first."""
    completed: dict[str, NodeRecord] = {}
    seen: dict[str, NodeRecord] = {}
    for node in previous or ():
        if node.key:
            seen.setdefault(node.key, node)
            if node.status == st.COMPLETED and node.output_digest and not node.not_reusable:
                completed.setdefault(node.key, node)
    for key, node in found.items():  # a not reusable match taints, as a previous one does
        seen.setdefault(key, node)
        if not node.not_reusable:
            completed.setdefault(key, node)
    return completed, seen


def outputs_to_check(previous: Sequence[NodeRecord], found: Mapping[str, NodeRecord]) -> list[str]:
    """The output digests a redispatch may reuse: check these are intact before deciding."""
    return [node.output_digest or "" for node in usable(previous, found)[0].values()]


def decide(ctx: Context) -> list[Decision]:
    """One decision per node of ``ctx.nodes``, in node id order."""
    completed, seen = usable(ctx.previous, ctx.found)
    counterparts = _Counterparts(ctx)
    incoming = ctx.graph.parents()
    decisions: dict[int, Decision] = {}
    forced: set[int] = set()
    tainted: dict[int, str] = {}  # a sublattice that ran a not reusable task, and dependents
    for node_id in ctx.graph.topological_order():
        node, record = ctx.graph.nodes[node_id], ctx.nodes[node_id]
        if ctx.force:  # else nothing is forced
            label = node.electron.name if node.electron is not None else node.name
            if label in ctx.force or any(e.parent in forced for e in incoming[node_id]):
                forced.add(node_id)
        _taint(node_id, record, seen, incoming[node_id], tainted)
        match = completed.get(record.key or "")
        reusable = ctx.reuse and node_id not in forced
        if reusable and match is not None and node_id not in tainted:
            decisions[node_id] = _reuse_or_repair(record, match, ctx)
        elif reusable and node_id in tainted:
            decisions[node_id] = _run(record, "not_reusable", tainted[node_id])
        else:
            why = _why_run(ctx, node, record, forced, seen, counterparts, incoming, decisions)
            decisions[node_id] = _run(record, *why)
    return [decisions[i] for i in range(len(ctx.nodes))]


def _run(record: NodeRecord, code: Code, text: str) -> Decision:
    return Decision(record.node_id, record.name, record.kind, "run", code, text)


def _reuse_or_repair(record: NodeRecord, match: NodeRecord, ctx: Context) -> Decision:
    """Reuse ``match``, unless its stored output is missing or damaged (then run again)."""
    problem = ctx.problems.get(match.output_digest or "")
    if problem is None:
        return reuse_decision(record, match, ctx.previous_id)
    text = (
        f"same key as node {match.node_id} of {(ctx.previous_id or match.dispatch_id)[:8]}, "
        f"but its stored output is {problem}"
    )
    return _run(record, "blob_missing" if problem == "missing" else "blob_damaged", text)


def reuse_decision(record: NodeRecord, match: NodeRecord, previous_id: str | None) -> Decision:
    """Reuse ``match`` (a node of ``previous_id``, or found elsewhere in the store)."""
    source = match.dispatch_id
    text = f"same key as node {match.node_id} of {source[:8]}"
    if match.reused_from_dispatch:
        text += f" (computed in {match.reused_from_dispatch[:8]})"
    code: Code = "reused" if source == previous_id else "reused_store"
    if code == "reused_store":
        text += ", found in the store"
    return Decision(
        record.node_id,
        record.name,
        record.kind,
        "reuse",
        code,
        text,
        (source, match.node_id),
        match,
    )


def _taint(
    node_id: int,
    record: NodeRecord,
    seen: Mapping[str, NodeRecord],
    incoming: Sequence[Edge],
    tainted: dict[int, str],
) -> None:
    old = seen.get(record.key or "")
    if old is not None and old.not_reusable:
        tainted[node_id] = f"in {old.dispatch_id[:8]} it {old.not_reusable}"
        return
    if not tainted:  # nothing upstream can be
        return
    for edge in incoming:
        if edge.parent in tainted:
            tainted[node_id] = f"upstream node {edge.parent} is not reusable"
            return


def _why_run(
    ctx: Context,
    node: Node,
    record: NodeRecord,
    forced: set[int],
    seen: Mapping[str, NodeRecord],
    counterparts: _Counterparts,
    incoming: Mapping[int, Sequence[Edge]],
    decisions: Mapping[int, Decision],
) -> tuple[Code, str]:
    if not ctx.reuse:
        return "reuse_off", "reuse_previous_results=False"
    if node.id in forced:
        named = (node.electron.name if node.electron is not None else node.name) in ctx.force
        return "forced", "named in force_rerun" if named else "downstream of a task in force_rerun"
    if record.key is None:
        return "not_reusable", record.not_reusable or "no key"
    if ctx.previous is None:
        return "no_match", f"no COMPLETED node in {ctx.scope_text} has this key"
    if record.key in seen:
        holder = seen[record.key]
        return "parent_not_completed", f"node {holder.node_id} had this key but was {holder.status}"
    replaced = node.metadata.get("replaced")
    old = counterparts.of(node.id)
    new_code = old is None or record.metadata.get("code") != old.metadata.get("code")
    if replaced and (new_code or old is None or old.name != record.name):
        return "replaced", f"{replaced} replaced by {record.name}"
    if old is None:
        return "new_node", "no matching task in the parent dispatch"
    if new_code:
        return "new_code", "the task's code (or a function, constant or file it uses) changed"
    return _changed_inputs(node, incoming, decisions)


def _changed_inputs(
    node: Node, incoming: Mapping[int, Sequence[Edge]], decisions: Mapping[int, Decision]
) -> tuple[Code, str]:
    arguments, upstream = [], []
    for edge in incoming[node.id]:
        before = decisions[edge.parent]
        if before.action == "reuse":
            continue
        if before.kind == "parameter" or (
            before.kind == "collection" and before.code == "changed_argument"
        ):
            arguments.append(edge.name if edge.param_type != "wait" else "(wait)")
        else:
            upstream.append(f"{before.node_id} ({before.name})")
    if node.kind is NodeKind.PARAMETER:
        return "changed_argument", "new value"
    if arguments:
        return "changed_argument", "changed argument(s): " + ", ".join(dict.fromkeys(arguments))
    if upstream:
        return "upstream_changed", "upstream changed: " + ", ".join(upstream)
    return "changed", "its inputs differ from the parent's (an argument was added or removed)"


class _Counterparts:
    """Each new node's previous node, paired on first use (only explanations need it)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._pairs: dict[int, NodeRecord] | None = None

    def of(self, node_id: int) -> NodeRecord | None:
        if self._pairs is None:
            self._pairs = _counterparts(self._ctx)
        return self._pairs.get(node_id)


def _counterparts(ctx: Context) -> dict[int, NodeRecord]:
    """Pair nodes by (original task name, occurrence): for explanations only."""
    old_by: dict[tuple[str, int], NodeRecord] = {}
    counts: dict[str, int] = {}
    for old in ctx.previous or ():
        name = str(old.metadata.get("replaced") or old.name)
        count = counts.get(name, 0)
        old_by[(name, count)] = old
        counts[name] = count + 1
    pairs: dict[int, NodeRecord] = {}
    counts = {}
    records = ctx.nodes
    for node in ctx.graph.nodes:
        name = str(node.metadata.get("replaced") or records[node.id].name)
        count = counts.get(name, 0)
        counts[name] = count + 1
        found = old_by.get((name, count))
        if found is not None:
            pairs[node.id] = found
    return pairs
