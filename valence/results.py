"""``Result``: a read-only view of a stored dispatch, with Covalent's attributes.

Values are loaded lazily from the blob store, so reading the status of a
10,000-node dispatch unpickles nothing.
"""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import Any, Protocol

from valence import display, serialize
from valence import status as st
from valence.status import Status, as_status
from valence.store.records import DispatchRecord, EdgeRecord, NodeRecord
from valence.text import shorten
from valence.transportable import TransportableObject


class Reader(Protocol):
    """Where a Result reads from: the store, or a server over HTTP."""

    def get_dispatch(self, dispatch_id: str) -> DispatchRecord: ...
    def get_nodes(self, dispatch_id: str, *, streams: bool = True) -> list[NodeRecord]: ...
    def get_node(self, dispatch_id: str, node_id: int) -> NodeRecord: ...
    def get_edges(self, dispatch_id: str) -> list[EdgeRecord]: ...
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
        self._outputs: dict[str, bytes] = {}  # node outputs read in batches (every node at once)
        self._load = {
            "workflow_output": True,
            "intermediate_outputs": True,
            "sublattice_results": True,
        }

    def only_loading(
        self, *, workflow_output: bool, intermediate_outputs: bool, sublattice_results: bool
    ) -> Result:
        """Covalent's ``get_result`` flags: what is not asked for reads as None, never loaded."""
        self._load = {
            "workflow_output": workflow_output,
            "intermediate_outputs": intermediate_outputs,
            "sublattice_results": sublattice_results,
        }
        return self

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
        if digest is None or not self._load["workflow_output"]:
            return None
        return TransportableObject.from_bytes(
            self._reader.get_blob(digest), f"the result of dispatch {self.dispatch_id}"
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
        """The workflow, loaded from the store (its code travels by value).

        Its ``transport_graph`` is this dispatch's graph with Covalent's read methods
        (:class:`valence.result_graph.ResultGraph`).
        """
        from valence.result_graph import ResultGraph

        lattice = serialize.loads(self._reader.get_blob(self._record.lattice_digest or ""))
        lattice.transport_graph = ResultGraph(self)
        return lattice

    # ---- nodes ---------------------------------------------------------------------
    @property
    def nodes(self) -> list[NodeRecord]:
        if self._nodes is None:
            self._nodes = self._reader.get_nodes(self.dispatch_id, streams=False)
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
            else TransportableObject.from_bytes(
                self._outputs.get(digest) or self._reader.get_blob(digest),
                f"the output of node {node.node_id} ({node.name}) of dispatch {self.dispatch_id}",
            )
        )

    def _node_output(self, node: NodeRecord) -> TransportableObject | None:
        return self._output(node) if self._load["intermediate_outputs"] else None

    def _sublattice_result(self, node: NodeRecord) -> Result | None:
        if not node.sub_dispatch_id or not self._load["sublattice_results"]:
            return None
        sub = Result(self._reader, self._reader.get_dispatch(node.sub_dispatch_id))
        return sub.only_loading(**self._load)

    def _streams(self, node: NodeRecord) -> tuple[str, str]:
        """stdout and stderr, read when first asked if the records came without them."""
        if node.stdout is None or node.stderr is None:  # records are read without them
            full = self._reader.get_node(self.dispatch_id, node.node_id)
            node.stdout, node.stderr = full.stdout, full.stderr
        return node.stdout, node.stderr

    def get_node_result(self, node_id: int) -> NodeResult:
        """One node as Covalent reports it, plus why it was reused or ran."""
        node = self._node(node_id)
        stdout, stderr = self._streams(node)
        sub = self._sublattice_result(node)
        reused = None
        if node.reused_from_dispatch is not None:
            reused = {"dispatch_id": node.reused_from_dispatch, "node_id": node.reused_from_node}
        return NodeResult(
            {
                "node_id": node.node_id,
                "node_name": node.name,
                "kind": node.kind,
                "start_time": node.start_time,
                "end_time": node.end_time,
                "status": as_status(node.status),
                "output": self._node_output(node),
                "error": node.error,
                "traceback": node.traceback,
                "stdout": stdout,
                "stderr": stderr,
                "sub_dispatch_id": node.sub_dispatch_id,
                "sublattice_result": sub,
                "executor": node.executor,
                "attempts": node.attempts,
                "reused_from": reused,
                "reason": node.reason,
                "key": node.key,
            }
        )

    def _read_outputs(self) -> None:
        """Every node's output in a few batched reads, not one read per node."""
        get_blobs = getattr(self._reader, "get_blobs", None)
        if get_blobs is None or not self._load["intermediate_outputs"]:
            return  # the HTTP reader batches by itself
        wanted = [n.output_digest for n in self.nodes if n.output_digest]
        self._outputs.update(get_blobs([d for d in wanted if d not in self._outputs]))

    def get_all_node_outputs(self) -> dict[str, Any]:
        """``{"name(id)": output}`` for every node."""
        self._read_outputs()
        return {f"{n.name}({n.node_id})": self._node_output(n) for n in self.nodes}

    def get_all_node_results(self) -> list[dict[str, Any]]:
        if self._nodes is None:  # not read yet: read them with their streams, in one go
            self._nodes = self._reader.get_nodes(self.dispatch_id)
        self._read_outputs()
        if any(n.stdout is None for n in self.nodes):  # every stream in one read, not one each
            full = {n.node_id: n for n in self._reader.get_nodes(self.dispatch_id)}
            for node in self.nodes:
                node.stdout, node.stderr = full[node.node_id].stdout, full[node.node_id].stderr
        return [self.get_node_result(n.node_id) for n in self.nodes]

    def summary(self, *, helpers: bool = False, limit: int = 50) -> str:
        """The readable table ``str(result)`` prints; ``helpers=True`` lists helper nodes too."""
        return format_summary(self, helpers=helpers, limit=limit)

    def __repr__(self) -> str:
        return format_summary(self)

    def __str__(self) -> str:
        return format_summary(self)

    def _repr_html_(self) -> str:
        return summary_html(self)


