"""The FastAPI application: REST API under ``/api/v1`` over one store and dispatcher.

Security model: submitted payloads are pickles, i.e. code that the server runs.
Every ``/api/v1`` path except ``/health`` (the OpenAPI schema included) needs
``Authorization: Bearer <token>``, checked before the body is read
(``VALENCE_TOKEN``, or the token ``valence start`` stores with mode 0600 in the
valence home); only trusted clients may hold the token. Request bodies are
limited in size (``VALENCE_MAX_REQUEST_BYTES``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from starlette.concurrency import run_in_threadpool

from valence.backends.local import LocalBackend
from valence.config import allowed_hosts, max_request_bytes
from valence.engine.runtime import Runtime
from valence.server import errors
from valence.server.guard import Guard, is_loopback
from valence.server.limits import BodyLimit
from valence.server.params import verify_token
from valence.server.payload import LatticeCache
from valence.server.routes import admin, blobs, dispatches, graph, nodes, redispatch, triggers
from valence.server.ui import mount_ui
from valence.triggers.runner import runner_for, shutdown_runner

log = logging.getLogger("valence.server")

API_PREFIX = "/api/v1"
SUBMIT_SLOTS = 2


def create_app(
    runtime: Runtime,
    *,
    token: str | None = None,
    max_body: int | None = None,
    host: str | None = None,
) -> FastAPI:
    """The app serving ``runtime`` (its routes call it; triggers run through a LocalBackend).

    ``token`` None disables authentication (in-process tests only; the CLI
    always sets one). ``host`` is the address the server listens on: on a
    loopback address, requests naming another host are refused. On startup,
    dispatches left running by a dead process are resumed; on shutdown,
    running dispatches are left to be resumed.
    """
    dispatcher = runtime.dispatcher
    if dispatcher is None:
        raise ValueError("a server needs a runtime with a dispatcher (Runtime.open())")
    backend = LocalBackend(runtime)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resumed = await run_in_threadpool(dispatcher.resume_unfinished)
        if resumed:
            log.info("resumed %d unfinished dispatch(es): %s", len(resumed), ", ".join(resumed))
        adopted = await run_in_threadpool(runner_for(backend).adopt)
        if adopted:
            log.info("observing %d trigger(s) again: %s", len(adopted), adopted)
        yield
        shutdown_runner(dispatcher)
        active = dispatcher.active()
        if active:
            log.info(
                "stopping with %d running dispatch(es); they resume when a server starts again",
                len(active),
            )

    from valence._version import __version__

    app = FastAPI(
        title="valence",
        version=__version__,
        description=__doc__,
        lifespan=lifespan,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # the UI serves /docs with vendored assets (valence.server.ui)
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.state.backend = backend  # triggers run above the engine, through a backend
    app.state.token = token
    app.state.lattices = LatticeCache()
    # Tracing and recording are CPU-bound: a few at a time, not one per request thread,
    # keeps the dispatcher loop and each submit from waiting on a crowd for the GIL.
    app.state.submit_slots = threading.BoundedSemaphore(SUBMIT_SLOTS)
    errors.install(app)
    app.include_router(admin.health_router, prefix=API_PREFIX)
    secured = [Depends(verify_token)]
    for module in (dispatches, nodes, redispatch, blobs, admin, graph, triggers):
        app.include_router(module.router, prefix=API_PREFIX, dependencies=secured)
    mount_ui(app)
    app.add_middleware(BodyLimit, limit=max_body if max_body is not None else max_request_bytes())
    app.add_middleware(  # outermost: Host and token are checked before any body is read
        Guard,
        token=token,
        protected=API_PREFIX,
        open_paths=frozenset({f"{API_PREFIX}/health"}),
        loopback_only=host is not None and is_loopback(host),
        extra_hosts=allowed_hosts(),
    )
    return app
