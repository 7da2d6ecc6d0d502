"""Redispatch: a new dispatch derived from a stored one, reusing what is still valid.

Everything comes from the store (the lattice and every electron travel by
value), so the original source is not needed. The plan is computed before
anything is written: bad inputs or replacements raise and leave the store as
it was. A node is reused exactly when its Merkle key equals the key of a
COMPLETED node of the parent dispatch; every node carries the reason.
"""

from __future__ import annotations

import html
import inspect
import platform
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from valence import serialize
from valence import status as st
from valence.clock import utcnow
from valence.engine.prepare import (
    Prepared,
    environment,
    gc_paused,
    new_dispatch_id,
    prepare_dispatch,
)
from valence.engine.reuse import Scope, candidates, check_reuse_from, resolve_scope
from valence.errors import ReplacementError
from valence.store import Store
from valence.store.records import DispatchRecord, EdgeRecord, NodeRecord
from valence.workflow.electron import Electron, as_electron
from valence.workflow.graph import SUBLATTICE_PREFIX, NodeKind, TransportGraph
from valence.workflow.lattice import Lattice, bind_or_explain


@dataclass(frozen=True)
class Decision:
    """What a redispatch does with one node, and why."""

    node_id: int
    name: str
    kind: str
    action: str  # "reuse" or "run"
    code: str  # reused | reused_store | reuse_off | forced | not_reusable | parent_not_completed
    #            | replaced | new_code | changed_argument | upstream_changed | new_node | changed
    #            | no_match (early_cutoff is decided while running, never in a plan)
    #            | blob_missing | blob_damaged
    text: str
    reused_from: tuple[str, int] | None = None
    source: NodeRecord | None = field(default=None, repr=False, compare=False)

    def as_reason(self) -> dict[str, Any]:
        return {"decision": self.action, "code": self.code, "text": self.text}


class Plan:
    """The per-node decisions of a redispatch, before it runs."""

    def __init__(
        self,
        parent_id: str,
        decisions: list[Decision] | Callable[[], list[Decision]],
        prepared: Prepared,
    ) -> None:
        self.parent_id = parent_id
        self._decisions = decisions
        self.prepared = prepared

    @property
    def decisions(self) -> list[Decision]:
        if callable(self._decisions):
            self._decisions = self._decisions()
        return self._decisions

    @property
    def reused(self) -> list[Decision]:
        return [d for d in self.decisions if d.action == "reuse"]

    @property
    def to_run(self) -> list[Decision]:
        return [d for d in self.decisions if d.action == "run"]

    def tasks(self) -> list[Decision]:
        """Decisions for task and sublattice nodes only (helpers hidden)."""
        return [d for d in self.decisions if d.kind in ("electron", "sublattice")]

    def headline(self) -> str:
        """``Redispatch of X: 1 task reused, 1 to run`` (tasks only; helpers are not counted)."""
        tasks = self.tasks()
        reused = sum(1 for d in tasks if d.action == "reuse")
        return (
            f"Redispatch of {self.parent_id}: {reused} task{'s' * (reused != 1)} reused, "
            f"{len(tasks) - reused} to run"
        )

    def __repr__(self) -> str:
        return f"<{self.headline()}>"

    def __str__(self) -> str:
        lines = [self.headline()]
        lines += [
            f"  {d.node_id:>4}  {d.name[:30]:<30} {d.action.upper():<5}  {d.text}"
            for d in self.tasks()
        ]
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td style='text-align:right'>{d.node_id}</td><td>{html.escape(d.name)}</td>"
            f"<td><b>{d.action.upper()}</b></td><td>{html.escape(d.text)}</td></tr>"
            for d in self.tasks()
        )
        head = "<tr><th>id</th><th>task</th><th>decision</th><th>why</th></tr>"
        return f"<div><b>{html.escape(self.headline())}</b><table>{head}{rows}</table></div>"


