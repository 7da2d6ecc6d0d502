"""Server-wide operations: health and purge."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from valence.backends import parse_duration
from valence.server.errors import RequestError
from valence.server.params import RuntimeDep
from valence.wire import HealthOut, PurgeOut

health_router = APIRouter(tags=["server"])
router = APIRouter(tags=["server"])


@health_router.get("/health", response_model=HealthOut)
def health() -> HealthOut:
    """Whether the server answers (no token needed)."""
    from valence._version import __version__

    return HealthOut(status="ok", version=__version__)


@router.post("/purge", response_model=PurgeOut)
def purge(
    runtime: RuntimeDep,
    older_than: Annotated[
        str, Query(description="age like 30d, 12h, 15m, 90s (0: every age)")
    ] = "30d",
    dry_run: Annotated[bool, Query(description="only report what would be deleted")] = False,
) -> PurgeOut:
    """Delete finished dispatches older than ``older_than``; collect blobs none still uses."""
    try:
        age = parse_duration(older_than)
    except ValueError as exc:
        raise RequestError(422, str(exc), "ValueError") from exc
    return PurgeOut.model_validate(vars(runtime.purge(age, dry_run=dry_run)))
