"""``Result``: a read-only view of a stored dispatch, with Covalent's attributes.

Values are loaded lazily from the blob store, so reading the status of a
10,000-node dispatch unpickles nothing.
"""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import Any, Protocol

from valence import serialize
from valence import status as st
from valence.status import Status, as_status
from valence.store.records import DispatchRecord, NodeRecord
from valence.transportable import TransportableObject


class Reader(Protocol):
    """Where a Result reads from: the store, or a server over HTTP."""

    def get_dispatch(self, dispatch_id: str) -> DispatchRecord: ...
    def get_nodes(self, dispatch_id: str) -> list[NodeRecord]: ...
    def get_blob(self, digest: str) -> bytes: ...


class Result:
    """What happened in one dispatch."""

    NEW_OBJ = st.NEW_OBJECT  # Covalent's class constants
    PENDING_REUSE = st.PENDING_REUSE
    COMPLETED = st.COMPLETED
    POSTPROCESSING = st.POSTPROCESSING
    PENDING_POSTPROCESSING = st.PENDING_POSTPROCESSING
    POSTPROCESSING_FAILED = st.POSTPROCESSING_FAILED
    RUNNING = st.RUNNING
    FAILED = st.FAILED
    CANCELLED = st.CANCELLED

    def __init__(
        self, reader: Reader, record: DispatchRecord, nodes: list[NodeRecord] | None = None
    ):
        self._reader = reader
        self._record = record
        self._nodes = nodes

    # ---- dispatch attributes -----------------------------------------------------
    @property
    def dispatch_id(self) -> str:
        return self._record.dispatch_id

    @property
    def root_dispatch_id(self) -> str:
        return self._record.root_dispatch_id

    @property
    def redispatched_from(self) -> str | None:
        return self._record.redispatched_from

    @property
    def name(self) -> str:
        return self._record.name

    @property
    def status(self) -> Status:
        return as_status(self._record.status)

    @property
    def error(self) -> str | None:
        return self._record.error

    @property
    def start_time(self) -> datetime | None:
        return self._record.start_time

    @property
    def end_time(self) -> datetime | None:
        return self._record.end_time

    @property
    def record(self) -> DispatchRecord:
        return self._record

    @cached_property
    def encoded_result(self) -> TransportableObject | None:
        digest = self._record.result_digest
        return (
            None
            if digest is None
            else TransportableObject.from_bytes(self._reader.get_blob(digest))
        )

    @property
    def result(self) -> Any:
        """The lattice's return value (None until COMPLETED)."""
        encoded = self.encoded_result
        return None if encoded is None else encoded.get_deserialized()

    @cached_property
    def inputs(self) -> TransportableObject:
        """``{"args": ..., "kwargs": ...}`` the dispatch ran with."""
        return TransportableObject.from_bytes(
            self._reader.get_blob(self._record.inputs_digest or "")
        )

    @cached_property
    def lattice(self) -> Any:
        """The workflow, loaded from the store (its code travels by value)."""
        return serialize.loads(self._reader.get_blob(self._record.lattice_digest or ""))

    # ---- nodes ---------------------------------------------------------------------
    @property
    def nodes(self) -> list[NodeRecord]:
        if self._nodes is None:
            self._nodes = self._reader.get_nodes(self.dispatch_id)
        return self._nodes

    def _node(self, node_id: int) -> NodeRecord:
        nodes = self.nodes
        if not 0 <= node_id < len(nodes) or nodes[node_id].node_id != node_id:
            raise KeyError(
                f"dispatch {self.dispatch_id} has no node {node_id} (it has {len(nodes)} nodes)"
            )
        return nodes[node_id]

    def _output(self, node: NodeRecord) -> TransportableObject | None:
        digest = node.output_digest
        return (
            None
            if digest is None
            else TransportableObject.from_bytes(self._reader.get_blob(digest))
        )

    def get_node_result(self, node_id: int) -> dict[str, Any]:
        """One node as Covalent reports it, plus why it was reused or ran."""
        node = self._node(node_id)
        sub = None
        if node.sub_dispatch_id:
            sub = Result(self._reader, self._reader.get_dispatch(node.sub_dispatch_id))
        reused = None
        if node.reused_from_dispatch is not None:
            reused = {"dispatch_id": node.reused_from_dispatch, "node_id": node.reused_from_node}
        return {
            "node_id": node.node_id,
            "node_name": node.name,
            "kind": node.kind,
            "start_time": node.start_time,
            "end_time": node.end_time,
            "status": as_status(node.status),
            "output": self._output(node),
            "error": node.error,
            "traceback": node.traceback,
            "stdout": node.stdout,
            "stderr": node.stderr,
            "sublattice_result": sub,
            "executor": node.executor,
            "attempts": node.attempts,
            "reused_from": reused,
            "reason": node.reason,
            "key": node.key,
        }

    def get_all_node_outputs(self) -> dict[str, Any]:
        """``{"name(id)": output}`` for every node."""
        return {f"{n.name}({n.node_id})": self._output(n) for n in self.nodes}

    def get_all_node_results(self) -> list[dict[str, Any]]:
        return [self.get_node_result(n.node_id) for n in self.nodes]

    def __repr__(self) -> str:
        return f"<Result {self.dispatch_id} {self.name} {self.status}>"

    def __str__(self) -> str:
        return format_summary(self)


def _duration(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "-"
    return f"{(end - start).total_seconds():.3f}s"


_REUSE_NOTES = {"reused_store": " (found in the store)", "early_cutoff": " (early cutoff)"}


def reuse_note(node: NodeRecord) -> str | None:
    """``reused from <dispatch>:<node>`` and how it was found, or None for a node not reused."""
    if node.reused_from_dispatch is None:
        return None
    how = _REUSE_NOTES.get((node.reason or {}).get("code", ""), "")
    return f"reused from {node.reused_from_dispatch[:8]}:{node.reused_from_node}{how}"


def _why(node: NodeRecord) -> str:
    reason = node.reason or {}
    return reuse_note(node) or str(reason.get("text", ""))


def format_summary(result: Result, limit: int = 50) -> str:
    """A readable table: the dispatch, its result or error, then its nodes."""
    lines = [
        f"Dispatch {result.dispatch_id}  {result.name}  {result.status}",
        f"  started {result.start_time}  duration {_duration(result.start_time, result.end_time)}",
    ]
    if result.redispatched_from:
        lines.append(f"  redispatched from {result.redispatched_from}")
    if result.status == Result.COMPLETED:
        lines.append(f"  result: {_preview(result)}")
    if result.error:
        lines.append("  error: " + result.error.splitlines()[0])
    lines.append(f"  {'id':>4}  {'name':<28} {'status':<10} {'duration':>9}  note")
    for node in result.nodes[:limit]:
        lines.append(
            f"  {node.node_id:>4}  {node.name[:28]:<28} {node.status:<10} "
            f"{_duration(node.start_time, node.end_time):>9}  {_why(node)}"
        )
    if len(result.nodes) > limit:
        lines.append(f"  ... {len(result.nodes) - limit} more nodes")
    return "\n".join(lines)


def _preview(result: Result, limit: int = 200) -> str:
    encoded = result.encoded_result
    text = "None" if encoded is None else encoded.object_string
    return text if len(text) <= limit else text[: limit - 3] + "..."