class Parent:
    """A stored dispatch as redispatch and resume need it: code and inputs by value.

    Loading raises CodeUnavailableError when the stored code needs a module this
    process lacks. Node and edge rows are read on first use.
    """

    def __init__(self, store: Store, record: DispatchRecord) -> None:
        self.store = store
        self.record = record
        self.lattice: Lattice = serialize.loads(store.get_blob(record.lattice_digest or ""))
        inputs = serialize.loads(store.get_blob(record.inputs_digest or ""))
        self.args: tuple[Any, ...] = tuple(inputs["args"])
        self.kwargs: dict[str, Any] = dict(inputs["kwargs"])
        digest = record.metadata.get("replacements_digest")
        self.replacements: dict[str, Electron] = (
            serialize.loads(store.get_blob(digest)) if digest else {}
        )

    @cached_property
    def nodes(self) -> list[NodeRecord]:
        return self.store.get_nodes(self.record.dispatch_id)

    @cached_property
    def edges(self) -> list[EdgeRecord]:
        return self.store.get_edges(self.record.dispatch_id)


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
    bound = inspect.BoundArguments(sig, merged)  # type: ignore[arg-type]
    args, kwargs = bound.args, bound.kwargs
    lattice.bind_inputs(args, kwargs)
    return tuple(args), dict(kwargs)


def signature_shape(function: Any) -> list[list[Any]]:
    """Parameter names, kinds and which have defaults: what a replacement must match."""
    sig = inspect.signature(function)
    return [[p.name, p.kind.name, p.default is not p.empty] for p in sig.parameters.values()]


def resolve_replacements(
    parent: Parent, store: Store, replace: dict[str, Any]
) -> dict[str, Electron]:
    """Merge new replacements with those the parent already ran with; check them."""
    effective = dict(parent.replacements)
    if not replace:
        return effective
    known = _task_metadata(parent, store)
    current = {electron.name: original for original, electron in effective.items()}
    for name, value in replace.items():
        if name not in known:
            raise ReplacementError(
                f"replace_electrons names {name!r}, which is not a task of dispatch "
                f"{parent.record.dispatch_id}; its tasks are: {', '.join(sorted(known))}"
            )
        new = as_electron(value, f"replace_electrons[{name!r}]")
        _check_signature(name, known[name], new)
        effective[current.get(name, name)] = new
    return effective


def _task_metadata(parent: Parent, store: Store) -> dict[str, dict[str, Any]]:
    """Task name -> its stored metadata, in the parent and its sublattices."""
    found: dict[str, dict[str, Any]] = {}
    pending = [parent.nodes]
    while pending:
        for node in pending.pop():
            if node.kind not in ("electron", "sublattice"):
                continue
            found.setdefault(node.name.removeprefix(SUBLATTICE_PREFIX), node.metadata)
            if node.sub_dispatch_id:
                pending.append(store.get_nodes(node.sub_dispatch_id))
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
    where keys are looked up besides the parent.
    """
    reuse_from = check_reuse_from(reuse_from)
    reuse = reuse or reuse_from is not None
    parent = Parent(store, store.get_dispatch(store.resolve_id(dispatch_id)))
    if reuse and not (args or kwargs or replace or force_rerun) and _all_reusable(parent):
        for prefix in reuse_from if isinstance(reuse_from, tuple) else ():
            store.resolve_id(prefix)  # an unknown id raises even when nothing is looked up
        return _full_reuse(store, parent)
    scope = resolve_scope(store, reuse_from, parent.record.dispatch_id) if reuse else None
    args, kwargs = merge_inputs(parent.lattice, (parent.args, parent.kwargs), args, kwargs or {})
    replacements = resolve_replacements(parent, store, replace or {})
    known = _task_metadata(parent, store)
    unknown = [
        name for name in force_rerun if name not in known and name not in _names(replacements)
    ]
    if unknown:
        raise ReplacementError(
            f"force_rerun names {unknown}, which are not tasks of dispatch "
            f"{parent.record.dispatch_id}; its tasks are: {', '.join(sorted(known))}"
        )
    prepared = prepare_dispatch(
        parent.lattice,
        args,
        kwargs,
        replacements=replacements,
        redispatched_from=parent.record.dispatch_id,
        lattice_digest=parent.record.lattice_digest,
    )
    decisions = _plan_against(
        prepared, parent, reuse=reuse, force=frozenset(force_rerun), scope=scope
    )
    return Plan(parent.record.dispatch_id, decisions, prepared)


def _plan_against(
    prepared: Prepared,
    parent: Parent,
    *,
    reuse: bool,
    force: frozenset[str],
    scope: Scope | None = None,
) -> list[Decision]:
    found = candidates(parent.store, prepared.nodes, scope) if scope and scope.store_wide else None
    decisions = decide(prepared, parent, reuse=reuse, force=set(force), found=found)
    apply_decisions(prepared, decisions)
    if reuse:
        prepared.reuse_parent = parent.record.dispatch_id
        prepared.force_rerun = force
        prepared.reuse_scope = scope
        if scope is not None:
            prepared.record.metadata["reuse_scope"] = scope.as_metadata()
    return decisions


def reuse_inside_sublattice(store: Store, outer: Prepared, node_id: int, child: Prepared) -> None:
    """A sublattice that must run again still reuses what is valid inside it.

    Its new child dispatch is planned against the child dispatch that the same
    sublattice node ran in the dispatch being reused from (same node id and
    name; when ids shifted, e.g. a dict input became a collection node, the
    same occurrence of that name), by the same key rule as the top level.
    """
    assert outer.reuse_parent is not None
    old = _same_sublattice(store, outer, node_id)
    if old is None or not old.sub_dispatch_id:
        if outer.reuse_scope is not None and outer.reuse_scope.store_wide:
            reuse_from_store(store, child, outer.reuse_scope)
        return
    parent = Parent(store, store.get_dispatch(old.sub_dispatch_id))
    _plan_against(child, parent, reuse=True, force=outer.force_rerun, scope=outer.reuse_scope)


def reuse_in_sublattice(store: Store, outer: Prepared, node_id: int, child: Prepared) -> None:
    """Plan a sublattice's new child dispatch by the reuse settings of the dispatch it runs in."""
    if outer.reuse_parent is not None:
        reuse_inside_sublattice(store, outer, node_id, child)
    elif outer.reuse_scope is not None:
        reuse_from_store(store, child, outer.reuse_scope)


