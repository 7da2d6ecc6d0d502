"""Dispatches: submit, list, read, wait for, cancel, delete."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request
from starlette.concurrency import run_in_threadpool

from valence import status as st
from valence.server.deps import BackendDep, ContentType, DispatchId, RawBody
from valence.server.errors import RequestError, user_input
from valence.server.payload import submit_payload
from valence.server.schemas import (
    PICKLE_MEDIA_TYPE,
    CancelIn,
    DispatchIdOut,
    DispatchList,
    DispatchOut,
    DispatchSummary,
    MessageOut,
    PurgeOut,
    ResultOut,
    StatusOut,
)
from valence.server.values import value_out

router = APIRouter(tags=["dispatches"])

KNOWN_STATUSES = sorted({str(v) for v in vars(st).values() if isinstance(v, st.Status)})
MAX_WAIT_S = 300.0
MAX_OFFSET = 2**31 - 1
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL

PICKLED_DISPATCH = {
    "requestBody": {
        "required": True,
        "description": "serialize.dumps({'lattice': Lattice, 'args': tuple, 'kwargs': dict}) "
        "(cloudpickle; this is code: only trusted clients may hold the token)",
        "content": {PICKLE_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    }
}


@router.post(
    "/dispatches", status_code=201, response_model=DispatchIdOut, openapi_extra=PICKLED_DISPATCH
)
def submit(
    request: Request,
    backend: BackendDep,
    body: RawBody,
    content_type: ContentType = None,
    disable_run: Annotated[
        bool, Query(description="record the dispatch without running it")
    ] = False,
    reuse_previous_results: Annotated[
        bool, Query(description="reuse COMPLETED nodes with the same key from the whole store")
    ] = False,
) -> DispatchIdOut:
    """Submit a workflow with its inputs, in one request; the server traces and runs it."""
    payload = submit_payload(body, content_type)
    args, kwargs = tuple(payload.get("args", ())), dict(payload.get("kwargs", {}))
    lattice, digest = payload["lattice"], None
    if isinstance(lattice, bytes):  # the client's form: cached by digest, stored as sent
        lattice, digest = request.app.state.lattices.load(payload["lattice"])
    with request.app.state.submit_slots:
        prepared = user_input(
            partial(backend.prepare, reuse=reuse_previous_results), lattice, args, kwargs, digest
        )
        if digest is not None:
            prepared.blobs[digest] = payload["lattice"]
        return DispatchIdOut(dispatch_id=backend.start(prepared, disable_run=disable_run))


def _utc(moment: datetime | None, name: str) -> datetime | None:
    """``moment`` in UTC (naive: taken as UTC); 422 if it is outside years 1-9999 in UTC."""
    if moment is None:
        return None
    if moment.utcoffset() is None:
        return moment.replace(tzinfo=timezone.utc)
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError:
        raise RequestError(
            422, f"{name}={moment.isoformat()} is outside years 1-9999 once in UTC"
        ) from None


@router.get("/dispatches", response_model=DispatchList)
def list_dispatches(
    backend: BackendDep,
    status: Annotated[str | None, Query(description="exact status, e.g. COMPLETED")] = None,
    name: Annotated[
        str | None, Query(description="exact lattice name", max_length=1000, pattern=NO_NUL)
    ] = None,
    name_contains: Annotated[
        str | None,
        Query(max_length=1000, pattern=NO_NUL, description="a part of the name, any case"),
    ] = None,
    since: Annotated[
        datetime | None, Query(description="created at or after (ISO 8601; UTC if naive)")
    ] = None,
    until: Annotated[
        datetime | None, Query(description="created before (ISO 8601; UTC if naive)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> DispatchList:
    """Dispatches, newest first, filtered and paginated."""
    if status is not None and status not in KNOWN_STATUSES:
        raise RequestError(422, f"unknown status {status!r}; known: {', '.join(KNOWN_STATUSES)}")
    records = backend.list_dispatches(
        status=status,
        name=name,
        name_contains=name_contains,
        since=_utc(since, "since"),
        until=_utc(until, "until"),
        limit=limit,
        offset=offset,
    )
    counts = backend.node_counts([r.dispatch_id for r in records])
    items = [
        DispatchSummary.model_validate(
            {
                **vars(r),
                "error": r.error.splitlines()[0] if r.error else None,
                "progress": counts.get(r.dispatch_id, {}),
            }
        )
        for r in records
    ]
    next_offset = offset + len(items) if len(items) == limit else None
    return DispatchList(items=items, limit=limit, offset=offset, next_offset=next_offset)


@router.get("/dispatches/{dispatch_id}", response_model=DispatchOut)
def get_dispatch(
    backend: BackendDep,
    dispatch_id: DispatchId,
    nodes: Annotated[bool, Query(description="include every node record")] = False,
    streams: Annotated[
        bool, Query(description="false: nodes without stdout/stderr (null; read them per node)")
    ] = True,
) -> DispatchOut:
    """One dispatch (every stored field), node counts, and optionally its nodes."""
    record = backend.get_dispatch(dispatch_id)
    node_records = backend.get_nodes(dispatch_id, streams=streams) if nodes else None
    progress = backend.node_counts([dispatch_id]).get(dispatch_id, {})
    return DispatchOut.of(record, progress, node_records, streams=streams)


def _status_out(dispatch_id: str, status: str) -> StatusOut:
    return StatusOut(dispatch_id=dispatch_id, status=status, done=status in st.TERMINAL)


@router.get("/dispatches/{dispatch_id}/status", response_model=StatusOut)
def get_status(dispatch_id: DispatchId, backend: BackendDep) -> StatusOut:
    return _status_out(dispatch_id, backend.status(dispatch_id))


@router.get("/dispatches/{dispatch_id}/wait", response_model=StatusOut)
async def wait(
    backend: BackendDep,
    dispatch_id: DispatchId,
    timeout: Annotated[
        float, Query(ge=0, le=MAX_WAIT_S, description="seconds to wait at most")
    ] = 30.0,
) -> StatusOut:
    """Long poll: answer when the dispatch is finished, or after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.002
    dispatcher = backend.dispatcher
    while True:
        owned = dispatcher is not None and dispatcher.owns(dispatch_id)
        left = deadline - time.monotonic()
        if not owned or left <= 0:  # owned ones are checked in memory; others in the store
            status = await run_in_threadpool(backend.status, dispatch_id)
            if status in st.TERMINAL or left <= 0:
                return _status_out(dispatch_id, status)
        await asyncio.sleep(max(0.0, min(delay, left)))
        delay = min(delay * 1.5, 0.05 if owned else 0.5)


