"""Content-addressed blob files: ``<root>/ab/cdef…`` named by the sha256 of their bytes.

Files are write-once: writing a digest that is already on disk does nothing.
A new file is written to a private temporary file in the same directory and
moved into place with :func:`os.replace`, so readers never see a partial file
and two writers of the same bytes cannot corrupt each other. Directories are
created with mode 0700 and files with mode 0600. There is no fsync per file:
like the database (``synchronous=NORMAL``), a blob survives a crash of the
process, not necessarily a power cut.

Small values never come here; the store keeps them inline in its ``blobs`` table.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from valence.errors import BlobMissingError

INLINE_LIMIT = 8 * 1024
"""Values of at most this many bytes are stored inline in the database."""

_DIGEST = re.compile(r"[0-9a-f]{64}\Z")


def digest_of(data: bytes) -> str:
    """The blob id of ``data``: its sha256 as 64 lowercase hex digits."""
    return hashlib.sha256(data).hexdigest()


def is_digest(value: object) -> bool:
    """Whether ``value`` is shaped like a blob id."""
    return isinstance(value, str) and len(value) == 64 and _DIGEST.match(value) is not None


def check_digest(digest: str) -> str:
    """Return ``digest`` if it is a well-formed blob id, else raise ValueError."""
    if not is_digest(digest):
        raise ValueError(f"{digest!r} is not a blob digest (64 lowercase hex digits)")
    return digest


class BlobFiles:
    """The directory of large blobs, one file per digest."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        """Where the blob ``digest`` lives (whether or not it exists)."""
        check_digest(digest)
        return self.root / digest[:2] / digest[2:]

    def exists(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def write(self, digest: str, data: bytes) -> None:
        """Store ``data`` under ``digest`` atomically; no-op if already present.

        A present file of the wrong size (damaged) is replaced.
        """
        target = self.path(digest)
        try:
            if target.stat().st_size == len(data):
                return
        except FileNotFoundError:
            pass
        target.parent.mkdir(mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")  # mode 0600
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def read(self, digest: str, size: int | None = None) -> bytes:
        """The bytes of ``digest``; BlobMissingError if absent or truncated."""
        target = self.path(digest)
        try:
            data = target.read_bytes()
        except FileNotFoundError:
            raise BlobMissingError(
                f"blob {digest} is recorded in the database but its file {target} is missing; "
                "the blob directory was moved or pruned by hand"
            ) from None
        if size is not None and len(data) != size:
            raise BlobMissingError(
                f"blob {digest} at {target} has {len(data)} bytes, expected {size}: "
                "the file is damaged; remove it and re-run the dispatch that produced it"
            )
        return data

    def delete(self, digest: str) -> None:
        """Remove the file of ``digest`` if present."""
        self.path(digest).unlink(missing_ok=True)


def stage_blobs(files: BlobFiles, blobs: Mapping[str, bytes]) -> list[dict[str, Any]]:
    """Check each digest, write large blobs' files, and return rows for the blobs table.

    Every digest is checked before any file is written (ValueError on a mismatch).
    """
    for digest, data in blobs.items():
        if digest_of(data) != digest:
            raise ValueError(f"blob given as {digest!r} has sha256 {digest_of(data)}")
    rows = []
    for digest, data in blobs.items():
        size = len(data)
        if size <= INLINE_LIMIT:
            rows.append({"digest": digest, "size": size, "location": "inline", "data": data})
        else:
            files.write(digest, data)
            rows.append({"digest": digest, "size": size, "location": "file", "data": None})
    return rows
