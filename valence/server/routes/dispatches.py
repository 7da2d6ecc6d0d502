"""Dispatches: submit, list, read, wait for, cancel, delete."""

from __future__ import annotations

from datetime import datetime, timezone
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request
from starlette.concurrency import run_in_threadpool

from valence import status as st
from valence.server.errors import RequestError, user_input
from valence.server.params import ContentType, DispatchId, RawBody, RuntimeDep
from valence.server.payload import submit_payload
from valence.server.values import value_out
from valence.wire import (
    PICKLE_MEDIA_TYPE,
    CancelIn,
    DispatchIdOut,
    DispatchList,
    DispatchOut,
    MessageOut,
    PurgeOut,
    ResultOut,
    StatusOut,
    dispatch_out,
    dispatch_summary,
)

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
    runtime: RuntimeDep,
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
            partial(runtime.prepare, reuse=reuse_previous_results), lattice, args, kwargs, digest
        )
        if digest is not None:
            prepared.blobs[digest] = payload["lattice"]
        return DispatchIdOut(dispatch_id=runtime.start(prepared, disable_run=disable_run))


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
    runtime: RuntimeDep,
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
    records = runtime.store.list_dispatches(
        status=status,
        name=name,
        name_contains=name_contains,
        since=_utc(since, "since"),
        until=_utc(until, "until"),
        limit=limit,
        offset=offset,
    )
    counts = runtime.progress([r.dispatch_id for r in records])
    items = [dispatch_summary(r, counts.get(r.dispatch_id, {})) for r in records]
    next_offset = offset + len(items) if len(items) == limit else None
    return DispatchList(items=items, limit=limit, offset=offset, next_offset=next_offset)


@router.get("/dispatches/{dispatch_id}", response_model=DispatchOut)
def get_dispatch(
    runtime: RuntimeDep,
    dispatch_id: DispatchId,
    nodes: Annotated[bool, Query(description="include every node record")] = False,
    streams: Annotated[
        bool, Query(description="false: nodes without stdout/stderr (null; read them per node)")
    ] = True,
) -> DispatchOut:
    """One dispatch (every stored field), node counts, and optionally its nodes."""
    record = runtime.get_dispatch(dispatch_id)
    node_records = runtime.store.get_nodes(dispatch_id, streams=streams) if nodes else None
    progress = runtime.progress([dispatch_id]).get(dispatch_id, {})
    return dispatch_out(record, progress, node_records, streams=streams)


def _status_out(dispatch_id: str, status: str) -> StatusOut:
    return StatusOut(dispatch_id=dispatch_id, status=status, done=status in st.TERMINAL)


@router.get("/dispatches/{dispatch_id}/status", response_model=StatusOut)
def get_status(dispatch_id: DispatchId, runtime: RuntimeDep) -> StatusOut:
    return _status_out(dispatch_id, runtime.status(dispatch_id))


@router.get("/dispatches/{dispatch_id}/wait", response_model=StatusOut)
async def wait(
    runtime: RuntimeDep,
    dispatch_id: DispatchId,
    timeout: Annotated[
        float, Query(ge=0, le=MAX_WAIT_S, description="seconds to wait at most")
    ] = 30.0,
) -> StatusOut:
    """Long poll: answer when the dispatch is finished, or after ``timeout`` seconds.

    A dispatch this server runs wakes the request when its final state is written
    (no polling, no thread held); one run by another process is polled in the store.
    """
    await runtime.wait_async(dispatch_id, timeout)
    return _status_out(dispatch_id, await run_in_threadpool(runtime.status, dispatch_id))


@router.get("/dispatches/{dispatch_id}/result", response_model=ResultOut)
def get_result(dispatch_id: DispatchId, runtime: RuntimeDep) -> ResultOut:
    """The lattice's return value (preview + blob URL) once COMPLETED, or the error."""
    record = runtime.get_dispatch(dispatch_id)
    return ResultOut(
        dispatch_id=dispatch_id,
        status=record.status,
        error=record.error,
        result=value_out(runtime.store, record.result_digest),
    )


@router.post("/dispatches/{dispatch_id}/cancel", response_model=MessageOut)
def cancel(
    runtime: RuntimeDep,
    dispatch_id: DispatchId,
    body: Annotated[CancelIn | None, Body()] = None,
) -> MessageOut:
    """Stop a dispatch (or only some tasks); completed results stay."""
    task_ids = body.task_ids if body is not None else None
    try:
        return MessageOut(message=runtime.cancel(dispatch_id, task_ids))
    except RuntimeError as exc:
        raise RequestError(409, str(exc), "RuntimeError") from exc
    except ValueError as exc:
        raise RequestError(422, str(exc), "ValueError") from exc


@router.delete("/dispatches/{dispatch_id}", response_model=PurgeOut)
def delete(
    dispatch_id: DispatchId,
    runtime: RuntimeDep,
    dry_run: Annotated[bool, Query(description="only report what would be deleted")] = False,
) -> PurgeOut:
    """Delete a finished dispatch with its sublattice runs; collect unreferenced blobs."""
    try:
        report = runtime.delete(dispatch_id, dry_run=dry_run)
    except RuntimeError as exc:
        raise RequestError(409, str(exc), "RuntimeError") from exc
    except ValueError as exc:
        raise RequestError(422, str(exc), "ValueError") from exc
    return PurgeOut.model_validate(vars(report))
