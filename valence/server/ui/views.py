"""Pure functions behind the UI's endpoints: labels, helper contraction, inputs, compare.

They take store records and return the models of ``valence.server.ui_schemas``;
nothing here touches the store or HTTP, so each is tested on plain records.
"""

from __future__ import annotations

import ast
import inspect
import json
import textwrap
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from valence.server.ui import layout
from valence.server.ui_schemas import (
    Category,
    CompareNodeOut,
    InputChangeOut,
    InputOut,
)
from valence.store.records import EdgeRecord, NodeRecord
from valence.text import shorten
from valence.workflow.graph import NodeKind, topological_order

HELPER_KINDS = frozenset(kind.value for kind in NodeKind if kind.is_helper)
LABEL_CHARS = 28
PREVIEW_CHARS = 1000
_PREFIXES = {
    ":parameter:": "",
    ":sublattice:": "",
    ":electron_list:": "list",
    ":electron_dict:": "dict",
}


def label(name: str) -> str:
    """A node's display name: Covalent's prefixes stripped, at most 28 characters."""
    for prefix, replacement in _PREFIXES.items():
        if name.startswith(prefix):
            name = replacement or name[len(prefix) :]
            break
    else:
        name = name.removeprefix(":")
    return shorten(name, LABEL_CHARS, "…") or "''"


def preview(value: Any) -> str:
    """``str(value)`` shortened; a value that cannot be shown says why instead."""
    try:
        text = str(value)
    except Exception as exc:  # a preview must never break a page
        text = f"<cannot show value: {type(exc).__name__}: {exc}>"
    return shorten(text, PREVIEW_CHARS, "…")


def graph_node(node: NodeRecord) -> dict[str, Any]:
    """A node as drawn (the fields of ``GraphNodeOut``), as a plain dict: graphs are big."""
    reason = node.reason or {}
    return {
        "id": node.node_id,
        "name": node.name,
        "label": label(node.name),
        "kind": node.kind,
        "helper": node.kind in HELPER_KINDS,
        "status": node.status,
        "reused": node.reused_from_dispatch is not None,
        "reason_code": reason.get("code"),
        "executor": node.executor,
        "start_time": node.start_time.isoformat() if node.start_time else None,
        "end_time": node.end_time.isoformat() if node.end_time else None,
        "sub_dispatch_id": node.sub_dispatch_id,
    }


def graph_edges(edges: Iterable[EdgeRecord]) -> list[dict[str, Any]]:
    return [
        {
            "source": e.parent_id,
            "target": e.child_id,
            "name": e.edge_name,
            "param_type": e.param_type,
            "arg_index": e.arg_index,
            "via_helpers": False,
        }
        for e in edges
    ]


def task_edges(nodes: Sequence[NodeRecord], edges: Sequence[EdgeRecord]) -> list[dict[str, Any]]:
    """Edges between tasks only: a path through helper nodes becomes one edge."""
    helpers = {n.node_id for n in nodes if n.kind in HELPER_KINDS}
    incoming: dict[int, list[EdgeRecord]] = defaultdict(list)
    for edge in edges:
        incoming[edge.child_id].append(edge)
    feeds: dict[int, set[int]] = {}  # helper -> the tasks it is computed from
    pairs = ((e.parent_id, e.child_id) for e in edges)
    for node in topological_order(sorted(n.node_id for n in nodes), pairs):
        if node in helpers:
            feeds[node] = set().union(
                *(
                    feeds[e.parent_id] if e.parent_id in helpers else {e.parent_id}
                    for e in incoming[node]
                )
            )
    found: dict[tuple[int, int], dict[str, Any]] = {}
    for edge in edges:
        if edge.child_id in helpers:
            continue
        via = edge.parent_id in helpers
        for source in sorted(feeds.get(edge.parent_id, set())) if via else [edge.parent_id]:
            key = (source, edge.child_id)
            if key in found:
                if edge.edge_name not in found[key]["name"].split(", "):
                    found[key]["name"] += ", " + edge.edge_name
                continue
            found[key] = {
                "source": source,
                "target": edge.child_id,
                "name": edge.edge_name,
                "param_type": edge.param_type,
                "via_helpers": via,
            }
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


def _same_json(value: Any, back: Any) -> bool:
    """Whether ``back`` (a JSON round trip of ``value``) is the same value of the same types."""
    if type(value) is not type(back):
        return False
    if isinstance(value, dict):
        return value.keys() == back.keys() and all(_same_json(value[k], back[k]) for k in value)
    if isinstance(value, list):
        return len(value) == len(back) and all(map(_same_json, value, back))
    return bool(value == back)


def as_json(value: Any) -> tuple[bool, Any]:
    """``(True, value)`` if ``value`` survives JSON exactly (types too), else ``(False, None)``."""
    try:
        back = json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError, RecursionError):
        return False, None
    return (True, back) if _same_json(value, back) else (False, None)


def _input(name: str, value: Any, bindable: bool) -> InputOut:
    editable, plain = as_json(value) if bindable else (False, None)
    return InputOut(name=name, preview=preview(value), editable=editable, json_value=plain)


def named_inputs(
    names: Sequence[str], vararg: str | None, inputs: Mapping[str, Any]
) -> list[InputOut]:
    """``{"args", "kwargs"}`` as (parameter name, preview) pairs, JSON where it is plain."""
    shown: list[InputOut] = []
    for index, value in enumerate(inputs.get("args", ())):
        if index < len(names):
            shown.append(_input(names[index], value, True))
            continue
        name = f"*{vararg}[{index - len(names)}]" if vararg else f"args[{index}]"
        shown.append(_input(name, value, False))
    for name, value in dict(inputs.get("kwargs", {})).items():
        shown.append(_input(str(name), value, True))
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


def drawing(
    nodes: Sequence[Mapping[str, Any]],
    edges: Sequence[Mapping[str, Any]],
    expanded: Iterable[str] = (),
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The boxes (``BoxOut``) and their edges (``BoxEdgeOut``) to draw ``nodes`` joined by
    ``edges`` (``graph_node``/``task_edges`` dicts): siblings and chains grouped, laid out."""
    by_id = {n["id"]: n for n in nodes}
    items = [layout.Item(n["id"], n["name"], n["label"], n["status"]) for n in nodes]
    pairs = [(e["source"], e["target"]) for e in edges]
    opened = frozenset(expanded)
    drawn, box_of = layout.group_siblings(items, pairs, opened)
    names = {n["id"]: n["name"] for n in nodes}
    drawn = layout.collapse_chains(drawn, box_of, pairs, names, opened)
    links = layout.drawn_edges(pairs, box_of)
    layout.place(drawn, links)
    waits = {
        (box_of.get(e["source"]), box_of.get(e["target"]))
        for e in edges
        if e["param_type"] == "wait"
    }
    boxes = []
    for box in drawn:
        if box.group and not box.counts:
            box.counts = dict(Counter(by_id[m]["status"] for m in box.members))
        first = by_id[box.members[0]]
        boxes.append(
            {
                "key": box.key,
                "label": box.label,
                "group": box.group,
                "members": box.members,
                "status": layout.group_status(box.counts) if box.group else first["status"],
                "counts": box.counts,
                "reused": sum(by_id[m]["reused"] for m in box.members),
                "x": box.x,
                "y": box.y,
                "width": box.width,
            }
        )
    box_edges = [
        {"source": a, "target": b, "count": n, "wait": (a, b) in waits} for a, b, n in links
    ]
    return boxes, box_edges