@router.get("/dispatches/{dispatch_id}/result", response_model=ResultOut)
def get_result(dispatch_id: DispatchId, backend: BackendDep) -> ResultOut:
    """The lattice's return value (preview + blob URL) once COMPLETED, or the error."""
    record = backend.get_dispatch(dispatch_id)
    return ResultOut(
        dispatch_id=dispatch_id,
        status=record.status,
        error=record.error,
        result=value_out(backend, record.result_digest),
    )


@router.post("/dispatches/{dispatch_id}/cancel", response_model=MessageOut)
def cancel(
    backend: BackendDep,
    dispatch_id: DispatchId,
    body: Annotated[CancelIn | None, Body()] = None,
) -> MessageOut:
    """Stop a dispatch (or only some tasks); completed results stay."""
    task_ids = body.task_ids if body is not None else None
    try:
        return MessageOut(message=backend.cancel(dispatch_id, task_ids))
    except RuntimeError as exc:
        raise RequestError(409, str(exc), "RuntimeError") from exc
    except ValueError as exc:
        raise RequestError(422, str(exc), "ValueError") from exc


@router.delete("/dispatches/{dispatch_id}", response_model=PurgeOut)
def delete(
    dispatch_id: DispatchId,
    backend: BackendDep,
    dry_run: Annotated[bool, Query(description="only report what would be deleted")] = False,
) -> PurgeOut:
    """Delete a finished dispatch with its sublattice runs; collect unreferenced blobs."""
    try:
        report = backend.delete(dispatch_id, dry_run=dry_run)
    except RuntimeError as exc:
        raise RequestError(409, str(exc), "RuntimeError") from exc
    except ValueError as exc:
        raise RequestError(422, str(exc), "ValueError") from exc
    return PurgeOut.model_validate(vars(report))
