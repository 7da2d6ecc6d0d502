"""Nodes of a dispatch: records, output (preview + blob), stdout, stderr, error."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse, Response

from valence.server.errors import RequestError
from valence.server.params import DispatchId, NodeId, RuntimeDep
from valence.server.values import value_out
from valence.wire import PICKLE_MEDIA_TYPE, ErrorTextOut, NodeDetail, NodeOut, node_out, nodes_table

router = APIRouter(tags=["nodes"])

NODE = "/dispatches/{dispatch_id}/nodes/{node_id}"


@router.get("/dispatches/{dispatch_id}/nodes", response_model=list[NodeOut])
def list_nodes(
    dispatch_id: DispatchId,
    runtime: RuntimeDep,
    streams: Annotated[
        bool, Query(description="false: without stdout/stderr (null; read them per node)")
    ] = True,
    layout: Annotated[
        Literal["records", "table"],
        Query(
            description="records: a list of node objects; table: one object "
            '{"columns": [field names], "rows": [[values], ...]} (compact, for large graphs)'
        ),
    ] = "records",
) -> list[NodeOut] | Response:
    """Every node record of the dispatch, by node id."""
    found = runtime.store.get_nodes(dispatch_id, streams=streams)
    if layout == "table":
        body = json.dumps(nodes_table(found), separators=(",", ":"))
        return Response(body, media_type="application/json")
    return [node_out(node, streams=streams) for node in found]


@router.get(NODE, response_model=NodeDetail)
def get_node(
    runtime: RuntimeDep,
    node_id: NodeId,
    dispatch_id: DispatchId,
) -> NodeDetail:
    """One node with a preview of its output."""
    node = runtime.store.get_node(dispatch_id, node_id)
    return NodeDetail.of(node, output=value_out(runtime.store, node.output_digest))


@router.get(NODE + "/output", response_class=Response)
def get_output(
    runtime: RuntimeDep,
    node_id: NodeId,
    dispatch_id: DispatchId,
) -> Response:
    """The node's output as stored (serialized bytes)."""
    node = runtime.store.get_node(dispatch_id, node_id)
    if node.output_digest is None:
        raise RequestError(
            404,
            f"node {node_id} of dispatch {dispatch_id} has no output ({node.status})",
            "NoOutput",
        )
    return Response(runtime.store.get_blob(node.output_digest), media_type=PICKLE_MEDIA_TYPE)


@router.get(NODE + "/stdout", response_class=PlainTextResponse)
def get_stdout(
    runtime: RuntimeDep,
    node_id: NodeId,
    dispatch_id: DispatchId,
) -> PlainTextResponse:
    return PlainTextResponse(runtime.store.get_node(dispatch_id, node_id).stdout)


@router.get(NODE + "/stderr", response_class=PlainTextResponse)
def get_stderr(
    runtime: RuntimeDep,
    node_id: NodeId,
    dispatch_id: DispatchId,
) -> PlainTextResponse:
    return PlainTextResponse(runtime.store.get_node(dispatch_id, node_id).stderr)


@router.get(NODE + "/error", response_model=ErrorTextOut)
def get_error(
    runtime: RuntimeDep,
    node_id: NodeId,
    dispatch_id: DispatchId,
) -> ErrorTextOut:
    node = runtime.store.get_node(dispatch_id, node_id)
    return ErrorTextOut(error=node.error, traceback=node.traceback)
