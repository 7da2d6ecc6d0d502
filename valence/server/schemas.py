"""The REST contract: pydantic models for every JSON request and response.

Records travel whole (every field of ``DispatchRecord`` / ``NodeRecord``), so a
client can rebuild them and read a ``Result`` exactly as in embedded mode.
Values never travel inside JSON: a value is a ``ValueOut`` (preview string +
digest + download URL); bytes come from ``GET /api/v1/blobs/{digest}``.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from valence.store.records import DispatchRecord, NodeRecord

PICKLE_MEDIA_TYPE = "application/octet-stream"

_DISPATCH_FIELDS = frozenset(f.name for f in fields(DispatchRecord))
_NODE_FIELDS = frozenset(f.name for f in fields(NodeRecord))


class ErrorOut(BaseModel):
    """Every 4xx/5xx body: what went wrong, and the exception type it stands for."""

    detail: str
    error: str = Field(description="exception type, e.g. DispatchNotFoundError or TypeError")


class HealthOut(BaseModel):
    status: str
    version: str


class DispatchIdOut(BaseModel):
    dispatch_id: str


class MessageOut(BaseModel):
    message: str


class StatusOut(BaseModel):
    dispatch_id: str
    status: str
    done: bool = Field(description="true when COMPLETED, FAILED or CANCELLED")


class ValueOut(BaseModel):
    """A stored value: its preview (``str()``, shortened) and where to download it."""

    digest: str
    preview: str
    url: str


class NodeOut(BaseModel):
    """One node: every field of the stored node record."""

    dispatch_id: str
    node_id: int
    name: str
    kind: str
    status: str
    key: str | None = None
    not_reusable: str | None = None
    function_digest: str | None = None
    source_digest: str | None = None
    value_digest: str | None = None
    metadata: dict[str, Any] = {}
    executor: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    output_digest: str | None = None
    stdout: str | None = Field(default="", description="null when read without streams")
    stderr: str | None = Field(default="", description="null when read without streams")
    error: str | None = None
    traceback: str | None = None
    attempts: int = 0
    sub_dispatch_id: str | None = None
    reused_from_dispatch: str | None = None
    reused_from_node: int | None = None
    reason: dict[str, Any] | None = Field(
        default=None, description="why it was reused or ran: {decision, code, text}"
    )

    @classmethod
    def of(cls, node: NodeRecord, *, streams: bool = True) -> NodeOut:
        fields = vars(node) if streams else {**vars(node), "stdout": None, "stderr": None}
        return cls.model_validate(fields)

    def record(self) -> NodeRecord:
        return NodeRecord(**self.model_dump(include=_NODE_FIELDS))


class NodeDetail(NodeOut):
    """One node with a preview of its output."""

    output: ValueOut | None = None


class DispatchSummary(BaseModel):
    """A dispatch in a list: no graph, sources or environment."""

    dispatch_id: str
    name: str
    status: str
    root_dispatch_id: str
    created_at: datetime
    start_time: datetime | None = None
    end_time: datetime | None = None
    parent_dispatch_id: str | None = None
    redispatched_from: str | None = None
    error: str | None = Field(default=None, description="first line of the error")
    progress: dict[str, int] = Field(default={}, description="node count per status")


class DispatchOut(BaseModel):
    """One dispatch: every field of the stored record, node counts, optionally its nodes."""

    dispatch_id: str
    name: str
    status: str
    root_dispatch_id: str
    created_at: datetime
    lattice_digest: str | None = None
    lattice_source: str = ""
    inputs_digest: str | None = None
    graph: dict[str, Any] = {}
    parent_dispatch_id: str | None = None
    parent_node_id: int | None = None
    redispatched_from: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    result_digest: str | None = None
    error: str | None = None
    python_version: str = ""
    environment: dict[str, Any] = {}
    metadata: dict[str, Any] = {}
    owner: str | None = None
    progress: dict[str, int] = {}
    nodes: list[NodeOut] | None = None

    @classmethod
    def of(
        cls,
        record: DispatchRecord,
        progress: dict[str, int],
        nodes: list[NodeRecord] | None,
        *,
        streams: bool = True,
    ) -> DispatchOut:
        shown = None if nodes is None else [NodeOut.of(n, streams=streams) for n in nodes]
        return cls.model_validate({**vars(record), "progress": progress, "nodes": shown})

    def record(self) -> DispatchRecord:
        return DispatchRecord(**self.model_dump(include=_DISPATCH_FIELDS))


class DispatchList(BaseModel):
    items: list[DispatchSummary]
    limit: int
    offset: int
    next_offset: int | None = Field(description="offset of the next page, null on the last")


class ResultOut(BaseModel):
    dispatch_id: str
    status: str
    error: str | None = None
    result: ValueOut | None = None


class ErrorTextOut(BaseModel):
    error: str | None = None
    traceback: str | None = None


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task_ids: list[StrictInt] | None = Field(
        default=None, max_length=100_000, description="only these nodes; all if null or empty"
    )


class RedispatchIn(BaseModel):
    """A redispatch in JSON (values must be JSON; send a pickle to replace electrons)."""

    model_config = ConfigDict(extra="forbid")

    args: list[Any] = Field(default=[], description="new positional inputs (override in order)")
    kwargs: dict[str, Any] = Field(default={}, description="new keyword inputs")
    reuse_previous_results: bool = False
    force_rerun: list[str] = Field(default=[], description="task names to run even if reusable")
    reuse_from: str | list[str] | None = Field(
        default=None,
        description="'parent' (default), 'any' (the whole store) or dispatch ids; turns reuse on",
    )


class DecisionOut(BaseModel):
    node_id: int
    name: str
    kind: str
    action: str = Field(description="reuse or run")
    code: str
    text: str
    reused_from: tuple[str, int] | None = None


class PlanOut(BaseModel):
    parent_id: str
    reused: int
    to_run: int
    decisions: list[DecisionOut]


class BlobsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    digests: list[str] = Field(max_length=1000)


class BlobsOut(BaseModel):
    blobs: dict[str, str] = Field(description="digest -> base64 bytes")
    missing: list[str] = Field(description="digests not stored")
    omitted: list[str] = Field(description="stored but left out to bound the response size")


class PurgeOut(BaseModel):
    deleted: list[str]
    kept: list[str] = Field(description="sublattice runs kept: a remaining dispatch reuses them")
    blobs_deleted: int
    note: str | None = None
    dry_run: bool
