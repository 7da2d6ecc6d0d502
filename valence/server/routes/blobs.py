"""Stored values by digest: one at a time, or a batch in one request."""

from __future__ import annotations

import base64

from fastapi import APIRouter
from fastapi.responses import Response

from valence.errors import BlobMissingError
from valence.server.errors import RequestError
from valence.server.params import RuntimeDep
from valence.store.blobs import is_digest
from valence.wire import PICKLE_MEDIA_TYPE, BlobsIn, BlobsOut

router = APIRouter(tags=["blobs"])

BATCH_BYTES = 32 * 1024 * 1024


def _check(digest: str) -> str:
    if not is_digest(digest):
        raise RequestError(422, f"{digest!r} is not a blob digest (64 lowercase hex digits)")
    return digest


@router.get("/blobs/{digest}", response_class=Response)
def get_blob(digest: str, runtime: RuntimeDep) -> Response:
    """The serialized bytes of a stored value (``serialize.loads`` reads them)."""
    return Response(runtime.store.get_blob(_check(digest)), media_type=PICKLE_MEDIA_TYPE)


@router.post("/blobs/batch", response_model=BlobsOut)
def get_blobs(request: BlobsIn, runtime: RuntimeDep) -> BlobsOut:
    """Several values at once (base64), up to about 32 MiB; the rest are listed as omitted."""
    blobs: dict[str, str] = {}
    missing: list[str] = []
    omitted: list[str] = []
    budget = BATCH_BYTES
    for digest in dict.fromkeys(_check(d) for d in request.digests):
        if budget <= 0:
            omitted.append(digest)
            continue
        try:
            data = runtime.store.get_blob(digest)
        except BlobMissingError:
            missing.append(digest)
            continue
        if len(data) > budget and blobs:
            omitted.append(digest)
            continue
        budget -= len(data)
        blobs[digest] = base64.b64encode(data).decode()
    return BlobsOut(blobs=blobs, missing=missing, omitted=omitted)
