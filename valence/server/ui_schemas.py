"""JSON models of the endpoints the web UI needs beyond the clients' API.

Graph (nodes + edges, with helper chains contracted), lineage, compare with the
parent dispatch, a node's source and arguments, and a dispatch's named inputs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from valence.server.schemas import DispatchSummary

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


class GraphOut(BaseModel):
    dispatch_id: str
    status: str
    done: bool
    nodes: list[GraphNodeOut]
    edges: list[GraphEdgeOut] = Field(description="every edge of the transport graph")
    task_edges: list[GraphEdgeOut] = Field(
        description="edges between tasks only: a path through helper nodes becomes one edge"
    )


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
