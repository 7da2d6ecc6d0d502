"""What a task key sees of a file it reads: its content.

Local files are hashed (sha256) by content; the digest is cached by path,
device, inode, size, mtime and ctime (nanoseconds), and a file modified in the
last two seconds is hashed again every time (a write within the clock's
granularity must not hide behind an unchanged mtime). Folders are hashed as
the sorted list of their relative paths and file digests.

Remote sources: an ``http(s)`` URL counts by its strong ``ETag`` when the server
gives one, else by the content it serves (downloaded and hashed, not kept);
an fsspec URL by content on local and in-memory file systems and by the file
system's checksum (e.g. S3's ETag) elsewhere. A source valence cannot check
(rsync over ssh, a custom strategy, a missing file) makes the task not
reusable, with that reason.

``tracking()`` tells the caller whether any file was read while it was open:
a dispatch whose keys depend on files is never reused by the shortcut that
skips recomputing keys.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from valence.errors import FileTransferError
from valence.fingerprint import Unhashable
from valence.fs.file import File

__all__ = ["file_digest", "note_read", "source_token", "tracking"]

_CHUNK = 1 << 20
_RACY_SECONDS = 2.0
_cache: dict[tuple[str, int, int], tuple[int, int, int, str]] = {}
_lock = threading.Lock()
_seen: ContextVar[list[str] | None] = ContextVar("valence_files_read", default=None)


@contextmanager
def tracking() -> Iterator[list[str]]:
    """Collect the URIs whose content tokens are computed inside the block."""
    seen: list[str] = []
    token = _seen.set(seen)
    try:
        yield seen
    finally:
        _seen.reset(token)


def note_read(uri: str) -> None:
    """Record that a key depends on something read from outside the stored workflow."""
    seen = _seen.get()
    if seen is not None:
        seen.append(uri)


def file_digest(path: str) -> str:
    """sha256 of a local file's content, cached while its size and times are unchanged."""
    note_read(path)
    st = os.stat(path)
    ident = (os.path.abspath(path), st.st_dev, st.st_ino)
    stamp = (st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    with _lock:
        cached = _cache.get(ident)
    if cached is not None and cached[:3] == stamp:
        return cached[3]
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            sha.update(chunk)
    digest = sha.hexdigest()
    if time.time() - st.st_mtime_ns / 1e9 > _RACY_SECONDS:
        with _lock:
            _cache[ident] = (*stamp, digest)
    return digest


def tree_digest(root: str) -> str:
    """sha256 over a folder's relative paths and file digests, in sorted order."""
    entries = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        rel = os.path.relpath(folder, root)
        entries.append(("d", rel))
        entries.extend(
            ("f", os.path.join(rel, n), file_digest(os.path.join(folder, n))) for n in sorted(files)
        )
    return hashlib.sha256(repr(entries).encode()).hexdigest()


def _local_token(file: File) -> list[Any]:
    path = file.filepath
    if os.path.isdir(path):
        return ["tree", tree_digest(path)]
    if os.path.isfile(path):
        return ["sha256", file_digest(path)]
    raise Unhashable(
        f"the task reads {path}, which does not exist when the workflow is dispatched "
        "(a file written during the run cannot be checked, so the task is not reused)"
    )


def source_token(file: File, strategy: Any) -> list[Any]:
    """The content token of a file a task reads before it runs."""
    if file.is_temp_file:
        return ["temp"]
    note_read(file.uri)
    from valence.fs.strategies import HTTP, FSSpec, Rsync, Shutil

    if not file.is_remote and isinstance(strategy, (Shutil, Rsync, FSSpec)):
        return _local_token(file)
    if isinstance(strategy, HTTP) and file.scheme in ("http", "https"):
        return _http_token(file, strategy)
    if isinstance(strategy, FSSpec):
        return _fsspec_token(file, strategy)
    raise Unhashable(
        f"the task reads {file.uri} through {type(strategy).__name__}, whose content valence "
        "cannot check when the workflow is dispatched"
    )


def _http_token(file: File, strategy: Any) -> list[Any]:
    import urllib.request

    from valence.fs.strategies.http import _open, read_all

    try:
        with _open(urllib.request.Request(file.uri, method="HEAD"), strategy.timeout) as head:
            etag = head.headers.get("ETag") or ""
        if etag and not etag.startswith("W/"):
            return ["etag", etag]
        sha = hashlib.sha256()
        with _open(urllib.request.Request(file.uri), strategy.timeout) as response:
            for chunk in read_all(response, file.uri):
                sha.update(chunk)
        return ["sha256", sha.hexdigest()]
    except FileTransferError as exc:
        raise Unhashable(f"cannot read {file.uri} to check its content: {exc}") from None


def _fsspec_token(file: File, strategy: Any) -> list[Any]:
    from valence.fs.strategies.fsspec import filesystem

    try:
        fs, path = filesystem(file, strategy.storage_options)
        protocols = {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)
        if protocols & {"file", "local", "memory"}:
            paths = sorted(fs.find(path)) if file.is_dir else [path]
            parts = [(p, hashlib.sha256(fs.cat_file(p)).hexdigest()) for p in paths]
            return ["content", parts]
        return ["checksum", sorted(protocols), fs.checksum(path)]
    except (FileTransferError, OSError) as exc:
        raise Unhashable(f"cannot read {file.uri} to check its content: {exc}") from None
