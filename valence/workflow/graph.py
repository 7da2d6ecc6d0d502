"""The transport graph: a small closed set of plain node and edge records.

Node ids are creation order, as in Covalent: an electron call gets its id
before its arguments' parameter/collection nodes, so Covalent's documented
``get_node_result(i)`` examples address the same tasks here.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, MutableSequence, Sequence
from dataclasses import dataclass, field
from typing import Any

PARAMETER_PREFIX = ":parameter:"
LIST_PREFIX = ":electron_list:"
DICT_PREFIX = ":electron_dict:"
SUBLATTICE_PREFIX = ":sublattice:"
WAIT_EDGE = "!waiting_edge"
_KIND_PREFIXES = (PARAMETER_PREFIX, LIST_PREFIX, DICT_PREFIX, SUBLATTICE_PREFIX)


def bare_name(name: str) -> str:
    """``name`` without the prefix that marks its node's kind (``:parameter:3`` -> ``3``)."""
    for prefix in _KIND_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


class NodeKind(str, enum.Enum):
    """What a node is; helpers are resolved inline by the dispatcher."""

    ELECTRON = "electron"
    SUBLATTICE = "sublattice"
    PARAMETER = "parameter"
    GETITEM = "getitem"
    GETATTR = "getattr"
    COLLECTION = "collection"
    OPERATOR = "operator"

    @property
    def is_helper(self) -> bool:
        return self.value not in TASK_KINDS


TASK_KINDS = (NodeKind.ELECTRON.value, NodeKind.SUBLATTICE.value)
"""The kinds people count as tasks, as stored strings; every other kind is a helper."""


def topological_order(ids: Iterable[int], edges: Iterable[tuple[int, int]]) -> list[int]:
    """``ids`` with every parent before its children, given ``(parent, child)`` edges.

    Ties keep the order of ``ids``; ids on a cycle, or below one, are left out. For
    ``range(n)`` (a transport graph's ids) lists replace the dicts: it is the hot path.
    """
    ids = ids if isinstance(ids, range) else list(ids)
    dense = isinstance(ids, range) and ids.start == 0 and ids.step == 1
    waiting: MutableSequence[int] | dict[int, int]
    children: Sequence[list[int]] | dict[int, list[int]]
    if dense:
        waiting, children = [0] * len(ids), [[] for _ in ids]
    else:
        waiting, children = dict.fromkeys(ids, 0), {node_id: [] for node_id in ids}
    for parent, child in edges:
        waiting[child] += 1
        children[parent].append(child)
    order = [node_id for node_id in ids if waiting[node_id] == 0]
    for node_id in order:  # the list grows while we walk it
        for child in children[node_id]:
            waiting[child] -= 1
            if waiting[child] == 0:
                order.append(child)
    return order


@dataclass(frozen=True, eq=False, init=False)
class Node:
    """One vertex. ``electron`` is set for task and sublattice nodes.

    ``value`` is the constant of a parameter node; ``op`` is the collection type
    (``list``/``tuple``/``dict``) or the operator symbol; ``keys`` are a dict
    collection's keys in order.
    """

    id: int
    name: str
    kind: NodeKind
    electron: Any = None
    value: Any = None
    op: str | None = None
    keys: tuple[Any, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)

    def __init__(
        self,
        id: int,
        name: str,
        kind: NodeKind,
        electron: Any = None,
        value: Any = None,
        op: str | None = None,
        keys: tuple[Any, ...] = (),
        metadata: dict[str, Any] | None = None,
    ) -> None:
        # One dict update instead of the generated frozen __init__'s object.__setattr__
        # per field (4x slower; tracing makes one node per call and argument).
        self.__dict__.update(
            id=id,
            name=name,
            kind=kind,
            electron=electron,
            value=value,
            op=op,
            keys=keys,
            metadata={} if metadata is None else metadata,
        )

    @property
    def bare_name(self) -> str:
        """The name without its kind prefix: a parameter's value text, a sublattice's name."""
        return bare_name(self.name)

    def describe(self) -> tuple[Any, ...]:
        """A comparable summary (values compared by repr), for tests and printing."""
        return (self.id, self.name, self.kind.value, repr(self.value), self.op, self.keys)


@dataclass(frozen=True, init=False)
class Edge:
    """Data flows from ``parent`` into argument ``name`` of ``child``.

    ``param_type`` is ``arg`` (positional, ordered by ``arg_index``), ``kwarg``
    (by name) or ``wait`` (ordering only, no data).
    """

    parent: int
    child: int
    name: str
    param_type: str
    arg_index: int | None = None

    def __init__(
        self, parent: int, child: int, name: str, param_type: str, arg_index: int | None = None
    ) -> None:
        self.__dict__.update(  # as Node.__init__: one update, not a setattr per field
            parent=parent, child=child, name=name, param_type=param_type, arg_index=arg_index
        )


@dataclass(frozen=True)
class NodeRef:
    """A reference to a node's output inside the lattice's return structure."""

    node_id: int


@dataclass
class TransportGraph:
    """Nodes in id order, edges, and the lattice's return structure."""

    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    output: Any = None  # return value with task outputs replaced by NodeRef

    def add_node(self, name: str, kind: NodeKind, **attrs: Any) -> Node:
        node = Node(len(self.nodes), name, kind, **attrs)
        self.nodes.append(node)
        return node

    def add_edge(
        self, parent: int, child: int, name: str, param_type: str, index: int | None = None
    ) -> None:
        self.edges.append(Edge(parent, child, name, param_type, index))

    def __len__(self) -> int:
        return len(self.nodes)

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def parents(self) -> dict[int, list[Edge]]:
        """Incoming edges per node id, in creation order (cached once built)."""
        size = (len(self.nodes), len(self.edges))
        cached: tuple[tuple[int, int], dict[int, list[Edge]]] | None = self.__dict__.get("_parents")
        if cached is not None and cached[0] == size:
            return cached[1]
        incoming: dict[int, list[Edge]] = {i: [] for i in range(len(self.nodes))}
        for edge in self.edges:
            incoming[edge.child].append(edge)
        self.__dict__["_parents"] = (size, incoming)
        return incoming

    def topological_order(self) -> list[int]:
        """Node ids with every parent before its children (ids break ties)."""
        return topological_order(range(len(self.nodes)), ((e.parent, e.child) for e in self.edges))

    def describe(self) -> tuple[list[tuple[Any, ...]], list[Edge]]:
        """A comparable, printable summary of the whole graph."""
        return [n.describe() for n in self.nodes], list(self.edges)

    def __repr__(self) -> str:
        lines = [f"TransportGraph({len(self.nodes)} nodes, {len(self.edges)} edges)"]
        incoming = self.parents()
        for node in self.nodes:
            srcs = ", ".join(f"{e.parent}->{e.name}" for e in incoming[node.id])
            lines.append(f"  {node.id:>4} {node.name} [{node.kind.value}] <- {srcs}")
        return "\n".join(lines)
