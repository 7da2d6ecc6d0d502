"""Plain records the store reads and writes; the engine and results speak these.

Times are timezone-aware UTC datetimes. ``*_digest`` fields name blobs (sha256 hex)
in the blob store; ``None`` means "no value".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class DispatchRecord:
    """One dispatch (a run of a lattice with given inputs)."""

    dispatch_id: str
    name: str
    status: str
    root_dispatch_id: str
    created_at: datetime
    lattice_digest: str | None = None  # pickled Lattice, by value
    lattice_source: str = ""
    inputs_digest: str | None = None  # pickled {"args": tuple, "kwargs": dict}
    graph: dict[str, Any] = field(default_factory=dict)  # TransportGraph.to_dict() extras
    parent_dispatch_id: str | None = None  # set for sublattice child dispatches
    parent_node_id: int | None = None
    redispatched_from: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    result_digest: str | None = None
    error: str | None = None
    python_version: str = ""
    environment: dict[str, Any] = field(default_factory=dict)  # package -> version
    metadata: dict[str, Any] = field(default_factory=dict)  # executor, options, ...
    owner: str | None = None  # which dispatcher process runs it


@dataclass
class NodeRecord:
    """One node of a dispatch's transport graph and its run state."""

    dispatch_id: str
    node_id: int
    name: str
    kind: str
    status: str
    key: str | None = None  # Merkle key; None when not reusable
    not_reusable: str | None = None  # why the key is None
    function_digest: str | None = None  # pickled function, by value
    source_digest: str | None = None  # source text (utf-8) of the function
    value_digest: str | None = None  # parameter nodes: the constant value
    metadata: dict[str, Any] = field(default_factory=dict)
    executor: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    output_digest: str | None = None
    stdout: str = ""
    stderr: str = ""
    error: str | None = None
    traceback: str | None = None
    attempts: int = 0
    sub_dispatch_id: str | None = None
    reused_from_dispatch: str | None = None
    reused_from_node: int | None = None
    reason: dict[str, Any] | None = None  # why reused or why it ran


@dataclass(frozen=True, init=False)
class EdgeRecord:
    """A data or wait edge between two nodes of one dispatch."""

    dispatch_id: str
    parent_id: int
    child_id: int
    edge_name: str
    param_type: str  # "arg", "kwarg" or "wait"
    arg_index: int | None = None

    def __init__(
        self,
        dispatch_id: str,
        parent_id: int,
        child_id: int,
        edge_name: str,
        param_type: str,
        arg_index: int | None = None,
    ) -> None:
        # One dict update: the generated frozen __init__ (a setattr per field) is 4x slower.
        self.__dict__.update(
            dispatch_id=dispatch_id,
            parent_id=parent_id,
            child_id=child_id,
            edge_name=edge_name,
            param_type=param_type,
            arg_index=arg_index,
        )


# Fields of NodeRecord the engine may change after a dispatch is recorded.
NODE_MUTABLE_FIELDS = frozenset(
    {
        "status",
        "executor",
        "start_time",
        "end_time",
        "output_digest",
        "stdout",
        "stderr",
        "error",
        "traceback",
        "attempts",
        "sub_dispatch_id",
        "reused_from_dispatch",
        "reused_from_node",
        "reason",
        "not_reusable",  # set on a sublattice that ran a task without a key
    }
)

# Fields of DispatchRecord the engine may change after it is recorded.
DISPATCH_MUTABLE_FIELDS = frozenset(
    {"status", "start_time", "end_time", "result_digest", "error", "owner"}
)


@dataclass
class TriggerRecord:
    """A trigger registered for a dispatch (``status`` ACTIVE or STOPPED)."""

    trigger_id: int
    dispatch_id: str
    name: str
    spec: bytes  # the trigger pickled by value
    status: str
    owner: str | None
    created_at: datetime
    stopped_at: datetime | None = None
    fired: int = 0
    new_dispatch_ids: list[str] = field(default_factory=list)
    last_error: str | None = None