def reuse_from_store(store: Store, prepared: Prepared, scope: Scope) -> list[Decision]:
    """A dispatch without a parent that reuses by key from ``scope`` (the whole store).

    Each node whose key a COMPLETED node in the scope has is reused from it;
    every other node runs (and may still be reused by early cutoff).
    """
    found = candidates(store, prepared.nodes, scope)
    incoming = prepared.graph.parents()
    tainted: dict[int, str] = {}  # a sublattice that ran a not reusable task, and dependents
    by_id: dict[int, Decision] = {}
    for node_id in prepared.graph.topological_order():
        record = prepared.nodes[node_id]
        args = (record.node_id, record.name, record.kind)
        _taint(node_id, record, found, incoming[node_id], tainted)
        match = found.get(record.key or "")
        if node_id in tainted:
            by_id[node_id] = Decision(*args, "run", "not_reusable", tainted[node_id])
        elif match is not None and not match.not_reusable:
            by_id[node_id] = _reuse(args, match, None)
        elif record.key is None:
            why = record.not_reusable or "no key"
            by_id[node_id] = Decision(*args, "run", "not_reusable", why)
        else:
            text = f"no COMPLETED node in {scope.describe()} has this key"
            by_id[node_id] = Decision(*args, "run", "no_match", text)
    decisions = [by_id[i] for i in range(len(prepared.nodes))]
    apply_decisions(prepared, decisions)
    prepared.reuse_scope = scope
    prepared.record.metadata["reuse_scope"] = scope.as_metadata()
    return decisions


def _same_sublattice(store: Store, outer: Prepared, node_id: int) -> NodeRecord | None:
    """The reused-from dispatch's node for this sublattice node: same id, else same occurrence."""
    assert outer.reuse_parent is not None
    name = outer.nodes[node_id].name
    try:
        old = store.get_node(outer.reuse_parent, node_id)
    except KeyError:
        old = None
    if old is not None and old.name == name:
        return old
    occurrence = sum(1 for record in outer.nodes[:node_id] if record.name == name)
    olds = [n for n in store.get_nodes(outer.reuse_parent) if n.name == name]
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


def _all_reusable(parent: Parent) -> bool:
    record = parent.record
    if record.status != st.COMPLETED or not record.result_digest:
        return False
    if record.metadata.get("reads_files"):  # keys depend on file contents: recompute them
        return False
    if not _same_environment(record):
        return False
    if parent.store.unreusable_node_count(record.dispatch_id) != 0:
        return False
    return not parent.store.output_problems(record.dispatch_id)  # else damaged ones run again


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


