"""Content-addressed blob files, named ``ab/cdef…`` by the sha256 of their bytes.

The one module the store (which records blobs) and task workers (which write
large outputs straight into the store) share. :func:`open_blob_files` turns a
location into a :class:`BlobFiles`:

- a path or a ``file://`` URL: :class:`LocalBlobFiles`, a directory;
- ``db://``: the store's own database (built by ``valence.store``, not here);
- any other fsspec URL (``s3://bucket/prefix``, ``gs://...``, ``memory://...``):
  :class:`FsspecBlobFiles`.

Every kind is write-once in effect (a digest names one content), checks the
bytes against their digest on every read (:class:`BlobCorruptError`), and lets
a write over a damaged or lost blob repair it. The local directory adds:
private temporary file then :func:`os.replace` (readers never see a partial
file), modes 0700/0600, no re-hash of a file already checked while its inode,
size and modification time stay the same. There is no fsync per file: like the
database (``synchronous=NORMAL``), a blob survives a crash of the process, not
necessarily a power cut. On an object store (s3, gs, memory, ...) one put is
atomic; on other fsspec file systems a blob is written to a temporary name and
moved into place. Access control there is the bucket's or server's.

A store's location holds a token file (``.valence-store-id``, random, made
once): a worker writes into a location only if it reads the token the store
gave it, which proves both see the same files (a ``memory://`` URL in another
process, or a path on another machine, is a different store).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import tempfile
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from stat import S_ISREG
from typing import Any
from urllib.parse import urlsplit

from valence.errors import BlobCorruptError, BlobMissingError, ConfigError, StoreError

__all__ = [
    "INLINE_LIMIT",
    "TOKEN_FILE",
    "BlobFiles",
    "FsspecBlobFiles",
    "LocalBlobFiles",
    "check_digest",
    "corrupt",
    "digest_of",
    "is_digest",
    "open_blob_files",
]

INLINE_LIMIT = 8 * 1024
"""Values of at most this many bytes are stored inline in the database, never here."""

TOKEN_FILE = ".valence-store-id"
DATABASE_URL = "db://"
"""The blob location that keeps large blobs in the store's own database."""

_DIGEST = re.compile(r"[0-9a-f]{64}\Z")
_OBJECT_STORES = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oci", "oss", "memory"}


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


def blob_name(digest: str) -> str:
    """Where ``digest`` lives below the root: ``ab/cdef…``."""
    check_digest(digest)
    return f"{digest[:2]}/{digest[2:]}"


def corrupt(digest: str, where: str) -> BlobCorruptError:
    """The error for a blob whose bytes no longer match ``digest``."""
    return BlobCorruptError(
        f"blob {digest} is damaged: {where} no longer matches its sha256. Re-run the task "
        "that produced it (redispatch with force_rerun, or reuse_previous_results=True, which "
        "re-runs it) to rewrite it; `valence fsck` lists every damaged blob and what uses it"
    )


