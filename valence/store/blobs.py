"""The store's large blobs: where they live, and how a write stages them.

Small values (at most :data:`INLINE_LIMIT` bytes) stay inline in the ``blobs``
table. Large ones go to the store's :class:`~valence.blobfiles.BlobFiles`: a
directory (the default), any fsspec URL (see :mod:`valence.blobfiles`, shared
with task workers), or with ``db://`` the ``blob_data`` table of the store's
own database. A ``blobs`` row with ``location = "file"`` names a large blob
wherever the store keeps them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy import Engine, delete, select

from valence.blobfiles import (
    DATABASE_URL,
    INLINE_LIMIT,
    BlobFiles,
    LocalBlobFiles,
    check_digest,
    corrupt,
    digest_of,
    is_digest,
    open_blob_files,
)
from valence.errors import StoreError
from valence.store.connect import WRITE_OPTION, describe
from valence.store.tables import blob_data

__all__ = [
    "DATABASE_URL",
    "INLINE_LIMIT",
    "BlobFiles",
    "DatabaseBlobFiles",
    "LocalBlobFiles",
    "check_digest",
    "corrupt",
    "digest_of",
    "is_digest",
    "open_blob_files",
    "open_store_blobs",
    "stage_blobs",
]


class DatabaseBlobFiles(BlobFiles):
    """Large blobs in the ``blob_data`` table of the store's database (``db://``).

    A write replaces the row (an upsert, so concurrent writers of one digest
    agree); workers never write here themselves: their outputs travel back.
    """

    shareable = False

    def __init__(self, engine: Engine) -> None:
        super().__init__(DATABASE_URL)
        self._engine = engine
        self._writer = engine.execution_options(**{WRITE_OPTION: True})
        self._where = describe(engine.url)

    def describe(self, digest: str) -> str:
        return f"the blob_data row {digest} in {self._where}"

    def _fetch(self, digest: str) -> tuple[bytes, Any]:
        query = select(blob_data.c.data).where(blob_data.c.digest == digest)
        with self._engine.connect() as conn:
            data = conn.execute(query).scalar()
        if data is None:
            raise FileNotFoundError(digest)
        return bytes(data), None

    def _identity(self, digest: str) -> Any:
        query = select(blob_data.c.digest).where(blob_data.c.digest == digest)
        with self._engine.connect() as conn:
            if conn.execute(query).first() is None:
                raise FileNotFoundError(digest)
        return None

    def _store(self, digest: str, data: bytes) -> Any:
        with self._writer.begin() as conn:
            conn.execute(_upsert(conn.dialect.name), {"digest": digest, "data": data})
        return None

    def delete(self, digest: str) -> None:
        with self._writer.begin() as conn:
            conn.execute(delete(blob_data).where(blob_data.c.digest == digest))

    def iterate(self) -> Iterator[str]:
        query = select(blob_data.c.digest).order_by(blob_data.c.digest)
        with self._engine.connect() as conn:
            yield from conn.execute(query).scalars()

    def token(self) -> str:
        return ""  # nothing to prove: workers never write here

    def _read_text(self, name: str) -> str:  # pragma: no cover - token() is overridden
        raise FileNotFoundError(name)

    def _create_text(self, name: str, text: str) -> None:  # pragma: no cover - idem
        raise StoreError("the database blob store keeps no files")


def _upsert(dialect_name: str) -> Any:
    if dialect_name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect_name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    else:
        raise StoreError(f"db:// blobs need PostgreSQL or SQLite, not {dialect_name}")
    statement = insert(blob_data)
    return statement.on_conflict_do_update(
        index_elements=[blob_data.c.digest], set_={"data": statement.excluded.data}
    )


def open_store_blobs(location: str | os.PathLike[str], engine: Engine) -> BlobFiles:
    """The large-blob store at ``location`` (``db://``: in ``engine``'s database)."""
    if os.fspath(location) == DATABASE_URL:
        return DatabaseBlobFiles(engine)
    return open_blob_files(location)


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
