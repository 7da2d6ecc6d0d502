"""Errors as JSON: ``{"detail": message, "error": exception type}`` with a fitting status.

Bad requests get a 4xx naming the problem; only a fault of the server itself is
a 500 (and it is logged with its traceback).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from valence.errors import (
    BlobCorruptError,
    BlobMissingError,
    DispatchNotFoundError,
    StoreError,
    StoreWriteError,
    ValenceError,
)
from valence.store import NodeNotFoundError

log = logging.getLogger("valence.server")

T = TypeVar("T")


class RequestError(Exception):
    """A request the server refuses, with its HTTP status and error type."""

    def __init__(
        self,
        status: int,
        detail: str,
        error: str = "BadRequest",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.error, self.headers = status, detail, error, headers


def user_input(function: Callable[..., T], *args: Any) -> T:
    """Run code that reads the client's input (tracing, binding); its errors are 422."""
    try:
        return function(*args)
    except StoreError:
        raise
    except Exception as exc:
        raise RequestError(422, str(exc) or type(exc).__name__, type(exc).__name__) from exc


def validation_message(exc: ValidationError | RequestValidationError) -> str:
    """One line naming each invalid field."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)


def _json(status: int, detail: str, error: str, headers: dict[str, str] | None = None):
    return JSONResponse({"detail": detail, "error": error}, status_code=status, headers=headers)


def redact(request: Request, text: str) -> str:
    """``text`` without the server's own file locations (database path, blob directory)."""
    store = getattr(request.app.state.backend, "store", None)
    for place in (getattr(store, "where", None), getattr(store, "blob_location", None)):
        if place:
            text = text.replace(str(place), "the server's store")
    return text


def install(app: FastAPI) -> None:
    """Register the handlers that turn exceptions into JSON errors."""

    @app.exception_handler(RequestError)
    async def request_error(request: Request, exc: RequestError) -> JSONResponse:
        return _json(exc.status, redact(request, exc.detail), exc.error, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _json(422, validation_message(exc), "ValidationError")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _json(exc.status_code, str(exc.detail), "HTTPError", exc.headers)

    @app.exception_handler(ValenceError)
    async def valence_error(request: Request, exc: ValenceError) -> JSONResponse:
        detail = redact(request, str(exc))
        if isinstance(exc, BlobCorruptError):  # damaged on the server's disk: its fault
            log.error("damaged blob on %s %s: %s", request.method, request.url.path, exc)
            return _json(500, detail, type(exc).__name__)
        if isinstance(exc, (DispatchNotFoundError, NodeNotFoundError, BlobMissingError)):
            return _json(404, detail, type(exc).__name__)
        if isinstance(exc, StoreWriteError):  # a full disk: try again later
            log.error("store refuses writes on %s %s: %s", request.method, request.url.path, exc)
            return _json(503, detail, type(exc).__name__)
        if isinstance(exc, StoreError):
            log.error("store error on %s %s", request.method, request.url.path, exc_info=exc)
            return _json(500, detail, type(exc).__name__)
        return _json(422, detail, type(exc).__name__)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        detail = redact(request, f"internal server error: {type(exc).__name__}: {exc}")
        return _json(500, detail, "InternalError")
