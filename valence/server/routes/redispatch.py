"""Redispatch a stored dispatch (new inputs, replaced tasks, reuse), or preview the plan."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Request

from valence.engine.redispatch import Plan
from valence.engine.runtime import Runtime
from valence.server.errors import user_input
from valence.server.params import ContentType, DispatchId, RawBody, RuntimeDep
from valence.server.payload import redispatch_request
from valence.wire import (
    PICKLE_MEDIA_TYPE,
    DecisionOut,
    DispatchIdOut,
    PlanOut,
    RedispatchIn,
)

router = APIRouter(tags=["redispatch"])

REDISPATCH_BODY = {
    "requestBody": {
        "required": False,
        "description": "JSON (plain values), or serialize.dumps({'args', 'kwargs', "
        "'replace_electrons', 'reuse_previous_results', 'force_rerun', 'reuse_from'}) "
        "to send code",
        "content": {
            "application/json": {"schema": RedispatchIn.model_json_schema()},
            PICKLE_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def _plan(runtime: Runtime, dispatch_id: str, body: bytes, content_type: str | None) -> Plan:
    options = redispatch_request(body, content_type).plan_options()
    return user_input(partial(runtime.plan, **options), dispatch_id)


@router.post(
    "/dispatches/{dispatch_id}/redispatch",
    status_code=201,
    response_model=DispatchIdOut,
    openapi_extra=REDISPATCH_BODY,
)
def redispatch(
    request: Request,
    runtime: RuntimeDep,
    dispatch_id: DispatchId,
    body: RawBody,
    content_type: ContentType = None,
) -> DispatchIdOut:
    """Run a new dispatch derived from this one; reused nodes share its stored outputs."""
    with request.app.state.submit_slots:
        plan = _plan(runtime, dispatch_id, body, content_type)
        return DispatchIdOut(dispatch_id=runtime.start(plan.prepared))


@router.post(
    "/dispatches/{dispatch_id}/redispatch/plan",
    response_model=PlanOut,
    openapi_extra=REDISPATCH_BODY,
)
def plan(
    runtime: RuntimeDep,
    dispatch_id: DispatchId,
    body: RawBody,
    content_type: ContentType = None,
) -> PlanOut:
    """What a redispatch would reuse and run, and why, without running or writing anything."""
    found = _plan(runtime, dispatch_id, body, content_type)
    return PlanOut(
        parent_id=found.parent_id,
        reused=len(found.reused),
        to_run=len(found.to_run),
        decisions=[
            DecisionOut(
                node_id=d.node_id,
                name=d.name,
                kind=d.kind,
                action=d.action,
                code=d.code,
                text=d.text,
                reused_from=d.reused_from,
            )
            for d in found.decisions
        ],
    )
