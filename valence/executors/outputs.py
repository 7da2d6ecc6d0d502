"""Large outputs written by the worker straight into the store's blob directory.

The dispatcher side (:func:`blob_target`) puts a random token in
``<blob_dir>/.valence-store-id`` once and hands ``BlobTarget(blob_dir, token)``
to executors that declare ``writes_blobs``. The worker side
(:func:`store_output`) writes an output larger than the store's inline limit
into that directory (content-addressed, atomic, mode 0600: the store's own
layout) only when it reads the same token there, i.e. when it sees the very
directory the store uses (same machine or a shared mount); it then drops the
bytes from the Outcome and sets ``output_stored``. Otherwise the bytes travel
back as usual. The dispatcher reads a stored output back with
:func:`read_stored`, which checks its digest.
"""

from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path

from valence.errors import BlobCorruptError, BlobMissingError
from valence.executors.base import BlobTarget, Outcome, TaskSpec
from valence.store.blobs import INLINE_LIMIT, BlobFiles

__all__ = ["TOKEN_FILE", "blob_target", "read_stored", "store_output"]

TOKEN_FILE = ".valence-store-id"

_lock = threading.Lock()
_targets: dict[str, BlobTarget] = {}
_verified: dict[str, str] = {}  # path -> token this worker process found there


def blob_target(blob_dir: str | os.PathLike[str]) -> BlobTarget:
    """The target for ``blob_dir``, creating its token file on first use."""
    key = str(blob_dir)
    target = _targets.get(key)
    if target is None:
        with _lock:
            target = _targets.get(key) or BlobTarget(key, _ensure_token(Path(key)))
            _targets[key] = target
    return target


def _ensure_token(root: Path) -> str:
    path = root / TOKEN_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = root / f".{TOKEN_FILE}.{os.getpid()}.tmp"
    tmp.write_text(secrets.token_hex(16))
    tmp.chmod(0o600)
    try:
        os.link(tmp, path)  # atomic and refuses to replace a token another process wrote
    except FileExistsError:
        pass
    except OSError:  # a filesystem without hard links
        if not path.exists():
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text().strip()


def _reachable(target: BlobTarget) -> bool:
    if _verified.get(target.path) == target.token:
        return True
    try:
        found = (Path(target.path) / TOKEN_FILE).read_text().strip()
    except OSError:
        return False
    _verified[target.path] = found
    return found == target.token


def store_output(spec: TaskSpec, outcome: Outcome) -> None:
    """Move a large output of ``outcome`` into the store's blob directory, if reachable."""
    target = spec.blob_target
    data = outcome.output_bytes
    if target is None or data is None or len(data) <= INLINE_LIMIT or not _reachable(target):
        return
    assert outcome.output_digest is not None
    BlobFiles(Path(target.path)).write(outcome.output_digest, data)
    outcome.output_bytes = None
    outcome.output_stored = True


def read_stored(blob_dir: str | os.PathLike[str], digest: str) -> bytes:
    """The bytes a worker stored under ``digest``; BlobMissingError if absent or altered."""
    try:
        return BlobFiles(Path(blob_dir)).read(digest)  # checks the digest
    except BlobCorruptError:
        raise BlobMissingError(
            f"the output a worker wrote as blob {digest} does not match its digest; "
            "the blob directory is shared inconsistently between machines"
        ) from None
