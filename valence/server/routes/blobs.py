"""Stored values by digest: one at a time, or a batch in one request."""

from __future__ import annotations

import base64
import contextlib
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import Response

from valence.errors import BlobMissingError
from valence.server.errors import RequestError
from valence.server.params import RuntimeDep
from valence.store import Store
from valence.store.blobs import is_digest
from valence.wire import BLOBS_MEDIA_TYPE, PICKLE_MEDIA_TYPE, BlobsIn, BlobsOut, pack_blobs

router = APIRouter(tags=["blobs"])

BATCH_BYTES = 32 * 1024 * 1024
READ_CHUNK = 256  # blobs read per query


def _check(digest: str) -> str:
    if not is_digest(digest):
        raise RequestError(422, f"{digest!r} is not a blob digest (64 lowercase hex digits)")
    return digest


@router.get("/blobs/{digest}", response_class=Response)
def get_blob(digest: str, runtime: RuntimeDep) -> Response:
    """The serialized bytes of a stored value (``serialize.loads`` reads them)."""
    return Response(runtime.store.get_blob(_check(digest)), media_type=PICKLE_MEDIA_TYPE)


@router.post(
    "/blobs/batch",
    response_model=BlobsOut,
    responses={200: {"content": {BLOBS_MEDIA_TYPE: {}}}},
)
def get_blobs(
    request: BlobsIn,
    runtime: RuntimeDep,
    accept: Annotated[str | None, Header()] = None,
) -> BlobsOut | Response:
    """Several values at once, up to about 32 MiB; the rest are listed as omitted.

    As JSON (base64 values), or with ``Accept: application/vnd.valence.blobs`` as
    framed bytes (a 4-byte length, a JSON header of digests and sizes, the values).
    """
    wanted = list(dict.fromkeys(_check(d) for d in request.digests))
    blobs, missing, omitted = read_batch(runtime.store, wanted, BATCH_BYTES)
    if accept is not None and BLOBS_MEDIA_TYPE in accept:
        return Response(pack_blobs(blobs, missing, omitted), media_type=BLOBS_MEDIA_TYPE)
    encoded = {digest: base64.b64encode(data).decode() for digest, data in blobs.items()}
    return BlobsOut(blobs=encoded, missing=missing, omitted=omitted)


def read_batch(
    store: Store, wanted: list[str], budget: int
) -> tuple[dict[str, bytes], list[str], list[str]]:
    """``(found, missing, omitted)``: the blobs that fit in ``budget`` bytes (at least one),
    read a few hundred per query."""
    stored = store.stored_digests(wanted)
    missing = [digest for digest in wanted if digest not in stored]
    present = [digest for digest in wanted if digest in stored]
    found: dict[str, bytes] = {}
    omitted: list[str] = []
    for start in range(0, len(present), READ_CHUNK):
        chunk = present[start : start + READ_CHUNK]
        if budget <= 0:
            omitted.extend(chunk)
            continue
        for digest, data in _read(store, chunk).items():
            if data is None:
                missing.append(digest)
            elif budget <= 0 or (len(data) > budget and found):
                omitted.append(digest)
            else:
                budget -= len(data)
                found[digest] = data
    return found, missing, omitted


def _read(store: Store, digests: list[str]) -> dict[str, bytes | None]:
    """The blobs of ``digests`` in order; None for one deleted since it was listed."""
    try:
        read = store.get_blobs(digests)
    except BlobMissingError:  # collected meanwhile: read one by one to tell which
        read = {}
        for digest in digests:
            with contextlib.suppress(BlobMissingError):
                read[digest] = store.get_blob(digest)
    return {digest: read.get(digest) for digest in digests}
