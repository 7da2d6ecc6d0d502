"""JSON models of the endpoints the web UI needs beyond the clients' API.

Graph (nodes + edges, with helper chains contracted), lineage, compare with the
parent dispatch, a node's source and arguments, and a dispatch's named inputs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from valence.wire import DispatchSummary

Category = Literal["reused", "replaced", "recomputed", "unexplained"]


class GraphNodeOut(BaseModel):
    """A node as drawn: enough to colour and label it; details come from the node route."""

    id: int
    name: str
    label: str = Field(description="short display name (prefixes stripped, truncated)")
    kind: str
    helper: bool = Field(description="parameter, getitem, getattr, collection or operator")
    status: str
    reused: bool
    reason_code: str | None = None
    executor: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    sub_dispatch_id: str | None = None


class GraphEdgeOut(BaseModel):
    source: int
    target: int
    name: str
    param_type: str = Field(description="arg, kwarg or wait")
    arg_index: int | None = Field(default=None, description="position of a positional argument")
    via_helpers: bool = Field(default=False, description="contracted through hidden helpers")


class BoxOut(BaseModel):
    """One box of the drawing: a node, or a group of sibling tasks drawn as one."""

    key: str = Field(description="'n<node id>' for a node, 'g<first member id>' for a group")
    label: str
    group: bool
    members: list[int] = Field(description="the node ids drawn in this box")
    status: str = Field(description="the node's status, or the group's most telling one")
    counts: dict[str, int] = Field(default_factory=dict, description="group members per status")
    reused: int = Field(default=0, description="how many members were reused")
    x: float
    y: float
    width: float


class BoxEdgeOut(BaseModel):
    source: str
    target: str
    count: int = Field(description="how many node edges this drawn edge stands for")
    wait: bool = False


class GraphOut(BaseModel):
    dispatch_id: str
    status: str
    done: bool
    total_nodes: int = Field(description="every node of the graph, helpers included")
    total_tasks: int = Field(description="electrons and sublattices: what people count")
    nodes: list[GraphNodeOut] = Field(
        description="the nodes drawn in boxes of their own, or with nodes=all every node "
        "(helpers only if asked)"
    )
    edges: list[GraphEdgeOut] = Field(description="every edge of the transport graph")
    task_edges: list[GraphEdgeOut] = Field(
        description="edges between tasks only: a path through helper nodes becomes one edge"
    )
    boxes: list[BoxOut] = Field(
        description="what to draw, laid out: nodes, and groups of repeated sibling tasks"
    )
    box_edges: list[BoxEdgeOut]


class DerivedOut(BaseModel):
    depth: int = Field(description="1 for a direct redispatch, 2 for its redispatches, ...")
    dispatch: DispatchSummary


class LineageOut(BaseModel):
    dispatch_id: str
    ancestors: list[DispatchSummary] = Field(
        description="the dispatches it was redispatched from, oldest first"
    )
    derived: list[DerivedOut] = Field(description="redispatches derived from it, depth first")
    sublattice_parent: DispatchSummary | None = Field(
        default=None, description="the dispatch this one runs a sublattice of"
    )
    sublattice_parent_node: int | None = None
    sublattices: list[DispatchSummary] = Field(description="sublattice runs of this dispatch")


class InputOut(BaseModel):
    name: str
    preview: str
    editable: bool = Field(
        default=False, description="a keyword-bindable parameter whose value is plain JSON"
    )
    json_value: Any = Field(default=None, description="the value as JSON, when editable")


class InputsOut(BaseModel):
    dispatch_id: str
    inputs: list[InputOut]


class InputChangeOut(BaseModel):
    name: str
    before: str | None
    after: str | None
    changed: bool


class CompareNodeOut(BaseModel):
    node_id: int
    name: str
    kind: str
    status: str
    category: Category
    code: str | None = None
    text: str | None = None
    replaced: str | None = Field(default=None, description="the task this one replaced")
    reused_from_dispatch: str | None = None
    reused_from_node: int | None = None


class CompareOut(BaseModel):
    dispatch_id: str
    parent_id: str
    name: str
    status: str
    parent_status: str
    counts: dict[str, int] = Field(description="nodes per category")
    replaced: list[str] = Field(description="task names given in replace_electrons")
    inputs: list[InputChangeOut]
    nodes: list[CompareNodeOut]


class SourceOut(BaseModel):
    node_id: int
    name: str
    source: str | None = Field(description="the function's source text; null if none stored")


class ArgumentOut(BaseModel):
    name: str
    param_type: str
    arg_index: int | None = None
    parent_id: int
    parent_name: str
    parent_kind: str
    preview: str | None = Field(description="the value's preview, once the parent has run")


class RichOut(BaseModel):
    """A rich view of a node's output: a table, an array or an image (else ``none``)."""

    kind: Literal["table", "array", "image", "none"]
    shape: list[int] | None = None
    columns: list[str] | None = Field(default=None, description="table: column names")
    index: list[str] | None = Field(default=None, description="table: row labels shown")
    rows: list[list[str]] | None = Field(default=None, description="table: the first rows")
    dtype: str | None = None
    preview: str | None = Field(default=None, description="array: numpy's summary text")
    mime: str | None = None
    image: str | None = Field(default=None, description="image: a data: URI")
    note: str | None = None
