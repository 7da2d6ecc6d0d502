"""What the web UI reads beyond the clients' API: graph, lineage, inputs, compare, source."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from valence import serialize
from valence import status as st
from valence.engine.runtime import Runtime
from valence.errors import DispatchNotFoundError
from valence.server.errors import RequestError
from valence.server.params import DispatchId, NodeId, RuntimeDep
from valence.server.ui import rich, views
from valence.server.ui_schemas import (
    ArgumentOut,
    CompareOut,
    DerivedOut,
    GraphOut,
    InputOut,
    InputsOut,
    LineageOut,
    RichOut,
    SourceOut,
)
from valence.server.values import value_out
from valence.store.records import DispatchRecord
from valence.transportable import TransportableObject
from valence.wire import DispatchSummary, dispatch_summary

router = APIRouter(tags=["ui"])

NODE = "/dispatches/{dispatch_id}/nodes/{node_id}"
MAX_LINEAGE = 200


@router.get("/dispatches/{dispatch_id}/graph", response_model=GraphOut)
def get_graph(
    dispatch_id: DispatchId,
    runtime: RuntimeDep,
    helpers: Annotated[bool, Query(description="draw parameter, getitem, ... nodes too")] = False,
    expand: Annotated[
        str, Query(max_length=10_000, description="comma-separated box keys to draw in full")
    ] = "",
    edges: Annotated[bool, Query(description="include every edge and the task edges")] = False,
    nodes: Annotated[
        Literal["boxes", "all"],
        Query(description="the nodes drawn as boxes of their own (default), or every node"),
    ] = "boxes",
) -> Response:
    """The drawing (boxes laid out, siblings and chains grouped) and the nodes drawn alone
    (status, reuse, times); ``nodes=all`` lists every node. Helpers only with ``helpers``."""
    store = runtime.store
    status = store.get_status(dispatch_id)
    records = store.get_nodes(dispatch_id, streams=False)  # no stdout/stderr to draw
    edge_records = store.get_edges(dispatch_id)
    drawn = [views.graph_node(n) for n in records if helpers or n.kind not in views.HELPER_KINDS]
    all_edges = views.graph_edges(edge_records) if helpers or edges else []
    between_tasks = views.task_edges(records, edge_records)
    boxes, box_edges = views.drawing(
        drawn, all_edges if helpers else between_tasks, filter(None, expand.split(","))
    )
    if nodes == "boxes":  # a group's members are in its box; every node only when asked
        alone = {box["members"][0] for box in boxes if not box["group"]}
        drawn = [n for n in drawn if n["id"] in alone]
    graph = {
        "dispatch_id": dispatch_id,
        "status": status,
        "done": status in st.TERMINAL,
        "total_nodes": len(records),
        "total_tasks": sum(n.kind not in views.HELPER_KINDS for n in records),
        "nodes": drawn,
        "edges": all_edges if edges else [],
        "task_edges": between_tasks if edges else [],
        "boxes": boxes,
        "box_edges": box_edges,
    }
    # Built from our own records: written as JSON directly, not validated node by node.
    return Response(json.dumps(graph, default=str), media_type="application/json")


def summaries(runtime: Runtime, records: list[DispatchRecord]) -> list[DispatchSummary]:
    """Records as the dispatch list shows them (first error line, node counts)."""
    counts = runtime.progress([r.dispatch_id for r in records])
    return [dispatch_summary(r, counts.get(r.dispatch_id, {})) for r in records]


def _ancestors(runtime: Runtime, record: DispatchRecord) -> list[DispatchRecord]:
    found: list[DispatchRecord] = []
    seen = {record.dispatch_id}
    parent = record.redispatched_from
    while parent and parent not in seen and len(found) < MAX_LINEAGE:
        seen.add(parent)
        try:
            found.append(runtime.get_dispatch(parent))
        except DispatchNotFoundError:  # deleted by purge: the chain stops here
            break
        parent = found[-1].redispatched_from
    return found[::-1]


def _redispatches(runtime: Runtime, dispatch_id: str) -> list[DispatchRecord]:
    return [c for c in runtime.store.children(dispatch_id) if c.redispatched_from == dispatch_id]


def _derived(runtime: Runtime, dispatch_id: str) -> list[tuple[int, DispatchRecord]]:
    """Redispatches of this one and of those, depth first, oldest sibling first."""
    found: list[tuple[int, DispatchRecord]] = []
    stack = [(1, c) for c in reversed(_redispatches(runtime, dispatch_id))]
    while stack and len(found) < MAX_LINEAGE:
        depth, record = stack.pop()
        found.append((depth, record))
        stack += [(depth + 1, c) for c in reversed(_redispatches(runtime, record.dispatch_id))]
    return found


@router.get("/dispatches/{dispatch_id}/lineage", response_model=LineageOut)
def get_lineage(dispatch_id: DispatchId, runtime: RuntimeDep) -> LineageOut:
    """The redispatch chain above this dispatch, the redispatches below, and sublattice links."""
    record = runtime.get_dispatch(dispatch_id)
    children = runtime.store.children(dispatch_id)
    derived = _derived(runtime, dispatch_id)
    depths, records = [d for d, _ in derived], [r for _, r in derived]
    parent = None
    if record.parent_dispatch_id is not None:
        parent = summaries(runtime, [runtime.get_dispatch(record.parent_dispatch_id)])[0]
    return LineageOut(
        dispatch_id=dispatch_id,
        ancestors=summaries(runtime, _ancestors(runtime, record)),
        derived=[
            DerivedOut(depth=depth, dispatch=summary)
            for depth, summary in zip(depths, summaries(runtime, records), strict=True)
        ],
        sublattice_parent=parent,
        sublattice_parent_node=record.parent_node_id,
        sublattices=summaries(
            runtime, [c for c in children if c.parent_dispatch_id == dispatch_id]
        ),
    )


_NAMES: dict[str, tuple[list[str], str | None]] = {}  # lattice digest -> parameter names


def _parameter_names(runtime: Runtime, record: DispatchRecord) -> tuple[list[str], str | None]:
    """From the stored source if there is one, else from the stored lattice's signature."""
    if record.lattice_source or record.lattice_digest is None:
        return views.parameter_names(record.lattice_source)
    digest = record.lattice_digest
    if digest not in _NAMES:
        try:
            found = views.signature_names(serialize.loads(runtime.store.get_blob(digest)).function)
        except Exception:  # its code cannot be loaded here: positions only
            found = ([], None)
        if len(_NAMES) > 1000:
            _NAMES.clear()
        _NAMES[digest] = found
    return _NAMES[digest]