class NodeResult(dict):  # type: ignore[type-arg]
    """``get_node_result(i)``: Covalent's dict, displayed readably (IPython, notebooks)."""

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(display.node_text(self))

    def _repr_html_(self) -> str:
        return display.node_html(self)


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


def _rows(result: Result, helpers: bool, limit: int) -> tuple[list[display.Row], int]:
    nodes = [n for n in result.nodes if helpers or display.is_task(n.kind)]
    rows = [
        display.Row(
            n.node_id, n.name, n.status, display.duration(n.start_time, n.end_time), _why(n)
        )
        for n in nodes[:limit]
    ]
    return rows, max(0, len(nodes) - limit)


def _task_counts(result: Result) -> str:
    counts = display.count_tasks((n.kind, n.status) for n in result.nodes)
    reused = sum(
        1 for n in result.nodes if display.is_task(n.kind) and n.reused_from_dispatch is not None
    )
    return display.progress_phrase(counts) + (f", {reused} reused" if reused else "")


def format_summary(result: Result, *, helpers: bool = False, limit: int = 50) -> str:
    """A readable table: the dispatch, its result or error, then its tasks."""
    lines = [
        f"Dispatch {result.dispatch_id}  {result.name}  {result.status}",
        f"  started {result.start_time}  duration "
        f"{display.duration(result.start_time, result.end_time)}  {_task_counts(result)}",
    ]
    if result.redispatched_from:
        lines.append(f"  redispatched from {result.redispatched_from}")
    if result.status == Result.COMPLETED:
        lines.append(f"  result: {_preview(result)}")
    if result.error:
        lines.append("  error: " + result.error.splitlines()[0])
    rows, more = _rows(result, helpers, limit)
    lines += display.table_text(rows, more, "nodes" if helpers else "tasks")
    return "\n".join(lines)


def summary_html(result: Result, limit: int = 50) -> str:
    """The summary as notebook HTML."""
    facts = [
        ("dispatch", result.dispatch_id),
        ("started", str(result.start_time or "-")),
        ("duration", display.duration(result.start_time, result.end_time)),
        ("tasks", _task_counts(result)),
    ]
    if result.redispatched_from:
        facts.append(("redispatched from", result.redispatched_from))
    if result.status == Result.COMPLETED:
        facts.append(("result", _preview(result)))
    out = display.headline_html(result.name, result.status, facts)
    if result.error:
        out += display.error_html(result.error)
    rows, more = _rows(result, False, limit)
    return out + display.table_html(rows, more)


def _preview(result: Result, limit: int = 200) -> str:
    encoded = result.encoded_result
    text = "None" if encoded is None else encoded.object_string
    return shorten(text, limit)
