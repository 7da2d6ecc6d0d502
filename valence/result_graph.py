"""``Result.lattice.transport_graph``: a stored dispatch's graph with Covalent's methods.

A read-only view over the stored node and edge rows: ``get_node_value(node_id,
key)``, ``get_dependencies(node_id)``, ``get_edge_data(parent, child)`` and
``node_ids``. Values (outputs, functions, parameter values, sublattice results)
are read from the store only when asked for, and not at all when ``get_result``
was told not to load them (``intermediate_outputs=False``,
``sublattice_results=False``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from valence.status import as_status
from valence.store.records import EdgeRecord, NodeRecord
from valence.transportable import TransportableObject

if TYPE_CHECKING:
    from valence.results import Result


def _blob(result: Result, digest: str | None) -> TransportableObject | None:
    if digest is None:
        return None
    return TransportableObject.from_bytes(result._reader.get_blob(digest))


def _source(result: Result, node: NodeRecord) -> str:
    if node.source_digest is None:
        return ""
    return result._reader.get_blob(node.source_digest).decode("utf-8", "replace")


_VALUES: dict[str, Callable[[Result, NodeRecord], Any]] = {
    "name": lambda r, n: n.name,
    "node_id": lambda r, n: n.node_id,
    "task_group_id": lambda r, n: n.node_id,
    "type": lambda r, n: n.kind,
    "kind": lambda r, n: n.kind,
    "status": lambda r, n: as_status(n.status),
    "start_time": lambda r, n: n.start_time,
    "end_time": lambda r, n: n.end_time,
    "stdout": lambda r, n: n.stdout,
    "stderr": lambda r, n: n.stderr,
    "error": lambda r, n: n.error,
    "traceback": lambda r, n: n.traceback,
    "sub_dispatch_id": lambda r, n: n.sub_dispatch_id,
    "metadata": lambda r, n: dict(n.metadata),
    "executor": lambda r, n: n.executor,
    "attempts": lambda r, n: n.attempts,
    "key": lambda r, n: n.key,
    "reason": lambda r, n: n.reason,
    "output": lambda r, n: r._node_output(n),
    "value": lambda r, n: _blob(r, n.value_digest),
    "function": lambda r, n: _blob(r, n.function_digest),
    "function_string": _source,
    "sublattice_result": lambda r, n: r._sublattice_result(n),
}


class ResultGraph:
    """The transport graph of a stored dispatch (Covalent's ``_TransportGraph`` reads)."""

    def __init__(self, result: Result) -> None:
        self._result = result
        self._edges: list[EdgeRecord] | None = None

    @property
    def node_ids(self) -> list[int]:
        return [node.node_id for node in self._result.nodes]

    def __len__(self) -> int:
        return len(self._result.nodes)

    def __iter__(self) -> Iterator[int]:
        return iter(self.node_ids)

    def __repr__(self) -> str:
        return f"<transport graph of {self._result.dispatch_id}: {len(self)} nodes>"

    @property
    def edges(self) -> list[EdgeRecord]:
        if self._edges is None:
            self._edges = self._result._reader.get_edges(self._result.dispatch_id)
        return self._edges

    def get_node_value(self, node_key: int, value_key: str) -> Any:
        """One attribute of a node (``name``, ``status``, ``output``, ``stdout``, ...)."""
        node = self._result._node(node_key)
        reader = _VALUES.get(value_key)
        if reader is None:
            raise KeyError(
                f"nodes have no value {value_key!r}; known keys: {', '.join(sorted(_VALUES))}"
            )
        return reader(self._result, node)

    def get_dependencies(self, node_key: int) -> list[int]:
        """The ids of the nodes ``node_key`` takes input from (or waits for)."""
        self._result._node(node_key)
        return list(dict.fromkeys(e.parent_id for e in self.edges if e.child_id == node_key))

    def get_edge_data(self, dep_key: int, node_key: int) -> dict[int, dict[str, Any]] | None:
        """``{i: {"edge_name", "param_type", "arg_index"}}`` per edge, None if there is none."""
        found = [e for e in self.edges if e.parent_id == dep_key and e.child_id == node_key]
        if not found:
            return None
        return {
            i: {"edge_name": e.edge_name, "param_type": e.param_type, "arg_index": e.arg_index}
            for i, e in enumerate(found)
        }
