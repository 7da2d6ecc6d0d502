"""What routes take from a request (FastAPI dependencies): the runtime, the token check,
ids, raw bodies."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Header, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from valence.backends.local import LocalBackend
from valence.engine.runtime import Runtime
from valence.errors import DispatchNotFoundError, StoreError
from valence.server.errors import RequestError
from valence.server.guard import TOKEN_MESSAGE

_bearer = HTTPBearer(auto_error=False, description="the server's token (VALENCE_TOKEN)")


# Dependencies that do no I/O are ``async``: FastAPI runs a plain ``def`` one in a
# worker thread, a hop that costs more than the lookup itself.


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_backend(request: Request) -> LocalBackend:
    """The backend triggers run through (they redispatch like a client does)."""
    backend: LocalBackend = request.app.state.backend
    return backend


async def verify_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """401 unless the request carries ``Authorization: Bearer <the server's token>``."""
    expected: str | None = request.app.state.token
    if expected is None:
        return
    given = credentials.credentials if credentials is not None else ""
    if not secrets.compare_digest(given.encode(), expected.encode()):
        raise RequestError(  # Guard refuses these first; this keeps the schema's security
            401,
            TOKEN_MESSAGE,
            "AuthenticationError",
            {"WWW-Authenticate": "Bearer"},
        )


async def resolved_id(
    dispatch_id: Annotated[str, Path(description="a dispatch id or a unique prefix of one")],
    runtime: Annotated[Runtime, Depends(get_runtime)],
) -> str:
    """The full dispatch id for a path parameter (404 if unknown, 400 if ambiguous).

    The full id of a dispatch this server runs is answered from memory; any other
    is looked up in the store (in a worker thread).
    """
    dispatcher = runtime.dispatcher
    if dispatcher is not None and dispatcher.owns(dispatch_id):
        return dispatch_id
    return await run_in_threadpool(_resolve, runtime, dispatch_id)


def _resolve(runtime: Runtime, dispatch_id: str) -> str:
    try:
        return runtime.resolve_id(dispatch_id)
    except DispatchNotFoundError:
        raise
    except (ValueError, StoreError) as exc:
        raise RequestError(400, str(exc), type(exc).__name__) from exc


async def raw_body(request: Request) -> bytes:
    return await request.body()


MAX_NODE_ID = 2**31 - 1  # far above any graph; keeps ids inside every database's integers

RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
BackendDep = Annotated[LocalBackend, Depends(get_backend)]
NodeId = Annotated[
    int, Path(ge=0, le=MAX_NODE_ID, description="a node id of the dispatch (0, 1, ...)")
]
DispatchId = Annotated[str, Depends(resolved_id)]
RawBody = Annotated[bytes, Depends(raw_body)]
ContentType = Annotated[str | None, Header()]
