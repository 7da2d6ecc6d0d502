"""Merkle keys for the nodes of a transport graph.

``key = hash(["Node", kind, code fingerprint or constant token, op, parent keys
with the argument each feeds])``. Reuse is decided by key equality only, so a
node whose key is ``None`` (unhashable constant, ``reusable=False``, or anything
upstream of it not keyed) is never reused; the reason is kept.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from valence.fingerprint import Unhashable, hash_flat, hash_struct, value_token
from valence.workflow.deps import HOOK_OPTIONS
from valence.workflow.graph import NodeKind, TransportGraph


class NodeKey(NamedTuple):
    """A node's key, or why it has none."""

    key: str | None
    reason: str | None = None
    code: str | None = None  # the code fingerprint (task nodes)


def compute_keys(
    graph: TransportGraph, replacements: dict[str, Any] | None = None
) -> list[NodeKey]:
    """Keys for every node, in id order (computed parents first).

    Replacements can apply inside a sublattice, whose graph is built only when
    it runs, so a sublattice node's key includes every replacement's code.
    """
    nodes = graph.nodes
    keys: list[NodeKey] = [NodeKey(None, "not computed")] * len(nodes)
    incoming = graph.parents()
    code_cache: dict[int, str | Unhashable] = {}
    own_cache: dict[tuple[int, int], tuple[Any, str | Unhashable]] = {}
    for node_id in graph.topological_order():
        node = nodes[node_id]
        kind = node.kind
        own: str | Unhashable
        if kind is NodeKind.PARAMETER:
            own = _param_token(node)
        elif node.electron is None:
            own = ""
        else:
            own = _task_token(node, code_cache, own_cache)
            if kind is NodeKind.SUBLATTICE and replacements and isinstance(own, str):
                own = _with_replacements(own, replacements, code_cache)
        if isinstance(own, Unhashable):
            keys[node_id] = NodeKey(None, own.reason)
            continue
        keys[node_id] = _node_key(node, own, incoming[node_id], keys, graph)
    return keys


def _node_key(
    node: Any, own: str, edges: list[Any], keys: list[NodeKey], graph: TransportGraph
) -> NodeKey:
    """``hash(["Node", kind, own token, op, dict keys, sorted (edge, parent key)...])``."""
    code = own if node.electron is not None else None
    parts = []
    for edge in edges:
        parent = keys[edge.parent].key
        if parent is None:
            name = graph.nodes[edge.parent].name
            return NodeKey(None, f"upstream node {edge.parent} ({name}) is not reusable", code)
        parts.append((edge.name, edge.param_type, edge.arg_index, parent))
    if len(parts) > 1:
        parts.sort(key=repr)
    try:
        dict_keys = _keys_token(node.keys)
    except Unhashable as exc:
        return NodeKey(None, f"a dict key cannot be hashed: {exc.reason}")
    struct = ("Node", node.kind._value_, own, node.op, dict_keys, tuple(parts))
    return NodeKey(hash_flat(struct), None, code)


# Options that run code around a task (and may inject its arguments): part of its key.
_DEPS = (*HOOK_OPTIONS, "deps_module")


def _param_token(node: Any) -> str | Unhashable:
    try:
        return value_token(node.value)
    except Unhashable as exc:
        return exc


def _task_token(
    node: Any,
    code_cache: dict[int, str | Unhashable],
    own_cache: dict[tuple[int, int], tuple[Any, str | Unhashable]],
) -> str | Unhashable:
    """:func:`_own_token` of a task node, once per (task, options dict) of a graph.

    Tracing gives every call of a task in a lattice the same options dict; the
    cache holds both objects, so their ids stay theirs while keys are computed.
    """
    ident = (id(node.electron), id(node.metadata))
    found = own_cache.get(ident)
    if found is None:
        found = own_cache[ident] = ((node.electron, node.metadata), _own_token(node, code_cache))
    return found[1]


def _own_token(node: Any, code_cache: dict[int, str | Unhashable]) -> str | Unhashable:
    try:
        if node.kind is NodeKind.PARAMETER:
            return value_token(node.value)
        if node.electron is None:
            return ""
        if not node.electron.metadata.get("reusable", True):
            return Unhashable(f"task {node.electron.name} is marked reusable=False")
        code = _code_token(node.electron, code_cache)
        deps = [node.metadata.get(name) for name in _DEPS]
        if not any(deps):
            return code
        try:
            return hash_struct(["Task", code, value_token(deps)])
        except Unhashable as exc:
            return Unhashable(f"deps or hooks of task {node.electron.name}: {exc.reason}")
    except Unhashable as exc:
        return exc


def _with_replacements(
    own: str, replacements: dict[str, Any], cache: dict[int, str | Unhashable]
) -> str | Unhashable:
    try:
        parts = [[name, _code_token(new, cache)] for name, new in sorted(replacements.items())]
    except Unhashable as exc:
        return exc
    return hash_struct(["Sublattice", own, parts])


def _code_token(electron: Any, cache: dict[int, str | Unhashable]) -> str:
    found = cache.get(id(electron))
    if found is None:
        try:
            found = electron.__valence_fingerprint__()
        except Unhashable as exc:
            found = Unhashable(
                f"code of task {electron.name} cannot be fingerprinted: {exc.reason}"
            )
        cache[id(electron)] = found
    if isinstance(found, Unhashable):
        raise found
    return found


def _keys_token(keys: tuple[Any, ...]) -> str:
    return value_token(list(keys)) if keys else ""
