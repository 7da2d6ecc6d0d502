"""A stored dispatch loaded back by value: what redispatch and resume start from."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from valence import serialize
from valence.store import Store
from valence.store.records import DispatchRecord, EdgeRecord, NodeRecord
from valence.workflow.electron import Electron
from valence.workflow.lattice import Lattice


class StoredDispatch:
    """A dispatch's code and inputs by value, its rows on first use.

    Loading raises CodeUnavailableError when the stored code needs a module this
    process lacks.
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

    @property
    def dispatch_id(self) -> str:
        return self.record.dispatch_id

    @cached_property
    def nodes(self) -> list[NodeRecord]:
        return self.store.get_nodes(self.record.dispatch_id)

    @cached_property
    def nodes_for_planning(self) -> list[NodeRecord]:
        """:attr:`nodes` as a plan reads them (no reason or times; shared ``metadata``)."""
        if "nodes" in self.__dict__:
            return self.nodes
        return self.store.get_nodes_for_planning(self.record.dispatch_id)

    @cached_property
    def edge_rows(self) -> list[tuple[int, int, str, str, int | None]]:
        """Each edge as ``(parent_id, child_id, edge_name, param_type, arg_index)``, in order."""
        return self.store.get_edge_rows(self.record.dispatch_id)

    @cached_property
    def edges(self) -> list[EdgeRecord]:
        return self.store.get_edges(self.record.dispatch_id)
