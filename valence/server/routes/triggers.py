"""Triggers: register one (a pickled ``BaseTrigger``), list them, stop a dispatch's."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from valence import serialize
from valence.errors import SerializationError
from valence.server.errors import RequestError, user_input
from valence.server.params import BackendDep, RawBody
from valence.triggers.base import BaseTrigger
from valence.wire import TriggerOut

router = APIRouter(tags=["triggers"])


class TriggersOut(BaseModel):
    triggers: list[TriggerOut]


class TriggerIdOut(BaseModel):
    trigger_id: int


class StopIn(BaseModel):
    dispatch_ids: list[str]


class StoppedOut(BaseModel):
    stopped: int


@router.post(
    "/triggers",
    status_code=201,
    response_model=TriggerIdOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "serialize.dumps(trigger) of a BaseTrigger with lattice_dispatch_id",
            "content": {"application/octet-stream": {"schema": {"type": "string"}}},
        }
    },
)
def register(backend: BackendDep, body: RawBody) -> TriggerIdOut:
    """Store a trigger for its dispatch and start observing it in the server."""
    try:
        trigger = serialize.loads(body)
    except SerializationError as exc:
        raise RequestError(
            422, f"body is not a pickled trigger: {exc}", type(exc).__name__
        ) from exc
    if not isinstance(trigger, BaseTrigger):
        raise RequestError(
            422, f"body is a {type(trigger).__name__}, not a BaseTrigger", "TypeError"
        )
    if not trigger.lattice_dispatch_id:
        raise RequestError(
            422,
            f"{type(trigger).__name__} has no lattice_dispatch_id; set it to the dispatch the "
            "trigger should run again",
            "RuntimeError",
        )
    user_input(backend.resolve_id, trigger.lattice_dispatch_id)  # 404 for an unknown dispatch
    return TriggerIdOut(trigger_id=user_input(backend.register_trigger, trigger))


@router.get("/triggers", response_model=TriggersOut)
def list_triggers(
    backend: BackendDep, dispatch_id: Annotated[list[str] | None, Query()] = None
) -> TriggersOut:
    """Every trigger (of the given dispatches), oldest first."""
    records = backend.list_triggers(dispatch_id)
    return TriggersOut(triggers=[TriggerOut.of(r) for r in records])


@router.post("/triggers/stop", response_model=StoppedOut)
def stop(backend: BackendDep, body: StopIn) -> StoppedOut:
    """Stop every trigger of these dispatches (ids or unique prefixes)."""
    ids = [backend.resolve_id(dispatch_id) for dispatch_id in body.dispatch_ids]
    return StoppedOut(stopped=backend.stop_triggers(ids))
