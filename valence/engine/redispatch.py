"""Redispatch: a new dispatch derived from a stored one, reusing what is still valid.

Everything comes from the store (the lattice and every electron travel by
value), so the original source is not needed. The plan is computed before
anything is written: bad inputs or replacements raise and leave the store as
it was. Which node is reused, and why each other one runs, is decided by the
pure :func:`valence.engine.decide.decide`; this module loads what it reads,
applies the decisions to the new dispatch's records and records the result
(reused rows copied inside the database where they are unchanged).

Names: the *previous* dispatch is the one redispatched; a sublattice's child
dispatch runs *inside* a node of the dispatch it belongs to; *upstream* nodes
feed a node in the graph.
"""

from __future__ import annotations

import inspect
import platform
from dataclasses import fields, replace
from datetime import datetime
from operator import attrgetter
from typing import Any

from valence import status as st
from valence.clock import utcnow
from valence.engine.decide import Context, decide, outputs_to_check
from valence.engine.plan import Decision, Plan
from valence.engine.prepare import (
    AllReused,
    Prepared,
    environment,
    new_dispatch_id,
    prepare_dispatch,
)
from valence.engine.reuse import (
    Scope,
    candidates,
    check_reuse_from,
    resolve_scope,
    reused_fields,
)
from valence.engine.stored import StoredDispatch
from valence.errors import ReplacementError
from valence.gcpause import gc_paused
from valence.store import Store
from valence.store.copy import RowCopy, as_ranges, record_dispatch_copying
from valence.store.records import DispatchRecord, EdgeRecord, NodeRecord
from valence.workflow.electron import Electron, as_electron
from valence.workflow.graph import SUBLATTICE_PREFIX
from valence.workflow.lattice import Lattice, bind_or_explain

__all__ = [
    "Decision",
    "Plan",
    "merge_inputs",
    "not_reusable_inside",
    "plan_redispatch",
    "record_new_dispatch",
    "reuse_from_store",
    "reuse_in_sublattice",
]


