"""Content-addressed blob files: ``<root>/ab/cdef…`` named by the sha256 of their bytes.

Files are write-once: writing a digest that is already on disk does nothing.
A new file is written to a private temporary file in the same directory and
moved into place with :func:`os.replace`, so readers never see a partial file
and two writers of the same bytes cannot corrupt each other. Directories are
created with mode 0700 and files with mode 0600. There is no fsync per file:
like the database (``synchronous=NORMAL``), a blob survives a crash of the
process, not necessarily a power cut.

Every read checks the bytes against their digest (:class:`BlobCorruptError` on a
mismatch); a file already checked in this process is not hashed again while its
inode, size and modification time stay the same. A write over a file of the
right size that no longer matches its digest replaces it, so re-running the
task that produced a damaged blob repairs it.

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

from valence.errors import BlobCorruptError, BlobMissingError

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
        self._checked: dict[str, tuple[int, int, int]] = {}  # digest -> identity when intact

    def path(self, digest: str) -> Path:
        """Where the blob ``digest`` lives (whether or not it exists)."""
        check_digest(digest)
        return self.root / digest[:2] / digest[2:]

    def exists(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def write(self, digest: str, data: bytes) -> None:
        """Store ``data`` under ``digest`` atomically; no-op if already present intact.

        A present file of the wrong size or content (damaged) is replaced.
        """
        target = self.path(digest)
        try:
            if self._intact(digest, target, len(data)):
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

    def _intact(self, digest: str, target: Path, size: int) -> bool:
        stat = target.stat()
        if stat.st_size != size:
            return False
        if self._checked.get(digest) == _identity(stat):
            return True
        return self._check(digest, target.read_bytes(), stat)

    def _check(self, digest: str, data: bytes, stat: os.stat_result) -> bool:
        """Whether ``data`` (read from the file with ``stat``) matches; remembered if so."""
        if digest_of(data) != digest:
            return False
        self._checked[digest] = _identity(stat)
        return True

    def read(self, digest: str, size: int | None = None) -> bytes:
        """The bytes of ``digest``; BlobMissingError if absent, BlobCorruptError if damaged."""
        target = self.path(digest)
        try:
            with open(target, "rb") as fh:
                stat = os.fstat(fh.fileno())
                data = fh.read()
        except FileNotFoundError:
            raise BlobMissingError(
                f"blob {digest} is recorded in the database but its file {target} is missing; "
                "the blob directory was moved or pruned by hand"
            ) from None
        if (size is not None and len(data) != size) or (
            self._checked.get(digest) != _identity(stat) and not self._check(digest, data, stat)
        ):
            raise corrupt(digest, f"its file {target} ({len(data)} bytes)")
        return data

    def verify(self, digest: str, size: int | None = None) -> str | None:
        """None if the file of ``digest`` is intact, else "missing" or "damaged" (full check)."""
        self._checked.pop(digest, None)
        try:
            self.read(digest, size)
        except BlobCorruptError:
            return "damaged"
        except BlobMissingError:
            return "missing"
        return None

    def delete(self, digest: str) -> None:
        """Remove the file of ``digest`` if present."""
        self.path(digest).unlink(missing_ok=True)


def _identity(stat: os.stat_result) -> tuple[int, int, int]:
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)


def corrupt(digest: str, where: str) -> BlobCorruptError:
    """The error for a blob whose bytes no longer match ``digest``."""
    return BlobCorruptError(
        f"blob {digest} is damaged: {where} no longer matches its sha256. Re-run the task "
        "that produced it (redispatch with force_rerun, or reuse_previous_results=True, which "
        "re-runs it) to rewrite it; `valence fsck` lists every damaged blob and what uses it"
    )


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