def _full_reuse(store: Store, parent: Parent) -> Plan:
    """Same inputs, same code, every node COMPLETED with a key: every key matches.

    The keys are a pure function of the stored lattice, inputs and replacements,
    so re-tracing would reproduce the parent's keys exactly, every node would be
    reused and the result would be the parent's result blob. The new dispatch
    is recorded COMPLETED at once, its node rows copied inside the database.
    """
    old = parent.record
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
    reason = {"decision": "reuse", "code": "reused", "text": text}
    prepared = Prepared(
        record,
        [],
        [],
        {},
        TransportGraph(),
        parent.lattice,
        parent.args,
        parent.kwargs,
        [],
        replacements=dict(parent.replacements),
        reuse_source=old.dispatch_id,
        reuse_reason=reason,
    )

    def decisions() -> list[Decision]:
        return [
            Decision(
                n.node_id, n.name, n.kind, "reuse", "reused", text, (old.dispatch_id, n.node_id), n
            )
            for n in parent.nodes
        ]

    return Plan(old.dispatch_id, decisions, prepared)


def _names(replacements: dict[str, Electron]) -> set[str]:
    return {electron.name for electron in replacements.values()}


def decide(
    prepared: Prepared,
    parent: Parent,
    *,
    reuse: bool,
    force: set[str],
    found: dict[str, NodeRecord] | None = None,
) -> list[Decision]:
    """Reuse by key equality with a COMPLETED parent node; explain everything else.

    ``found`` adds COMPLETED nodes from elsewhere in the store (the parent's win).
    """
    completed: dict[str, NodeRecord] = {}
    seen: dict[str, NodeRecord] = {}
    for node in parent.nodes:
        if node.key:
            seen.setdefault(node.key, node)
            if node.status == st.COMPLETED and node.output_digest and not node.not_reusable:
                completed.setdefault(node.key, node)
    for key, node in (found or {}).items():  # a not reusable match taints, as a parent's does
        seen.setdefault(key, node)
        if not node.not_reusable:
            completed.setdefault(key, node)
    outputs = [n.output_digest or "" for n in completed.values()] if reuse else []
    problems = parent.store.blob_problems(outputs)
    counterparts = _counterparts(prepared, parent)
    incoming = prepared.graph.parents()
    decisions: dict[int, Decision] = {}
    forced: set[int] = set()
    tainted: dict[int, str] = {}  # a sublattice that ran a not reusable task, and dependents
    for node_id in prepared.graph.topological_order():
        node, record = prepared.graph.nodes[node_id], prepared.nodes[node_id]
        label = node.electron.name if node.electron is not None else node.name
        if label in force or any(e.parent in forced for e in incoming[node.id]):
            forced.add(node.id)
        _taint(node.id, record, seen, incoming[node.id], tainted)
        args = (node.id, record.name, record.kind)
        match = completed.get(record.key or "")
        if reuse and match is not None and node.id not in forced and node.id not in tainted:
            problem = problems.get(match.output_digest or "")
            if problem is None:
                decisions[node_id] = _reuse(args, match, parent.record.dispatch_id)
            else:  # running it again rewrites the blob
                text = (
                    f"same key as node {match.node_id} of {parent.record.dispatch_id[:8]}, "
                    f"but its stored output is {problem}"
                )
                decisions[node_id] = Decision(*args, "run", f"blob_{problem}", text)
            continue
        if reuse and node.id in tainted and node.id not in forced:
            decisions[node_id] = Decision(*args, "run", "not_reusable", tainted[node.id])
            continue
        code, text = _why_run(
            node, record, reuse, forced, seen, counterparts, incoming, decisions, label in force
        )
        decisions[node_id] = Decision(*args, "run", code, text)
    return [decisions[i] for i in range(len(prepared.nodes))]


def _taint(node_id: int, record: NodeRecord, seen, incoming, tainted: dict[int, str]) -> None:
    old = seen.get(record.key or "")
    if old is not None and old.not_reusable:
        tainted[node_id] = f"in {old.dispatch_id[:8]} it {old.not_reusable}"
        return
    for edge in incoming:
        if edge.parent in tainted:
            tainted[node_id] = f"upstream node {edge.parent} is not reusable"
            return


