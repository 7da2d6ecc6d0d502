"""Merkle keys for the nodes of a transport graph.

``key = hash(["Node", kind, code fingerprint or constant token, op, parent keys
with the argument each feeds])``. Reuse is decided by key equality only, so a
node whose key is ``None`` (unhashable constant, ``reusable=False``, or anything
upstream of it not keyed) is never reused; the reason is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from valence.fingerprint import Unhashable, hash_flat, hash_struct, value_token
from valence.workflow.deps import HOOK_OPTIONS
from valence.workflow.graph import NodeKind, TransportGraph


@dataclass(frozen=True)
class NodeKey:
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
    keys: list[NodeKey] = [NodeKey(None, "not computed")] * len(graph.nodes)
    incoming = graph.parents()
    code_cache: dict[int, str | Unhashable] = {}
    for node_id in graph.topological_order():
        node = graph.nodes[node_id]
        own = _own_token(node, code_cache)
        if node.kind is NodeKind.SUBLATTICE and replacements and isinstance(own, str):
            own = _with_replacements(own, replacements, code_cache)
        if isinstance(own, Unhashable):
            keys[node_id] = NodeKey(None, own.reason)
            continue
        parts: list[Any] = []
        blocked = None
        for edge in incoming[node.id]:
            parent = keys[edge.parent]
            if parent.key is None and blocked is None:
                blocked = (
                    f"upstream node {edge.parent} ({graph.nodes[edge.parent].name}) is not reusable"
                )
            parts.append((edge.name, edge.param_type, edge.arg_index, parent.key))
        code = own if node.electron is not None else None
        if blocked is not None:
            keys[node_id] = NodeKey(None, blocked, code)
            continue
        parts.sort(key=repr)
        try:
            dict_keys = _keys_token(node.keys)
        except Unhashable as exc:
            keys[node_id] = NodeKey(None, f"a dict key cannot be hashed: {exc.reason}")
            continue
        struct = ("Node", node.kind.value, own, node.op, dict_keys, tuple(parts))
        keys[node_id] = NodeKey(hash_flat(struct), None, code)
    return keys


# Options that run code around a task (and may inject its arguments): part of its key.
_DEPS = (*HOOK_OPTIONS, "deps_module")


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