def merge_inputs(
    lattice: Lattice,
    old: tuple[tuple[Any, ...], dict[str, Any]],
    new_args: tuple[Any, ...],
    new_kwargs: dict[str, Any],
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Bind new arguments over the original ones, parameter by parameter."""
    if not new_args and not new_kwargs:
        return old
    original = lattice.bind_inputs(*old)
    sig = original.signature
    update = bind_or_explain(
        lattice.function, lattice.name, new_args, new_kwargs, "lattice", sig, partial=True
    )
    merged = dict(original.arguments)
    merged.update(update.arguments)
    bound = inspect.BoundArguments(sig, merged)
    args, kwargs = bound.args, bound.kwargs
    lattice.bind_inputs(args, kwargs)
    return tuple(args), dict(kwargs)


def signature_shape(function: Any) -> list[list[Any]]:
    """Parameter names, kinds and which have defaults: what a replacement must match."""
    sig = inspect.signature(function)
    return [[p.name, p.kind.name, p.default is not p.empty] for p in sig.parameters.values()]


def resolve_replacements(previous: StoredDispatch, replace: dict[str, Any]) -> dict[str, Electron]:
    """Merge new replacements with those the previous dispatch ran with; check them."""
    effective = dict(previous.replacements)
    if not replace:
        return effective
    known = _task_metadata(previous)
    current = {electron.name: original for original, electron in effective.items()}
    for name, value in replace.items():
        if name not in known:
            raise ReplacementError(
                f"replace_electrons names {name!r}, which is not a task of dispatch "
                f"{previous.dispatch_id}; its tasks are: {', '.join(sorted(known))}"
            )
        new = as_electron(value, f"replace_electrons[{name!r}]")
        _check_signature(name, known[name], new)
        effective[current.get(name, name)] = new
    return effective


def _task_metadata(previous: StoredDispatch) -> dict[str, dict[str, Any]]:
    """Task name -> its stored metadata, in the dispatch and its sublattices."""
    found: dict[str, dict[str, Any]] = {}
    pending = [previous.nodes_for_planning]
    while pending:
        for node in pending.pop():
            if node.kind not in ("electron", "sublattice"):
                continue
            found.setdefault(node.name.removeprefix(SUBLATTICE_PREFIX), node.metadata)
            if node.sub_dispatch_id:
                pending.append(previous.store.get_nodes_for_planning(node.sub_dispatch_id))
    return found


def _check_signature(name: str, stored: dict[str, Any], new: Electron) -> None:
    target = new.function.function if isinstance(new.function, Lattice) else new.function
    if stored.get("params") is not None and stored["params"] != signature_shape(target):
        raise ReplacementError(
            f"replacement for {name!r} has signature {new.name}{inspect.signature(target)}, "
            f"but the workflow calls {name}{stored.get('signature', '')}; give the replacement "
            "the same parameters (names, kinds, and which have defaults)"
        )


@gc_paused()
def plan_redispatch(
    store: Store,
    dispatch_id: str,
    *,
    args: tuple[Any, ...] = (),
    kwargs: dict[str, Any] | None = None,
    replace: dict[str, Any] | None = None,
    reuse: bool = False,
    force_rerun: tuple[str, ...] = (),
    reuse_from: str | tuple[str, ...] | list[str] | None = None,
) -> Plan:
    """Everything a redispatch will do, computed without writing anything.

    ``reuse_from`` ("parent", "any" or dispatch ids) turns reuse on and says
    where keys are looked up besides the dispatch redispatched.
    """
    reuse_from = check_reuse_from(reuse_from)
    reuse = reuse or reuse_from is not None
    previous = StoredDispatch(store, store.get_dispatch(store.resolve_id(dispatch_id)))
    if reuse and not (args or kwargs or replace or force_rerun) and _all_reusable(previous):
        for prefix in reuse_from if isinstance(reuse_from, tuple) else ():
            store.resolve_id(prefix)  # an unknown id raises even when nothing is looked up
        return _full_reuse(previous)
    scope = resolve_scope(store, reuse_from, previous.dispatch_id) if reuse else None
    args, kwargs = merge_inputs(
        previous.lattice, (previous.args, previous.kwargs), args, kwargs or {}
    )
    replacements = resolve_replacements(previous, replace or {})
    names = {electron.name for electron in replacements.values()}
    known = _task_metadata(previous) if force_rerun else {}
    unknown = [name for name in force_rerun if name not in known and name not in names]
    if unknown:
        raise ReplacementError(
            f"force_rerun names {unknown}, which are not tasks of dispatch "
            f"{previous.dispatch_id}; its tasks are: {', '.join(sorted(known))}"
        )
    prepared = prepare_dispatch(
        previous.lattice,
        args,
        kwargs,
        replacements=replacements,
        redispatched_from=previous.dispatch_id,
        lattice_digest=previous.record.lattice_digest,
    )
    prepared, decisions = _plan_against(
        prepared, previous, reuse=reuse, force=frozenset(force_rerun), scope=scope
    )
    return Plan(previous.dispatch_id, decisions, prepared)


def _plan_against(
    prepared: Prepared,
    previous: StoredDispatch,
    *,
    reuse: bool,
    force: frozenset[str],
    scope: Scope | None,
) -> tuple[Prepared, list[Decision]]:
    """Decide every node of ``prepared`` against ``previous``; the updated dispatch."""
    store = previous.store
    found = candidates(store, prepared.nodes, scope) if scope and scope.store_wide else {}
    problems = _output_problems(previous, found) if reuse else {}
    context = Context(
        prepared.nodes,
        prepared.graph,
        previous.nodes_for_planning,
        previous.dispatch_id,
        reuse=reuse,
        force=force,
        found=found,
        problems=problems,
    )
    decisions = decide(context)
    now = utcnow()
    done = apply_decisions(prepared.nodes, decisions, now)
    if not reuse:
        return replace(prepared, done={**prepared.done, **done}), decisions
    if scope is not None:
        prepared.record.metadata["reuse_scope"] = scope.as_metadata()
    planned = replace(
        prepared,
        done={**prepared.done, **done},
        previous_id=previous.dispatch_id,
        force_rerun=force,
        reuse_scope=scope,
    )
    copy = row_copy(planned, previous, now)
    if copy is not None:
        planned = replace(planned, copy=copy, blobs=_unwritten_blobs(planned, copy))
    return planned, decisions


def _output_problems(previous: StoredDispatch, found: dict[str, NodeRecord]) -> dict[str, str]:
    """Which outputs the plan may reuse are missing or damaged: every output of ``previous``
    (checked in one query) and those of the nodes ``found`` elsewhere in the store."""
    store = previous.store
    problems = store.output_problems(previous.dispatch_id)
    problems.update(store.blob_problems(outputs_to_check((), found)))
    return problems


def reuse_from_store(store: Store, prepared: Prepared, scope: Scope) -> Prepared:
    """A dispatch that reuses by key from ``scope`` (the whole store), redispatching nothing.

    Each node whose key a COMPLETED node in the scope has is reused from it;
    every other node runs (and may still be reused by early cutoff).
    """
    context = Context(
        prepared.nodes,
        prepared.graph,
        None,
        found=candidates(store, prepared.nodes, scope),
        scope_text=scope.describe(),
    )
    done = apply_decisions(prepared.nodes, decide(context), utcnow())
    prepared.record.metadata["reuse_scope"] = scope.as_metadata()
    return replace(prepared, done={**prepared.done, **done}, reuse_scope=scope)


def reuse_in_sublattice(store: Store, outer: Prepared, node_id: int, child: Prepared) -> Prepared:
    """``child``, a sublattice's new child dispatch, planned by ``outer``'s reuse settings.

    In a redispatch with reuse, the child is planned against the child dispatch
    that the same sublattice node ran in the previous dispatch (same node id and
    name; when ids shifted, e.g. a dict input became a collection node, the
    same occurrence of that name), by the same key rule as the top level.
    """
    if outer.previous_id is None:
        if outer.reuse_scope is None:
            return child
        return reuse_from_store(store, child, outer.reuse_scope)
    old = _same_sublattice(store, outer.previous_id, outer, node_id)
    if old is None or not old.sub_dispatch_id:
        if outer.reuse_scope is not None and outer.reuse_scope.store_wide:
            return reuse_from_store(store, child, outer.reuse_scope)
        return child
    previous = StoredDispatch(store, store.get_dispatch(old.sub_dispatch_id))
    planned, _ = _plan_against(
        child, previous, reuse=True, force=outer.force_rerun, scope=outer.reuse_scope
    )
    return planned


def _same_sublattice(
    store: Store, previous_id: str, outer: Prepared, node_id: int
) -> NodeRecord | None:
    """The previous dispatch's node for this sublattice node: same id, else same occurrence."""
    name = outer.nodes[node_id].name
    try:
        old = store.get_node(previous_id, node_id)
    except KeyError:
        old = None
    if old is not None and old.name == name:
        return old
    occurrence = sum(1 for record in outer.nodes[:node_id] if record.name == name)
    olds = [n for n in store.get_nodes(previous_id) if n.name == name]
    return olds[occurrence] if occurrence < len(olds) else None


def not_reusable_inside(child: Prepared) -> str | None:
    """Why a finished sublattice's output is not a function of its key, if it is not.

    A task inside it (at any depth: a nested sublattice is marked the same way when it
    finishes) had no key, e.g. ``reusable=False``. The sublattice node keeps its key but
    is never reused, and what depends on it runs again.
    """
    for record in child.nodes:
        if record.not_reusable and record.kind in ("electron", "sublattice"):
            name = record.name.removeprefix(SUBLATTICE_PREFIX)
            return f"runs {name}, which is not reusable: {record.not_reusable}"
    return None


def _all_reusable(previous: StoredDispatch) -> bool:
    record, store = previous.record, previous.store
    if record.status != st.COMPLETED or not record.result_digest:
        return False
    if record.metadata.get("reads_files"):  # keys depend on file contents: recompute them
        return False
    if not _same_environment(record):
        return False
    if store.unreusable_node_count(record.dispatch_id) != 0:
        return False
    return not store.output_problems(record.dispatch_id)  # else damaged ones run again


def _same_environment(record: DispatchRecord) -> bool:
    """Keys from the stored code alone would come out the same here.

    What a key reads outside the stored code: installed versions (and Python's), and user
    modules a task imports inside its body, found on ``sys.path`` (then re-trace).
    """
    return (
        record.python_version == platform.python_version()
        and not record.metadata.get("user_imports")
        and (record.environment or {}) == environment()
    )


def _full_reuse(previous: StoredDispatch) -> Plan:
    """Same inputs, same code, every node COMPLETED with a key: every key matches.

    The keys are a pure function of the stored lattice, inputs and replacements,
    so re-tracing would reproduce the previous dispatch's keys exactly, every
    node would be reused and the result would be its result blob. The new
    dispatch is recorded COMPLETED at once, its node rows copied inside the database.
    """
    old = previous.record
    now = utcnow()
    new_id = new_dispatch_id()
    record = replace(
        old,
        dispatch_id=new_id,
        status=st.COMPLETED,
        root_dispatch_id=new_id,
        created_at=now,
        parent_dispatch_id=None,
        parent_node_id=None,
        redispatched_from=old.dispatch_id,
        start_time=now,
        end_time=now,
        error=None,
        python_version=platform.python_version(),
        environment=environment(),
        owner=None,
    )
    text = f"same key as the same node of {old.dispatch_id[:8]} (nothing changed)"
    reason: dict[str, Any] = {"decision": "reuse", "code": "reused", "text": text}

    def decisions() -> list[Decision]:
        return [
            Decision(
                n.node_id, n.name, n.kind, "reuse", "reused", text, (old.dispatch_id, n.node_id), n
            )
            for n in previous.nodes_for_planning
        ]

    return Plan(old.dispatch_id, decisions, AllReused(record, old.dispatch_id, reason))


def apply_decisions(
    nodes: list[NodeRecord], decisions: list[Decision], now: datetime
) -> dict[int, str]:
    """Record every reason; mark reused nodes COMPLETED with their source's output.

    Returns node id -> output digest of the reused nodes.
    """
    done: dict[int, str] = {}
    for decision, record in zip(decisions, nodes, strict=False):
        record.reason = decision.as_reason()
        source = decision.source
        if decision.action != "reuse" or source is None:
            continue
        vars(record).update(reused_fields(source, now))
        done[record.node_id] = source.output_digest or ""
    return done


_REUSE_FIELDS = (
    "dispatch_id",
    "status",
    "start_time",
    "end_time",
    "error",
    "traceback",
    "attempts",
    "reused_from_dispatch",
    "reused_from_node",
    "reason",
)
_KEPT = tuple(f.name for f in fields(NodeRecord) if f.name not in _REUSE_FIELDS)
"""The fields a copied row keeps as they are: every field but those the copy sets."""
_KEPT_PLAIN = attrgetter(*(name for name in _KEPT if name != "metadata"))


def row_copy(prepared: Prepared, previous: StoredDispatch, when: datetime) -> RowCopy | None:
    """The nodes whose rows equal the same node's row of ``previous`` but for reuse fields.

    Those are copied inside the database when the dispatch is recorded
    (:func:`record_new_dispatch`). A node qualifies only if the row the copy
    makes (:func:`valence.store.copy.record_dispatch_copying`) equals the row its
    record would be written as, field by field (each pair of ``metadata`` dicts
    compared once: many nodes share theirs).
    """
    previous_id, old_nodes = previous.dispatch_id, previous.nodes_for_planning
    copied = []
    same_metadata: dict[tuple[int, int], bool] = {}  # both lists keep the dicts alive
    for record in prepared.nodes:
        i = record.node_id
        old = old_nodes[i] if i < len(old_nodes) else None
        if (
            old is not None
            and old.node_id == i
            and record.reused_from_dispatch == previous_id
            and record.reused_from_node == i
            and record.status == st.COMPLETED
            and record.start_time == when
            and record.end_time == when
            and record.error is None
            and record.traceback is None
            and record.attempts == 0
            and _KEPT_PLAIN(record) == _KEPT_PLAIN(old)
            and record.reason == _reused_reason(i, previous_id, old.reused_from_dispatch)
        ):
            pair = (id(record.metadata), id(old.metadata))
            same = same_metadata.get(pair)
            if same is None:
                same = same_metadata[pair] = record.metadata == old.metadata
            if same:
                copied.append(i)
    if not copied:
        return None
    same_edges = [_edge_row(e) for e in prepared.edges] == previous.edge_rows
    return RowCopy(previous_id, as_ranges(copied), when, same_edges)


def _reused_reason(node_id: int, previous_id: str, computed_in: str | None) -> dict[str, Any]:
    """The reason :func:`valence.engine.decide.reuse_decision` gives a node of the previous
    dispatch's same node, as :mod:`valence.store.copy` builds it in SQL."""
    text = f"same key as node {node_id} of {previous_id[:8]}"
    if computed_in:
        text += f" (computed in {computed_in[:8]})"
    return {"decision": "reuse", "code": "reused", "text": text}


def _unwritten_blobs(prepared: Prepared, copy: RowCopy) -> dict[str, bytes]:
    """``prepared.blobs`` without the values of copied parameter nodes.

    A parameter's output is its value: a reused one was checked intact before
    deciding, so it need not be hashed and offered to the store again. A digest
    any other row or the dispatch record names is kept.
    """
    copied = copy.covers()
    drop = {
        n.value_digest
        for n in prepared.nodes
        if n.node_id in copied and n.value_digest and n.value_digest == n.output_digest
    }
    if not drop:
        return prepared.blobs
    record = prepared.record
    drop.difference_update(
        d
        for n in prepared.nodes
        if n.node_id not in copied
        for d in (n.value_digest, n.function_digest, n.source_digest, n.output_digest)
    )
    drop.difference_update(
        (
            record.inputs_digest,
            record.lattice_digest,
            record.graph.get("output_digest"),
            record.metadata.get("replacements_digest"),
        )
    )
    return {d: data for d, data in prepared.blobs.items() if d not in drop}


def _edge_row(edge: EdgeRecord) -> tuple[int, int, str, str, int | None]:
    return edge.parent_id, edge.child_id, edge.edge_name, edge.param_type, edge.arg_index


def record_new_dispatch(store: Store, prepared: Prepared) -> None:
    """Write ``prepared``'s dispatch, nodes, edges and blobs in one transaction."""
    if prepared.copy is None:
        store.record_dispatch(prepared.record, prepared.nodes, prepared.edges, prepared.blobs)
    else:
        record_dispatch_copying(
            store, prepared.record, prepared.nodes, prepared.edges, prepared.blobs, prepared.copy
        )
