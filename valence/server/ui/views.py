"""Pure functions behind the UI's endpoints: labels, helper contraction, inputs, compare.

They take store records and return the models of ``valence.server.ui_schemas``;
nothing here touches the store or HTTP, so each is tested on plain records.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from valence.server.ui_schemas import (
    Category,
    CompareNodeOut,
    GraphEdgeOut,
    GraphNodeOut,
    InputChangeOut,
    InputOut,
)
from valence.store.records import EdgeRecord, NodeRecord

HELPER_KINDS = frozenset({"parameter", "getitem", "getattr", "collection", "operator"})
LABEL_CHARS = 28
PREVIEW_CHARS = 1000
_PREFIXES = {
    ":parameter:": "",
    ":sublattice:": "",
    ":electron_list:": "list",
    ":electron_dict:": "dict",
}


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def label(name: str) -> str:
    """A node's display name: Covalent's prefixes stripped, at most 28 characters."""
    for prefix, replacement in _PREFIXES.items():
        if name.startswith(prefix):
            name = replacement or name[len(prefix) :]
            break
    else:
        name = name.removeprefix(":")
    return shorten(name, LABEL_CHARS) or "''"


def preview(value: Any) -> str:
    """``str(value)`` shortened; a value that cannot be shown says why instead."""
    try:
        text = str(value)
    except Exception as exc:  # a preview must never break a page
        text = f"<cannot show value: {type(exc).__name__}: {exc}>"
    return shorten(text, PREVIEW_CHARS)


def graph_node(node: NodeRecord) -> GraphNodeOut:
    reason = node.reason or {}
    return GraphNodeOut(
        id=node.node_id,
        name=node.name,
        label=label(node.name),
        kind=node.kind,
        helper=node.kind in HELPER_KINDS,
        status=node.status,
        reused=node.reused_from_dispatch is not None,
        reason_code=reason.get("code"),
        executor=node.executor,
        start_time=node.start_time,
        end_time=node.end_time,
        sub_dispatch_id=node.sub_dispatch_id,
    )


def graph_edges(edges: Iterable[EdgeRecord]) -> list[GraphEdgeOut]:
    return [
        GraphEdgeOut(
            source=e.parent_id,
            target=e.child_id,
            name=e.edge_name,
            param_type=e.param_type,
            arg_index=e.arg_index,
        )
        for e in edges
    ]


def _topological(nodes: Iterable[int], edges: Sequence[EdgeRecord]) -> list[int]:
    indegree = dict.fromkeys(nodes, 0)
    children: dict[int, list[int]] = defaultdict(list)
    for edge in edges:
        indegree[edge.child_id] += 1
        children[edge.parent_id].append(edge.child_id)
    ready = deque(sorted(n for n, d in indegree.items() if d == 0))
    order: list[int] = []
    while ready:
        node = ready.popleft()
        order.append(node)
        for child in children[node]:
            indegree[child] -= 1
            if indegree[child] == 0:
                ready.append(child)
    return order


def task_edges(nodes: Sequence[NodeRecord], edges: Sequence[EdgeRecord]) -> list[GraphEdgeOut]:
    """Edges between tasks only: a path through helper nodes becomes one edge."""
    helpers = {n.node_id for n in nodes if n.kind in HELPER_KINDS}
    incoming: dict[int, list[EdgeRecord]] = defaultdict(list)
    for edge in edges:
        incoming[edge.child_id].append(edge)
    feeds: dict[int, set[int]] = {}  # helper -> the tasks it is computed from
    for node in _topological((n.node_id for n in nodes), edges):
        if node in helpers:
            feeds[node] = set().union(
                *(
                    feeds[e.parent_id] if e.parent_id in helpers else {e.parent_id}
                    for e in incoming[node]
                )
            )
    found: dict[tuple[int, int], GraphEdgeOut] = {}
    for edge in edges:
        if edge.child_id in helpers:
            continue
        via = edge.parent_id in helpers
        for source in sorted(feeds.get(edge.parent_id, set())) if via else [edge.parent_id]:
            key = (source, edge.child_id)
            if key in found:
                if edge.edge_name not in found[key].name.split(", "):
                    found[key].name += ", " + edge.edge_name
                continue
            found[key] = GraphEdgeOut(
                source=source,
                target=edge.child_id,
                name=edge.edge_name,
                param_type=edge.param_type,
                via_helpers=via,
            )
    return list(found.values())


def parameter_names(source: str) -> tuple[list[str], str | None]:
    """Positional parameter names and the ``*args`` name of the first function in ``source``."""
    try:
        tree = ast.parse(textwrap.dedent(source))
    except (SyntaxError, ValueError):
        return [], None
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            names = [a.arg for a in (*args.posonlyargs, *args.args)]
            return names, args.vararg.arg if args.vararg else None
    return [], None


def signature_names(function: Any) -> tuple[list[str], str | None]:
    """Positional parameter names and the ``*args`` name of ``function``'s signature."""
    names: list[str] = []
    vararg = None
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            names.append(parameter.name)
        elif parameter.kind is parameter.VAR_POSITIONAL:
            vararg = parameter.name
    return names, vararg


def named_inputs(
    names: Sequence[str], vararg: str | None, inputs: Mapping[str, Any]
) -> list[InputOut]:
    """``{"args", "kwargs"}`` as (parameter name, preview) pairs."""
    shown: list[InputOut] = []
    for index, value in enumerate(inputs.get("args", ())):
        if index < len(names):
            name = names[index]
        else:
            name = f"*{vararg}[{index - len(names)}]" if vararg else f"args[{index}]"
        shown.append(InputOut(name=name, preview=preview(value)))
    for name, value in dict(inputs.get("kwargs", {})).items():
        shown.append(InputOut(name=str(name), preview=preview(value)))
    return shown


def input_changes(before: list[InputOut], after: list[InputOut]) -> list[InputChangeOut]:
    """Each input of either dispatch, with its old and new preview."""
    old = {i.name: i.preview for i in before}
    new = {i.name: i.preview for i in after}
    return [
        InputChangeOut(
            name=name,
            before=old.get(name),
            after=new.get(name),
            changed=old.get(name) != new.get(name),
        )
        for name in dict.fromkeys([*new, *old])
    ]


def category(node: NodeRecord) -> Category:
    """Reused, replaced (by ``replace_electrons``), recomputed, or unexplained (no reason)."""
    reason = node.reason or {}
    if reason.get("decision") == "reuse" or node.reused_from_dispatch is not None:
        return "reused"
    if reason.get("code") == "replaced":
        return "replaced"
    return "recomputed" if reason.get("decision") == "run" else "unexplained"


def compare_node(node: NodeRecord) -> CompareNodeOut:
    reason = node.reason or {}
    return CompareNodeOut(
        node_id=node.node_id,
        name=node.name,
        kind=node.kind,
        status=node.status,
        category=category(node),
        code=reason.get("code"),
        text=reason.get("text"),
        replaced=node.metadata.get("replaced"),
        reused_from_dispatch=node.reused_from_dispatch,
        reused_from_node=node.reused_from_node,
    )
