"""Large outputs written by the worker straight into the store's blob location.

The dispatcher side (:func:`blob_target`) hands ``BlobTarget(location, token)``
to executors that declare ``writes_blobs``; the token is the store's
``.valence-store-id`` (see :mod:`valence.blobfiles`). The worker side
(:func:`store_output`) writes an output larger than the store's inline limit
there (content-addressed, by the same code as the store) only when it reads the
same token there, i.e. when it sees the very files the store uses (same
machine, a shared mount, the same bucket); it then drops the bytes from the
Outcome and sets ``output_stored``. Otherwise, or if the write fails (said on
the task's stderr), the bytes travel back as usual. The dispatcher reads a
stored output back with :func:`read_stored`, which checks its digest.

A store whose large blobs live in its database (``db://``) gives no target:
workers have no database connection, so their outputs travel back.
"""

from __future__ import annotations

import logging
import os
import threading

from valence.blobfiles import DATABASE_URL, INLINE_LIMIT, open_blob_files
from valence.errors import BlobCorruptError, BlobMissingError
from valence.executors.base import BlobTarget, Outcome, TaskSpec

__all__ = ["blob_target", "read_stored", "store_output"]

log = logging.getLogger("valence.executors")
_lock = threading.Lock()
_targets: dict[str, BlobTarget] = {}
_verified: dict[str, str] = {}  # location -> token this worker process found there


def blob_target(location: str | os.PathLike[str]) -> BlobTarget | None:
    """The target for the store's blob ``location``; None if workers cannot write there."""
    key = os.fspath(location)
    if key == DATABASE_URL:
        return None
    target = _targets.get(key)
    if target is None:
        with _lock:
            target = _targets.get(key) or BlobTarget(key, open_blob_files(key).token())
            _targets[key] = target
    return target


def _reachable(target: BlobTarget) -> bool:
    if _verified.get(target.location) == target.token:
        return True
    try:
        found = open_blob_files(target.location).read_token()
    except Exception:  # another machine's path, a bucket this worker cannot read, ...
        log.debug("blob store %s not reachable from this worker", target.location, exc_info=True)
        return False
    if found is not None:
        _verified[target.location] = found
    return found == target.token


def store_output(spec: TaskSpec, outcome: Outcome) -> None:
    """Move a large output of ``outcome`` into the store's blob location, if reachable."""
    target = spec.blob_target
    data = outcome.output_bytes
    if target is None or data is None or len(data) <= INLINE_LIMIT or not _reachable(target):
        return
    assert outcome.output_digest is not None
    try:
        open_blob_files(target.location).write(outcome.output_digest, data)
    except Exception as exc:  # a full disk, a network error: the bytes travel back instead
        outcome.stderr += (
            f"valence: could not write the output to the blob store {target.location} "
            f"({type(exc).__name__}: {exc}); it was sent back to the dispatcher instead\n"
        )
        return
    outcome.output_bytes = None
    outcome.output_stored = True


def read_stored(location: str | os.PathLike[str], digest: str) -> bytes:
    """The bytes a worker stored under ``digest``; BlobMissingError if absent or altered.

    The blob is remembered as intact, so recording it does not write it again.
    """
    files = open_blob_files(location)
    try:
        data = files.read(digest)  # checks the digest
    except BlobCorruptError:
        raise BlobMissingError(
            f"the output a worker wrote as blob {digest} does not match its digest; "
            f"the blob store {files.location} is shared inconsistently between machines"
        ) from None
    files.remember(digest)
    return data