class BlobFiles(ABC):
    """Large blobs, one file (or object) per digest, below one location.

    Subclasses move bytes (``_fetch``, ``_store``, ...); this class checks
    digests and remembers which blobs it knows intact, by an identity the
    subclass gives (None: none cheap, so every write stores again).
    """

    shareable = True
    """Whether task workers may write here themselves (they need only the location)."""

    def __init__(self, location: str) -> None:
        self.location = location
        self._checked: dict[str, Any] = {}  # digest -> identity when last known intact

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location!r})"

    # -- what subclasses provide --------------------------------------------------

    @abstractmethod
    def describe(self, digest: str) -> str:
        """Where ``digest`` lives, for messages."""

    @abstractmethod
    def _fetch(self, digest: str) -> tuple[bytes, Any]:
        """The stored bytes and their identity; FileNotFoundError if absent."""

    @abstractmethod
    def _identity(self, digest: str) -> Any:
        """The identity of the stored blob now; FileNotFoundError if absent."""

    @abstractmethod
    def _store(self, digest: str, data: bytes) -> Any:
        """Put ``data`` in place atomically, replacing any copy; return its identity."""

    @abstractmethod
    def delete(self, digest: str) -> None:
        """Remove the blob ``digest`` if present."""

    @abstractmethod
    def iterate(self) -> Iterator[str]:
        """Every digest stored here (no temporary or token files)."""

    @abstractmethod
    def _read_text(self, name: str) -> str:
        """A small file below the root; FileNotFoundError if absent."""

    @abstractmethod
    def _create_text(self, name: str, text: str) -> None:
        """Create a small file below the root unless it exists (then keep it)."""

    # -- the blob API -------------------------------------------------------------

    def exists(self, digest: str) -> bool:
        """Whether a blob is stored under ``digest`` (intact or not)."""
        try:
            self._identity(check_digest(digest))
        except FileNotFoundError:
            return False
        return True

    def write(self, digest: str, data: bytes) -> None:
        """Store ``data`` under ``digest``; a no-op if already known intact.

        A present copy that is damaged (or unknown to this process, where
        checking it costs as much as writing) is replaced.
        """
        check_digest(digest)
        known = self._checked.get(digest)
        if known is not None:
            try:
                if self._identity(digest) == known:
                    return
            except FileNotFoundError:
                pass
        elif self._intact_on_disk(digest, len(data)):
            return
        self._checked.pop(digest, None)
        identity = self._store(digest, data)
        if identity is not None:
            self._checked[digest] = identity

    def _intact_on_disk(self, digest: str, size: int) -> bool:
        """Whether a copy is already in place intact, where checking is cheap (local)."""
        return False

    def read(self, digest: str, size: int | None = None) -> bytes:
        """The bytes of ``digest``; BlobMissingError if absent, BlobCorruptError if damaged."""
        check_digest(digest)
        try:
            data, identity = self._fetch(digest)
        except FileNotFoundError:
            raise BlobMissingError(
                f"blob {digest} is recorded in the database but its file "
                f"{self.describe(digest)} is missing; the blob store was moved, pruned by "
                "hand, or is not the one this database was used with (VALENCE_BLOB_URL)"
            ) from None
        trusted = identity is not None and self._checked.get(digest) == identity
        if (size is not None and len(data) != size) or not (
            trusted or self._check(digest, data, identity)
        ):
            self._checked.pop(digest, None)
            raise corrupt(digest, f"its file {self.describe(digest)} ({len(data)} bytes)")
        return data

    def _check(self, digest: str, data: bytes, identity: Any) -> bool:
        if digest_of(data) != digest:
            return False
        if identity is not None:
            self._checked[digest] = identity
        return True

    def remember(self, digest: str) -> None:
        """Note that ``digest`` was just read intact, so writing it again does nothing."""
        try:
            identity = self._identity(check_digest(digest))
        except FileNotFoundError:
            return
        if identity is not None:
            self._checked[digest] = identity

    def verify(self, digest: str, size: int | None = None) -> str | None:
        """None if the blob ``digest`` is intact, else "missing" or "damaged" (full check)."""
        self._checked.pop(digest, None)
        try:
            self.read(digest, size)
        except BlobCorruptError:
            return "damaged"
        except BlobMissingError:
            return "missing"
        return None

    # -- the token that proves a worker sees these very files -----------------------

    def token(self) -> str:
        """This store's token, made on first use: the start-up check that it is usable."""
        found = self.read_token()
        if found:
            return found
        self._create_text(TOKEN_FILE, secrets.token_hex(16))
        found = self.read_token()
        if not found:
            raise StoreError(f"the blob store {self.location} does not keep what is written to it")
        return found

    def read_token(self) -> str | None:
        """The token if one was made here, else None (nothing is created)."""
        try:
            return self._read_text(TOKEN_FILE).strip() or None
        except FileNotFoundError:
            return None