def _inputs(runtime: Runtime, record: DispatchRecord) -> list[InputOut]:
    if record.inputs_digest is None:
        return []
    try:
        inputs = serialize.loads(runtime.store.get_blob(record.inputs_digest))
    except Exception as exc:  # e.g. the inputs' classes are not importable here
        return [InputOut(name="(inputs)", preview=f"<cannot show inputs: {exc}>")]
    return views.named_inputs(*_parameter_names(runtime, record), inputs)


@router.get("/dispatches/{dispatch_id}/inputs", response_model=InputsOut)
def get_inputs(dispatch_id: DispatchId, runtime: RuntimeDep) -> InputsOut:
    """The dispatch's inputs by parameter name, as previews."""
    return InputsOut(
        dispatch_id=dispatch_id, inputs=_inputs(runtime, runtime.get_dispatch(dispatch_id))
    )


@router.get("/dispatches/{dispatch_id}/compare", response_model=CompareOut)
def compare(
    dispatch_id: DispatchId,
    runtime: RuntimeDep,
    helpers: Annotated[
        bool, Query(description="include parameter, getitem, collection... nodes")
    ] = False,
) -> CompareOut:
    """A redispatch against its parent: each node reused, replaced or recomputed, and why."""
    record = runtime.get_dispatch(dispatch_id)
    if record.redispatched_from is None:
        raise RequestError(
            422,
            f"dispatch {dispatch_id} is not a redispatch: there is no parent to compare with; "
            "open one of the redispatches listed in its lineage instead",
            "NotARedispatch",
        )
    parent = runtime.get_dispatch(record.redispatched_from)
    nodes = [
        views.compare_node(n)
        for n in runtime.store.get_nodes(dispatch_id)
        if helpers or n.kind not in views.HELPER_KINDS
    ]
    counts = dict.fromkeys(("reused", "replaced", "recomputed", "unexplained"), 0)
    for node in nodes:
        counts[node.category] += 1
    return CompareOut(
        dispatch_id=dispatch_id,
        parent_id=parent.dispatch_id,
        name=record.name,
        status=record.status,
        parent_status=parent.status,
        counts=counts,
        replaced=list(record.metadata.get("replaced", [])),
        inputs=views.input_changes(_inputs(runtime, parent), _inputs(runtime, record)),
        nodes=nodes,
    )


@router.get(NODE + "/source", response_model=SourceOut)
def get_source(
    node_id: NodeId,
    dispatch_id: DispatchId,
    runtime: RuntimeDep,
) -> SourceOut:
    """The source text of the node's function (null for helpers and unknown sources)."""
    node = runtime.store.get_node(dispatch_id, node_id)
    source = None
    if node.source_digest is not None:
        source = runtime.store.get_blob(node.source_digest).decode("utf-8", errors="replace")
    return SourceOut(node_id=node_id, name=node.name, source=source)


@router.get(NODE + "/arguments", response_model=list[ArgumentOut])
def get_arguments(
    node_id: NodeId,
    dispatch_id: DispatchId,
    runtime: RuntimeDep,
) -> list[ArgumentOut]:
    """The node's inputs: each incoming edge with its parent node and the value's preview."""
    runtime.store.get_node(dispatch_id, node_id)  # 404 for an unknown node
    edges = [e for e in runtime.store.get_edges(dispatch_id) if e.child_id == node_id]
    parents = {n.node_id: n for n in runtime.store.get_nodes(dispatch_id)}
    found = []
    for edge in sorted(edges, key=lambda e: (e.param_type == "wait", e.arg_index or 0)):
        parent = parents[edge.parent_id]
        value = value_out(runtime.store, parent.output_digest)
        found.append(
            ArgumentOut(
                name=edge.edge_name,
                param_type=edge.param_type,
                arg_index=edge.arg_index,
                parent_id=parent.node_id,
                parent_name=parent.name,
                parent_kind=parent.kind,
                preview=value.preview if value is not None else None,
            )
        )
    return found


@router.get(NODE + "/rich", response_model=RichOut)
def get_rich(node_id: int, dispatch_id: DispatchId, runtime: RuntimeDep) -> RichOut:
    """The node's output as a table, array or image when it is one (``kind: none`` else)."""
    node = runtime.store.get_node(dispatch_id, node_id)
    if node.output_digest is None:
        return RichOut(kind="none", note=f"no output ({node.status})")
    try:
        value = TransportableObject.from_bytes(runtime.store.get_blob(node.output_digest))
        return rich.rich_value(value.get_deserialized())
    except Exception as exc:  # a value this server cannot load or render: say why
        return RichOut(kind="none", note=f"cannot show it richly: {type(exc).__name__}: {exc}")