def _reuse(args: tuple[int, str, str], match: NodeRecord, parent_id: str | None) -> Decision:
    source = match.dispatch_id
    text = f"same key as node {match.node_id} of {source[:8]}"
    if match.reused_from_dispatch:
        text += f" (computed in {match.reused_from_dispatch[:8]})"
    code = "reused" if source == parent_id else "reused_store"
    if code == "reused_store":
        text += ", found in the store"
    return Decision(*args, "reuse", code, text, (source, match.node_id), match)


def _why_run(
    node, record, reuse, forced, seen, counterparts, incoming, decisions, named
) -> tuple[str, str]:
    if not reuse:
        return "reuse_off", "reuse_previous_results=False"
    if node.id in forced:
        return "forced", "named in force_rerun" if named else "downstream of a task in force_rerun"
    if record.key is None:
        return "not_reusable", record.not_reusable or "no key"
    if record.key in seen:
        old = seen[record.key]
        return "parent_not_completed", f"node {old.node_id} had this key but was {old.status}"
    replaced = node.metadata.get("replaced")
    old = counterparts.get(node.id)
    new_code = old is None or record.metadata.get("code") != old.metadata.get("code")
    if replaced and (new_code or old is None or old.name != record.name):
        return "replaced", f"{replaced} replaced by {record.name}"
    if old is None:
        return "new_node", "no matching task in the parent dispatch"
    if new_code:
        return "new_code", "the task's code (or a function, constant or file it uses) changed"
    return _changed_inputs(node, incoming, decisions)


def _changed_inputs(node, incoming, decisions) -> tuple[str, str]:
    arguments, upstream = [], []
    for edge in incoming[node.id]:
        parent = decisions[edge.parent]
        if parent.action == "reuse":
            continue
        if parent.kind == "parameter" or (
            parent.kind == "collection" and parent.code == "changed_argument"
        ):
            arguments.append(edge.name if edge.param_type != "wait" else "(wait)")
        else:
            upstream.append(f"{parent.node_id} ({parent.name})")
    if node.kind is NodeKind.PARAMETER:
        return "changed_argument", "new value"
    if arguments:
        return "changed_argument", "changed argument(s): " + ", ".join(dict.fromkeys(arguments))
    if upstream:
        return "upstream_changed", "upstream changed: " + ", ".join(upstream)
    return "changed", "its inputs differ from the parent's (an argument was added or removed)"


def _counterparts(prepared: Prepared, parent: Parent) -> dict[int, NodeRecord]:
    """Pair nodes by (original task name, occurrence): for explanations only."""

    def ident(name: str, metadata: dict[str, Any]) -> str:
        return metadata.get("replaced") or name

    old_by: dict[tuple[str, int], NodeRecord] = {}
    counts: Counter[str] = Counter()
    for node in parent.nodes:
        name = ident(node.name, node.metadata)
        old_by[(name, counts[name])] = node
        counts[name] += 1
    pairs: dict[int, NodeRecord] = {}
    counts = Counter()
    for node in prepared.graph.nodes:
        name = ident(prepared.nodes[node.id].name, node.metadata)
        found = old_by.get((name, counts[name]))
        counts[name] += 1
        if found is not None:
            pairs[node.id] = found
    return pairs


def apply_decisions(prepared: Prepared, decisions: list[Decision]) -> None:
    """Mark reused nodes COMPLETED with the parent's blob; record every reason."""
    now = utcnow()
    for decision, record in zip(decisions, prepared.nodes, strict=False):
        record.reason = decision.as_reason()
        source = decision.source
        if decision.action != "reuse" or source is None or decision.reused_from is None:
            continue
        record.status = st.COMPLETED
        record.start_time = record.end_time = now
        record.output_digest = source.output_digest
        record.stdout, record.stderr = source.stdout, source.stderr
        record.executor = source.executor
        record.sub_dispatch_id = source.sub_dispatch_id
        record.reused_from_dispatch, record.reused_from_node = decision.reused_from
        prepared.done[record.node_id] = source.output_digest or ""