class LocalBlobFiles(BlobFiles):
    """A directory on this machine (the default: ``<VALENCE_HOME>/blobs``)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        super().__init__(str(self.root))

    def path(self, digest: str) -> Path:
        """Where the blob ``digest`` lives (whether or not it exists)."""
        return self.root / blob_name(digest)

    def describe(self, digest: str) -> str:
        return str(self.path(digest))

    def _fetch(self, digest: str) -> tuple[bytes, Any]:
        with open(self.path(digest), "rb") as fh:
            stat = os.fstat(fh.fileno())
            return fh.read(), _stat_identity(stat)

    def _identity(self, digest: str) -> Any:
        stat = self.path(digest).stat()
        if not S_ISREG(stat.st_mode):
            raise FileNotFoundError(self.path(digest))
        return _stat_identity(stat)

    def _intact_on_disk(self, digest: str, size: int) -> bool:
        try:
            data, identity = self._fetch(digest)
        except FileNotFoundError:
            return False
        return len(data) == size and self._check(digest, data, identity)

    def _store(self, digest: str, data: bytes) -> Any:
        target = self.path(digest)
        self._make_dir(target.parent)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")  # mode 0600
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                identity = _stat_identity(os.fstat(fh.fileno()))
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return identity

    def _make_dir(self, directory: Path) -> None:
        try:
            directory.mkdir(mode=0o700, exist_ok=True)
        except FileNotFoundError:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            directory.mkdir(mode=0o700, exist_ok=True)

    def delete(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)
        self._checked.pop(digest, None)

    def iterate(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for sub in sorted(self.root.iterdir()):
            if len(sub.name) == 2 and sub.is_dir():
                for file in sorted(sub.iterdir()):
                    if is_digest(sub.name + file.name):
                        yield sub.name + file.name

    def _read_text(self, name: str) -> str:
        return (self.root / name).read_text()

    def _create_text(self, name: str, text: str) -> None:
        self._make_dir(self.root)
        path = self.root / name
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-")  # mode 0600
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
            try:
                os.link(tmp, path)  # atomic, and never replaces what another process made
            except FileExistsError:
                pass
            except OSError:  # a file system without hard links
                if not path.exists():
                    os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)


def _stat_identity(stat: os.stat_result) -> tuple[int, int, int]:
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)


class FsspecBlobFiles(BlobFiles):
    """Blobs below a URL of any fsspec file system (``s3://bucket/prefix``, ...).

    ``fs`` and ``root`` may be given directly (tests); otherwise they come from the URL.
    """

    def __init__(self, url: str, fs: Any = None, root: str | None = None) -> None:
        super().__init__(url)
        if fs is None:
            fs, root = _filesystem(url)
        self.fs = fs
        self.root = (root or "").rstrip("/")
        protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
        self._atomic_put = bool(_OBJECT_STORES.intersection(protocols))

    def _key(self, name: str) -> str:
        return f"{self.root}/{name}"

    def describe(self, digest: str) -> str:
        return f"{self.location.rstrip('/')}/{blob_name(digest)}"

    def _fetch(self, digest: str) -> tuple[bytes, Any]:
        return self.fs.cat_file(self._key(blob_name(digest))), None

    def _identity(self, digest: str) -> Any:
        info = self.fs.info(self._key(blob_name(digest)))
        if info.get("type") == "directory":
            raise FileNotFoundError(self.describe(digest))
        return _info_identity(info)

    def _store(self, digest: str, data: bytes) -> Any:
        key = self._key(blob_name(digest))
        if self._atomic_put:
            self.fs.pipe_file(key, data)
        else:  # a file system: a whole temporary file, then one rename
            self.fs.makedirs(key.rsplit("/", 1)[0], exist_ok=True)
            tmp = f"{key.rsplit('/', 1)[0]}/.tmp-{secrets.token_hex(8)}"
            try:
                self.fs.pipe_file(tmp, data)
                self.fs.mv(tmp, key)
            except BaseException:
                if self.fs.exists(tmp):
                    self.fs.rm_file(tmp)
                raise
        return self._identity(digest)

    def delete(self, digest: str) -> None:
        self._checked.pop(digest, None)
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self._key(blob_name(digest)))

    def iterate(self) -> Iterator[str]:
        try:
            found = self.fs.find(self.root)
        except FileNotFoundError:
            return
        prefix = self.fs._strip_protocol(self.root).rstrip("/") + "/"
        for path in sorted(found):
            name = path[len(prefix) :] if path.startswith(prefix) else path
            digest = name.replace("/", "")
            if name.count("/") == 1 and is_digest(digest) and name[2] == "/":
                yield digest

    def _read_text(self, name: str) -> str:
        return bytes(self.fs.cat_file(self._key(name))).decode()

    def _create_text(self, name: str, text: str) -> None:
        # Two stores made at once may both write; each then reads the survivor back,
        # and a worker given the loser's token only sends its outputs back (safe).
        if not self.fs.exists(self._key(name)):
            if not self._atomic_put:
                self.fs.makedirs(self.root, exist_ok=True)
            self.fs.pipe_file(self._key(name), text.encode())


def _info_identity(info: dict[str, Any]) -> Any:
    for field in ("ETag", "etag", "md5Hash", "generation", "mtime", "LastModified", "created"):
        if info.get(field) is not None:
            return (info.get("size"), str(info[field]))
    return None


def _filesystem(url: str) -> tuple[Any, str]:
    """The fsspec file system and root path of ``url``; ConfigError if unusable."""
    try:
        import fsspec
    except ImportError:
        raise ConfigError(
            f"the blob store {url} needs fsspec: pip install 'valence[files]' "
            "(and the package for its protocol, e.g. s3fs or gcsfs)"
        ) from None
    try:
        fs, root = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise ConfigError(
            f"cannot use the blob store URL {url!r}: {exc}. Set VALENCE_BLOB_URL (or blobs.url "
            "in valence.toml) to a directory, a file:// URL or an fsspec URL whose "
            "protocol package is installed (s3:// needs s3fs, gs:// needs gcsfs)"
        ) from None
    return fs, root


_opened: dict[str, BlobFiles] = {}
_opened_lock = threading.Lock()


def open_blob_files(location: str | os.PathLike[str]) -> BlobFiles:
    """The blob files at ``location`` (a path, or a URL other than ``db://``), one per process.

    Opening does no I/O; :meth:`BlobFiles.token` is the check that it works.
    """
    text = os.fspath(location)
    found = _opened.get(text)
    if found is not None:
        return found
    scheme = urlsplit(text).scheme if "://" in text else ""
    if text == DATABASE_URL or scheme == "db":
        raise ConfigError(f"{text} names the store's database: open it with the store")
    if scheme == "file":
        parts = urlsplit(text)
        host = "" if parts.netloc in ("", "localhost") else parts.netloc
        files: BlobFiles = LocalBlobFiles(Path(host + parts.path).expanduser())
    elif scheme:
        files = FsspecBlobFiles(text)
    else:
        files = LocalBlobFiles(Path(text).expanduser())
    with _opened_lock:
        shared = _opened.setdefault(files.location, files)
        return _opened.setdefault(text, shared)
